"""A capped change list's page and the SQL it ran (the Audit and Alerts lists' flat-read tests, issue #23)."""

from http import HTTPStatus

from django.db import connection
from django.test.utils import CaptureQueriesContext


def page_and_statements(client, url: str, query: dict):
    """The page's response (200) and its SQL statements, in order."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, query)
    assert response.status_code == HTTPStatus.OK
    return response, [q["sql"] for q in queries.captured_queries]
