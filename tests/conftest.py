import json

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


def _server_or_skip(factory):
    """Start a private server; without its binary, skip (or fail under CI=true)."""
    from scripts.servers.postgres import ServerUnavailable

    try:
        return factory()
    except ServerUnavailable as exc:
        if settings.IN_CI:
            pytest.fail(f"CI=true and a required server is unavailable: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    from scripts.servers.redis import PrivateRedis

    server = _server_or_skip(lambda: PrivateRedis(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory):
    """A private RabbitMQ node (one per session: it takes seconds to boot). Never skipped: the second
    broker the README names is tested everywhere, so without rabbitmq-server the test fails."""
    from scripts.servers.postgres import ServerUnavailable
    from scripts.servers.rabbitmq import PrivateRabbitMQ

    try:
        server = PrivateRabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
        server.start()
    except ServerUnavailable as exc:
        pytest.fail(f"{exc} (make services installs rabbitmq-server)")
    yield server
    server.destroy()


@pytest.fixture
def live_database_url(transactional_db) -> str:
    """A URL of the test database for other processes (workers, commands) to share."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("other processes need a server database (PostgreSQL)")
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def subprocess_env(live_database_url):
    """Environment for a portal process (command or Celery worker) on the test database."""
    import os

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "opsportal.settings",
        "DJANGO_ENV": "test",
        "DATABASE_URL": live_database_url,
        "PLANNINGS_REFRESH_BACKOFF_JITTER": "false",
        "JOBS_QUIET_HOURS": "off",
    }


@pytest.fixture
def token_for(db):
    from opsportal.api.tokens import api_token_create

    def make(*scopes: str, **fields) -> str:
        return api_token_create(name=fields.pop("name", "ci"), scopes=list(scopes), **fields).secret

    return make


@pytest.fixture(scope="module")
def prometheus_stack(tmp_path_factory):
    """A private Prometheus scraping two node exporters (two "hosts"), per test module."""
    from scripts.servers.prometheus import NodeExporter, PrivatePrometheus

    root = tmp_path_factory.mktemp("prometheus")
    exporters = [_server_or_skip(lambda: NodeExporter(root)) for _ in range(2)]  # two "hosts"
    for exporter in exporters:
        _server_or_skip(exporter.start)
    server = _server_or_skip(lambda: PrivatePrometheus([e.target for e in exporters], root / "server"))
    _server_or_skip(server.start)
    yield server, exporters
    server.destroy()
    for exporter in exporters:
        exporter.stop()


@pytest.fixture
def live_portal(request, subprocess_env, prometheus_stack, tmp_path):
    """Start the portal's dev server as its own process on the test database, behind it the private
    Docker engines (the wallet ops ``fleet``, which the test's folder provides), a private Prometheus
    and a deploy_info.json; ``env`` overrides any variable."""
    from scripts.servers.portal import PortalDevServer

    fleet = request.getfixturevalue("fleet")
    prometheus, _exporters = prometheus_stack
    servers = []

    def start(*, deploy_info: dict, **env: str):
        path = tmp_path / "deploy_info.json"
        path.write_text(json.dumps(deploy_info))
        environment = {
            **subprocess_env,
            "WALLETOPS_DOCKER_HOSTS": f"staging={fleet.staging_url};production={fleet.production_url}",
            "WALLET_CORE_OPS_PROMETHEUS_URL": prometheus.url,
            "WALLETOPS_DEPLOY_INFO_PATH": str(path),
            "OPSPORTAL_VAR_DIR": str(tmp_path),
            "CELERY_BROKER_URL": f"filesystem://{tmp_path}",
            **env,
        }
        server = _server_or_skip(lambda: PortalDevServer(environment).start())
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def migrations_restored():
    """For a test that migrates the database back: every migration applied again afterwards, pass or fail.

    A fresh executor (its loader reads what is applied now: one that migrated back still believes
    the later migrations applied), or the tests after it find tables missing (a 500 from a live server).
    """
    yield
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    latest = MigrationExecutor(connection)
    latest.migrate(latest.loader.graph.leaf_nodes())


# --- The rows the migrations leave, there for every test ----------------------------------------
# The content types and permissions (some made by migrations, not by post_migrate), the roles and
# their permissions, the default alert rules. A transactional test ends with a flush that empties
# every table, and post_migrate then makes content types and permissions again under new ids;
# pytest-django runs those tests last, but under xdist (make test TEST_WORKERS=2) a worker's next
# file can follow one. Each database test starts with what a freshly migrated database holds: read
# once from it, put back as they were (same ids: a cached content type id stays right) after a flush.
_seeded_rows: dict[type, list] = {}


@pytest.fixture(autouse=True)
def _migration_seeds(request):
    if request.node.get_closest_marker("django_db") is None and not {"db", "transactional_db"} & set(
        request.fixturenames
    ):
        return
    from django.apps import apps
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    request.getfixturevalue("_django_db_helper")  # the test's database access, set up first
    # In the order they are put back: a row's foreign keys before it.
    models = (ContentType, Permission, Group, Group.permissions.through, apps.get_model("alerts", "Rule"))
    if not _seeded_rows:
        _seeded_rows.update({model: list(model.objects.order_by("pk")) for model in models})
    elif not Group.objects.exists():
        Permission.objects.all().delete()
        ContentType.objects.all().delete()
        for model in models:
            model.objects.bulk_create(_seeded_rows[model])
        ContentType.objects.clear_cache()


@pytest.fixture
def cap_of_120(monkeypatch):
    """The capped lists' count stops at 120 (the real cap is 10,000): above a page of 100, so a list still pages."""
    from opsportal.lib.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "CAP", 120)
