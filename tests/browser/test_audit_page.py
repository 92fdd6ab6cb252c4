"""The Audit page in Chromium at 1280 px: every column shown, long ids and details shortened, no sideways scroll."""

import pytest
from django.contrib.auth.models import Group, User

from opsportal.audit.services import Actor, Outcome, audit_record
from tests.browser.helpers import jobs_page_measure, page_show

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]
PAGE = "/admin/audit/auditevent/"


def test_the_audit_page_fits_1280_px_with_long_ids_and_details(browser, client, screenshots):
    user = User.objects.create_user("vera", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(user)
    long_ids = [f"iut-nantes.informatique.annee-2.groupe-{i}.sous-groupe-tp-{i}" for i in range(40)]
    audit_record(actor=Actor(name="ana.longname@example.org", via="portal"), action="plannings.refresh_now",
                 target_type="planning", targets=long_ids, changed=38, detail="skipped 2: " + "x" * 400)  # fmt: skip
    audit_record(actor=Actor.api(owner_name="deployer", token_name="github-actions-production-deploy"),
                 action="container.restart", outcome=Outcome.FAILED, target_type="container",
                 targets=["wallet-core-production-worker-def5678"], detail="env production: engine down")  # fmt: skip
    context, page = page_show(browser, client.get(PAGE).content.decode(), width=1280, path=PAGE)
    assert jobs_page_measure(page)["overflow"] <= 0
    widths = page.evaluate("""() => ({
        table: document.querySelector('#result_list').scrollWidth,
        content: document.querySelector('#result_list').parentElement.clientWidth,
        headers: [...document.querySelectorAll('#result_list thead th')].map(th => th.innerText.trim()),
    })""")
    assert widths["table"] <= widths["content"] + 1, widths
    assert widths["headers"][-6:] == ["WHEN", "WHO", "ACTION", "OUTCOME", "ON", "DETAIL"], widths["headers"]
    page.screenshot(path=screenshots / "audit.png", full_page=True)
    context.close()
