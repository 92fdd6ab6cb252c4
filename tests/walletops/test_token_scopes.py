"""A token never does more than the people behind it: when it is issued, and at every use."""

from http import HTTPStatus
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command

from opsportal.api.models import ApiToken
from opsportal.api.tokens import api_token_create
from walletops.models import RestartAudit

pytestmark = pytest.mark.django_db
ADD = "/admin/opsapi/apitoken/add/"
RESTART = "containers:restart"
BOTH = ["read", RESTART]
URL = "/api/v1/admin/ops/containers"
WORKER = "wallet-core-production-worker-def5678"


def _staff(username: str, *perms: str, **fields) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True, **fields)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return User.objects.get(pk=user.pk)  # a fresh permission cache


def _issuer_client(client, user):
    client.force_login(user)
    return client


def _bearer(api_client, secret):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


# --- Issuing, in the admin ------------------------------------------------------------------------


def test_a_restart_token_needs_the_restart_permission_of_its_issuer(client):
    """The report: a staff user with only add_apitoken issued a restart token owned by someone else."""
    other = _staff("victim", "walletops.restart_container")
    clerk = _issuer_client(client, _staff("clerk", "opsapi.add_apitoken"))
    response = clerk.post(ADD, {"name": "sneaky", "scope_choices": ["containers:restart"], "owner": other.pk})
    assert response.status_code == HTTPStatus.OK  # the form again, with the error
    assert not ApiToken.objects.exists()
    errors = " ".join(response.context["adminform"].form.errors["scope_choices"])
    assert "'containers:restart' scope cannot be granted: your account lacks walletops.restart_container" in errors
    assert "cannot be granted" in response.content.decode()


def test_without_manage_all_tokens_the_owner_is_the_issuer_whatever_the_post_says(client):
    other = _staff("victim", "walletops.restart_container")
    clerk = _staff("clerk", "opsapi.add_apitoken")
    page = _issuer_client(client, clerk).get(ADD)
    assert 'name="owner"' not in page.content.decode()  # no owner field to choose from
    response = client.post(ADD, {"name": "mine", "scope_choices": ["read"], "owner": other.pk})
    assert response.status_code == HTTPStatus.FOUND, response.content
    token = ApiToken.objects.get(name="mine")
    assert (token.owner, token.created_by, token.scope_list) == (clerk, clerk, ["read"])


def test_an_issuer_with_the_restart_permission_issues_a_restart_token_for_themselves(client):
    deployer = _staff("deployer", "opsapi.add_apitoken", "walletops.restart_container")
    response = _issuer_client(client, deployer).post(
        ADD, {"name": "ci", "scope_choices": ["read", "containers:restart"]}, follow=True
    )
    assert response.status_code == HTTPStatus.OK and "secret" in response.context
    token = ApiToken.objects.get(name="ci")
    assert (token.owner, token.created_by, token.scope_list) == (deployer, deployer, ["read", "containers:restart"])
    assert 'owned by <strong id="token-owner">deployer</strong>, issued by deployer' in response.content.decode()


def test_a_token_manager_issues_for_others_within_the_owners_rights(client):
    manager = _staff("lead", "opsapi.add_apitoken", "walletops.restart_container", "opsapi.manage_all_tokens")
    allowed, reader = _staff("ops", "walletops.restart_container"), _staff("intern")
    lead = _issuer_client(client, manager)
    assert 'name="owner"' in lead.get(ADD).content.decode()
    assert lead.post(ADD, {"name": "for-ops", "scope_choices": [RESTART], "owner": allowed.pk}).status_code == 302
    token = ApiToken.objects.get(name="for-ops")
    assert (token.owner, token.created_by) == (allowed, manager)
    refused = lead.post(ADD, {"name": "for-intern", "scope_choices": BOTH, "owner": reader.pk})
    assert "the owner intern lacks walletops.restart_container" in refused.content.decode()
    assert not ApiToken.objects.filter(name="for-intern").exists()
    inactive = User.objects.create_user("gone", is_staff=True, is_active=False)
    refused = lead.post(ADD, {"name": "for-gone", "scope_choices": ["read"], "owner": inactive.pk})
    assert "the owner gone is deactivated" in refused.content.decode()
    assert lead.post(ADD, {"name": "for-intern", "scope_choices": ["read"], "owner": reader.pk}).status_code == 302


