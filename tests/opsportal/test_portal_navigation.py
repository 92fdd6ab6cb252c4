"""The side navigation highlights one item; panels whose outside system is missing say what to set; the README page."""

import json
import re

import pytest

from tests.opsportal.helpers import DASHBOARD, panel_html

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("outages")]


def _current_items(body: str) -> list[str]:
    sidebar = re.search(r'<nav class="sticky" id="nav-sidebar".*?</nav>', body, re.S).group(0)
    return re.findall(r'<a href="([^"]+)" aria-current="page">', sidebar)


@pytest.mark.parametrize(
    ("path", "current"),
    [
        (DASHBOARD, "/admin/ops/"),
        ("/admin/ops/containers/", "/admin/ops/containers/"),
        ("/admin/ops/jobs/", "/admin/ops/jobs/"),
        ("/admin/plannings/planning/", "/admin/plannings/planning/"),
        ("/admin/plannings/planningrefreshstate/", "/admin/plannings/planningrefreshstate/"),
    ],
)
def test_the_side_navigation_highlights_exactly_one_item(admin_client, path, current):
    body = admin_client.get(path).content.decode()
    assert _current_items(body) == [current]
    assert body.count("current-model") == 1 and body.count("current-app") == 1


def test_the_admin_index_highlights_nothing(admin_client):
    body = admin_client.get("/admin/").content.decode()
    assert "current-model" not in body


@pytest.mark.parametrize(
    ("panel", "setting"),
    [
        ("containers", "WALLETOPS_DOCKER_HOSTS"),
        ("hosts", "WALLET_CORE_OPS_PROMETHEUS_URL"),
        ("deploy", "WALLETOPS_DEPLOY_INFO_PATH"),
    ],
)
def test_a_panel_whose_system_is_missing_says_which_setting_to_configure(admin_client, panel, setting):
    html = panel_html(admin_client.get(DASHBOARD).content.decode(), panel)
    assert 'role="alert"' in html  # the error code stays
    hint = re.search(r'<p class="ops-panel-note ops-setup">(.*?)</p>', html, re.S).group(1)
    assert f"<code>{setting}</code>" in hint and 'href="/admin/ops/docs/configuration/#configuration"' in hint


def test_a_working_panel_shows_no_setup_hint(admin_client, settings):
    settings.WALLETOPS_DEPLOY_INFO_PATH.write_text(json.dumps({
        "current_tag": "v42", "previous_tag": None, "commit_sha": "0123456789abcdef", "deployed_by": "ana",
        "deployed_at": "2026-11-23T08:00:00Z",
    }))  # fmt: skip
    html = panel_html(admin_client.get(DASHBOARD).content.decode(), "deploy")
    assert "ops-setup" not in html and '<time datetime="2026-11-23T08:00:00Z"' in html


def test_the_containers_page_says_what_to_configure_when_no_engine_answers(admin_client):
    body = admin_client.get("/admin/ops/containers/").content.decode()
    assert "docker_unavailable" in body and "<code>WALLETOPS_DOCKER_HOSTS</code>" in body


def test_the_configuration_page_has_the_sections_the_hints_link_to(admin_client):
    body = admin_client.get("/admin/ops/docs/configuration/").content.decode()
    assert '<section class="ops-readme-section" id="configuration">' in body
    assert "WALLETOPS_DOCKER_HOSTS" in body and "WALLET_CORE_OPS_PROMETHEUS_URL" in body


def test_the_readme_page_has_unique_section_ids(admin_client):
    body = admin_client.get("/admin/ops/readme/").content.decode()
    ids = re.findall(r'<section class="ops-readme-section" id="([^"]+)">', body)
    assert len(ids) == len(set(ids)) > 5 and "two-commands" in ids


@pytest.mark.parametrize("path", ["/admin/ops/readme/", "/admin/ops/docs/configuration/"])
def test_the_readme_and_docs_pages_need_a_staff_login(client, path):
    assert client.get(path)["Location"].startswith("/admin/login/")


def test_readme_anchors_are_githubs_and_stay_unique_and_code_is_not_a_heading():
    from opsportal.portal.docs import markdown_sections

    text = "intro\n## Two commands\n```sh\n# not a heading\n```\n### `GET /api/ops/plannings`\n## Two commands\n"
    sections = markdown_sections(text)
    assert [(section.level, section.anchor) for section in sections] == [
        (1, "readme"), (2, "two-commands"), (3, "get-apiopsplannings"), (2, "two-commands-1"),
    ]  # fmt: skip
    assert "# not a heading" in sections[1].body
