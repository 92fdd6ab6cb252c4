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


@pytest.fixture(scope="session")
def feed_server():
    """A real HTTP server on loopback that serves good feeds and misbehaves on purpose."""
    from scripts.servers.feeds import FeedServer

    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def feed_host(feed_server):
    """The feed server with its request counters cleared for this test."""
    feed_server.reset()
    return feed_server