def test_without_manage_all_tokens_one_lists_and_revokes_only_ones_own_tokens(client):
    clerk = _staff("clerk", "opsapi.add_apitoken", "opsapi.view_apitoken", "opsapi.delete_apitoken")
    api_token_create(name="mine", scopes=["read"], owner=clerk)
    theirs = api_token_create(name="theirs", scopes=["read"], owner=_staff("other")).token
    page = _issuer_client(client, clerk).get("/admin/opsapi/apitoken/")
    assert "mine" in page.content.decode() and "theirs" not in page.content.decode()
    client.post("/admin/opsapi/apitoken/", {"action": "revoke", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


# --- Issuing, on the command line ---------------------------------------------------------------


def test_the_command_checks_the_owners_rights_and_records_the_issuer():
    _staff("viewer")
    with pytest.raises(CommandError, match="the owner viewer lacks walletops.restart_container"):
        call_command("create_api_token", "--name", "x", "--scopes", "restart", "--user", "viewer",
                     stdout=StringIO(), stderr=StringIO())  # fmt: skip
    assert not ApiToken.objects.exists()
    deployer = _staff("deployer", "walletops.restart_container")
    _staff("clerk", "walletops.restart_container")
    with pytest.raises(CommandError, match="opsapi.manage_all_tokens; the issuer clerk lacks it"):
        call_command("create_api_token", "--name", "ci", "--scopes", "read,restart", "--user", "deployer",
                     "--issued-by", "clerk", stdout=StringIO(), stderr=StringIO())  # fmt: skip
    lead = _staff("lead", "walletops.restart_container", "opsapi.manage_all_tokens")
    call_command("create_api_token", "--name", "ci", "--scopes", "read,restart", "--user", "deployer",
                 "--issued-by", "lead", stdout=StringIO(), stderr=StringIO())  # fmt: skip
    token = ApiToken.objects.get(name="ci")
    assert (token.owner, token.created_by, token.scope_list) == (deployer, lead, ["read", "containers:restart"])
    with pytest.raises(CommandError, match="is deactivated"):
        User.objects.create_user("gone", is_staff=True, is_active=False)
        call_command("create_api_token", "--name", "y", "--user", "gone", stdout=StringIO(), stderr=StringIO())


# --- Using -----------------------------------------------------------------------------------------


def test_the_audit_names_the_token_its_owner_and_its_issuer(api_client, client, fleet_settings):
    lead = _staff("lead", "opsapi.add_apitoken", "walletops.restart_container", "opsapi.manage_all_tokens")
    deployer = _staff("deployer", "walletops.restart_container")
    page = _issuer_client(client, lead).post(ADD, {"name": "ci", "scope_choices": ["read", "containers:restart"],
                                                    "owner": deployer.pk}, follow=True)  # fmt: skip
    response = _bearer(api_client, page.context["secret"]).post(f"{URL}/{WORKER}/restart", {"timeout": 0},
                                                                   format="json")  # fmt: skip
    assert response.status_code == HTTPStatus.OK, response.content
    audit = RestartAudit.objects.get()
    assert (audit.outcome, audit.actor, audit.token_name, audit.token_owner, audit.token_issued_by) == (
        "restarted", "deployer", "ci", "deployer", "lead",
    )  # fmt: skip
    container_page = client.get(f"/admin/ops/containers/{WORKER}/").content.decode()
    assert "ci (owner deployer, issued by lead)" in container_page


def test_a_restart_token_without_read_is_refused_everywhere_and_its_restart_audited(api_client):
    owner = _staff("deployer", "walletops.restart_container")
    client = _bearer(api_client, api_token_create(name="w", scopes=["restart"], owner=owner).secret)
    assert client.get(URL).status_code == HTTPStatus.FORBIDDEN
    response = client.post(f"{URL}/{WORKER}/restart")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {"code": "forbidden", "detail": "this token lacks the 'read' scope"}
    audit = RestartAudit.objects.get()
    assert (audit.outcome, audit.token_name, audit.detail) == ("refused", "w", "this token lacks the 'read' scope")


def test_an_owner_who_loses_the_restart_permission_takes_it_from_the_token(api_client, fleet_settings):
    owner = _staff("deployer", "walletops.restart_container")
    client = _bearer(api_client, api_token_create(name="ci", scopes=["read", "restart"], owner=owner).secret)
    assert client.post(f"{URL}/{WORKER}/restart", {"timeout": 0}, format="json").status_code == HTTPStatus.OK
    owner.user_permissions.clear()
    response = client.post(f"{URL}/{WORKER}/restart", {"timeout": 0}, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "owner deployer lacks walletops.restart_container" in response.json()["detail"]
    assert client.get(URL).status_code == HTTPStatus.OK  # reading needs no more than staff
    assert list(RestartAudit.objects.order_by("pk").values_list("outcome", flat=True)) == ["restarted", "refused"]


@pytest.mark.parametrize("change", [{"is_active": False}, {"is_staff": False}])
def test_a_deactivated_or_unstaffed_owner_disables_the_token_and_a_restart_is_audited(api_client, change):
    owner = _staff("deployer", "walletops.restart_container")
    client = _bearer(api_client, api_token_create(name="ci", scopes=["read", "restart"], owner=owner).secret)
    User.objects.filter(pk=owner.pk).update(**change)
    listing = client.get(URL)
    assert listing.status_code == HTTPStatus.UNAUTHORIZED
    assert listing.json()["detail"].startswith("this token's owner deployer is")
    response = client.post(f"{URL}/{WORKER}/restart", {"timeout": 0}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    audit = RestartAudit.objects.get()
    assert (audit.outcome, audit.container, audit.token_owner) == ("refused", WORKER, "deployer")
    assert audit.detail == response.json()["detail"]


def test_deleting_a_user_revokes_their_tokens_instead_of_leaving_ownerless_machine_tokens():
    """``owner`` is SET_NULL (the ledger keeps its rows): a deleted person's live tokens became machine
    tokens that no owner's rights limit. They are revoked first, on the record."""
    from opsportal.api import services as wallet_services
    from opsportal.api.tokens import api_token_authenticate
    from opsportal.audit.models import AuditEvent
    from opsportal.audit.services import Actor

    user = User.objects.create_user("leaver", is_staff=True)
    issued = wallet_services.token_issue(actor=Actor.portal(user), name="leaver-read", scopes=["read"], owner=user)
    user.delete()
    token = ApiToken.objects.get(name="leaver-read")
    assert token.owner is None and token.revoked_at is not None
    assert api_token_authenticate(issued.secret) is None
    row = AuditEvent.objects.filter(action="token.revoke").latest("id")
    assert row.actor == "deletion of user leaver" and row.changed == 1
