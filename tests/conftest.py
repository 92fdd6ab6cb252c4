import pytest
from django.conf import settings


def pytest_report_header(config):
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    line = f"opsportal test database: {database}"
    if settings.POSTGRES_UNAVAILABLE_REASON:
        line += f" (PostgreSQL unavailable: {settings.POSTGRES_UNAVAILABLE_REASON})"
    return line


def pytest_collection_modifyitems(config, items):
    if settings.TEST_DATABASE == "postgres":
        return
    reason = settings.POSTGRES_UNAVAILABLE_REASON or "TEST_DATABASE=sqlite"
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL: {reason}"))


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
