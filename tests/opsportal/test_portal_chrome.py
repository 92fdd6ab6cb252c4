"""The admin's chrome as an operator meets it: no dead "View site" link, the API docs one click away."""

from http import HTTPStatus


def test_the_portal_has_no_view_site_link_to_a_missing_page(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "View site" not in page
    assert admin_client.get("/").status_code == HTTPStatus.NOT_FOUND  # why the link had to go


def test_every_portal_page_links_the_api_docs_and_has_a_favicon(admin_client):
    for path in ("/admin/", "/admin/ops/", "/admin/ops/jobs/"):
        page = admin_client.get(path).content.decode()
        assert 'href="/api/docs/" id="api-docs-link"' in page, path
        assert 'rel="icon" type="image/svg+xml" href="/static/opsportal/favicon.svg"' in page, path
    assert admin_client.get("/api/docs/").status_code == HTTPStatus.OK


def test_the_api_docs_send_a_logged_out_reader_to_the_login_page_and_back(client):
    response = client.get("/api/docs/")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/login/?next=/api/docs/"


def test_the_token_page_names_the_new_tokens_prefix_and_scopes(admin_client):
    from opsportal.api.models import ApiToken

    response = admin_client.post(
        "/admin/opsapi/apitoken/add/", {"name": "grafana", "scope_choices": ["read"], "owner": ""}, follow=True
    )
    assert response.status_code == HTTPStatus.OK, response.content[:500]
    token = ApiToken.objects.get(name="grafana")
    page = response.content.decode()
    assert f"prefix <code>{token.prefix}</code>, scopes read" in page
