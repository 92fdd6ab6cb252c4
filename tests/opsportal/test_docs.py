"""The documentation: every environment variable is documented, and every link and anchor resolves.

The README is the front door; the references are docs/*.md. Links are checked twice: on disk (the
file exists, the anchor is a heading's id, computed by the renderer's own slug function) and as the
portal serves them (each rewritten link answers 200 to an admin, and its anchor is an id of that page).
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from opsportal.portal import docs

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
READERS = (
    r"(?:portal_str|portal_list|strict_bool|strict_int|upstream_int|upstream_flag|upstream_str|database_config"
    r"|docker_hosts|strict_fraction|strict_networks)"
)


def _variables() -> set[str]:
    source = (ROOT / "opsportal" / "settings.py").read_text()
    return set(re.findall(READERS + r'\(\s*"([A-Z][A-Z0-9_]+)"', source))


def _documented(name: str, text: str) -> bool:
    return f"`{name}`" in text or f"{name}=" in text


def test_the_settings_read_the_variables_we_expect_to_find():
    assert {"DJANGO_ENV", "DATABASE_URL", "OPS_TOKEN", "CURL_TIMEOUT", "PLANNINGS_FEED_MAX_BYTES"} <= _variables()


def test_every_variable_is_in_the_docs_and_env_example():
    documentation = "\n".join(path.read_text() for path in DOCUMENTS)
    example = (ROOT / ".env.example").read_text()
    missing = {name: [doc for doc, text in (("README.md + docs/*.md", documentation), (".env.example", example))
                      if not _documented(name, text)]
               for name in _variables()}  # fmt: skip
    assert {name: where for name, where in missing.items() if where} == {}


def test_every_variable_has_a_row_in_the_configuration_table():
    """The table in docs/configuration.md stays complete: a mention elsewhere does not count."""
    first_cells = re.findall(r"^\| ([^|]+) \|", (ROOT / "docs" / "configuration.md").read_text(), re.M)
    rows = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert _variables() - rows == set()


def _links(path: Path) -> list[str]:
    """The targets of a document's Markdown links and images, outside code blocks."""
    text = "\n".join(section.body for section in docs.markdown_sections(path.read_text()))
    return [match.group(3) for match in docs.LINK.finditer(text)]


def test_the_documents_have_links_to_check():
    assert len(DOCUMENTS) >= 10 and (ROOT / "docs" / "configuration.md") in DOCUMENTS
    readme_links = _links(ROOT / "README.md")
    assert {"docs/rest-api.md", "docs/configuration.md", "docs/alerts.md"} <= set(readme_links)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_link_and_anchor_resolves_on_disk(path):
    broken = []
    for target in _links(path):
        if docs.EXTERNAL.match(target):
            continue
        file, anchor = docs.link_file(target, path)
        file = file or path
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and (file.suffix != ".md" or anchor not in docs.document_anchors(file)):
            broken.append(f"{target}: no heading with the id {anchor!r} in {file.name}")
    assert broken == []


def _page_links(body: str) -> list[str]:
    return re.findall(r'<a class="ops-doc-link" href="([^"]+)">', body)


def _page_ids(body: str) -> set[str]:
    return set(re.findall(r'<section class="ops-readme-section" id="([^"]+)">', body))


@pytest.mark.django_db
def test_every_served_link_answers_and_lands_on_a_section(admin_client):
    """From the README page, follow every link between documents: each page answers 200 and holds the anchor."""
    to_visit, pages = ["/admin/ops/readme/"], {}
    while to_visit:
        address = to_visit.pop()
        if address in pages:
            continue
        response = admin_client.get(address)
        assert response.status_code == 200, address
        pages[address] = response.content.decode()
        for href in _page_links(pages[address]):
            parts = urlsplit(href)
            if parts.scheme:
                continue
            target = parts.path or address
            if target not in pages:
                to_visit.append(target)
    served = {"/admin/ops/readme/"} | {f"/admin/ops/docs/{path.stem}/" for path in DOCUMENTS[1:]}
    assert set(pages) == served  # every document is reached from the README
    for address, body in pages.items():
        # Every Markdown link to a served document became a link on the page.
        source = ROOT / "README.md" if address.endswith("/readme/") else ROOT / "docs" / f"{address.split('/')[-2]}.md"
        expected = [t for t in _links(source) if not t.startswith("!") and docs.served_href(t, source) is not None]
        assert len(_page_links(body)) == len(expected), address
        for href in _page_links(body):
            parts = urlsplit(href)
            if parts.fragment and not parts.scheme:
                assert parts.fragment in _page_ids(pages[parts.path or address]), (address, href)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["..", "..%2FREADME", "screenshots", "architecture.md", "nope", "%2e%2e"])
def test_only_the_markdown_files_in_docs_are_served(admin_client, slug):
    assert admin_client.get(f"/admin/ops/docs/{slug}/").status_code == 404


def test_a_link_between_documents_is_rewritten_to_its_page(settings):
    readme, alerts = ROOT / "README.md", ROOT / "docs" / "alerts.md"
    assert docs.served_href("docs/alerts.md#channels", readme) == "/admin/ops/docs/alerts/#channels"
    assert docs.served_href("../README.md#status", alerts) == "/admin/ops/readme/#status"
    assert docs.served_href("configuration.md", alerts) == "/admin/ops/docs/configuration/"
    assert docs.served_href("#noise-control", alerts) == "#noise-control"
    assert docs.served_href("../opsportal/settings.py", alerts) is None  # not served: stays text
    assert docs.served_href("../../etc/passwd.md", alerts) is None
