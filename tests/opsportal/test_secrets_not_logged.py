"""Secrets never reach the logs: Bearer tokens, the x-ops-token, a token's secret at creation."""

import logging

import pytest

pytestmark = pytest.mark.django_db
OPS_TOKEN = "ops-token-that-must-not-be-logged-42"


@pytest.fixture
def every_log_line(caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level: the strictest place to look
    return caplog


def test_request_credentials_are_never_logged(api_client, settings, token_for, every_log_line, tmp_path):
    settings.OPS_TOKEN = OPS_TOKEN
    settings.WALLETOPS_DOCKER_HOSTS = {"staging": [f"unix://{tmp_path}/none.sock"]}  # a 503, logged by Django
    good = token_for("read")
    for headers in (
        {"HTTP_AUTHORIZATION": f"Bearer {good}"},
        {"HTTP_AUTHORIZATION": f"Bearer {good}x"},  # wrong secret, right prefix
        {"HTTP_AUTHORIZATION": "Bearer wo_nope_0123456789abcdef"},
    ):
        api_client.get("/api/v1/admin/ops/containers", **headers)
        api_client.post("/api/v1/admin/ops/containers/wallet-core-staging-web-1/restart", **headers)
    api_client.get("/api/ops/plannings", HTTP_X_OPS_TOKEN=OPS_TOKEN)
    api_client.get("/api/ops/plannings", HTTP_X_OPS_TOKEN=OPS_TOKEN + "-wrong")
    logged = every_log_line.text + "".join(repr(record.args) for record in every_log_line.records)
    assert every_log_line.records  # the requests were logged (the 401s, 404s and 503s) ...
    # The secret part is all after "wo_<prefix>_" (token_urlsafe may itself contain "_": split from the left).
    for secret in (good, good + "x", OPS_TOKEN, good.split("_", 2)[-1]):
        assert secret not in logged  # ... without their credentials


def test_a_new_tokens_secret_is_not_logged(admin_client, every_log_line):
    from walletops.models import RestartAudit

    response = admin_client.post("/admin/opsapi/apitoken/add/", {"name": "ci", "scope_choices": ["read"]}, follow=True)
    secret = response.context["secret"]
    assert secret not in every_log_line.text + "".join(repr(record.args) for record in every_log_line.records)
    assert not RestartAudit.objects.filter(detail__contains=secret).exists()
