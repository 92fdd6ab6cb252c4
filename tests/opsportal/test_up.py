"""``/up`` (kamal-proxy's health check) and the NUL guard's 400 carry the portal's Content-Security-Policy."""

from http import HTTPStatus

import pytest

from tests.browser.helpers import csp_directives, csp_expected


def test_up_answers_a_container_host_with_the_policy(client, settings):
    settings.ALLOWED_HOSTS = ["ops.example.com"]
    response = client.get("/up", HTTP_HOST="0123456789ab:8000")  # kamal-proxy asks with the container's id
    assert response.status_code == HTTPStatus.OK and response.content == b"ok\n"
    assert csp_directives(response["Content-Security-Policy"]) == csp_expected(None)


@pytest.mark.django_db
def test_the_nul_guards_400_has_the_policy(client):
    response = client.get("/admin/plannings/planning/?q=%00")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert csp_directives(response["Content-Security-Policy"]) == csp_expected(None)
