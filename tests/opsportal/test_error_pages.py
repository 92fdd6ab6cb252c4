"""No secrets on error pages: Django's debug 500 page (HTML and plain text) with credentials in settings and META.

Under ``runserver`` request.META carries the server's whole environment; the test client's
extra environ stands in for it here.
"""

import pytest
from django.test import Client, override_settings
from django.urls import include, path

from opsportal.lib import env
from opsportal.reporting import mask_credentials

SECRET = "s3" + "cr3t"  # in two pieces: the debug page quotes the source lines around the raise
MASK = "********************"


def boom(request):
    url = f"postgres://ops:{SECRET}@pg.local:5432/opsportal"  # a frame variable
    raise ValueError(f"cannot reach {url}")


urlpatterns = [path("boom/", boom), path("", include("opsportal.urls"))]

# What runserver would copy into META from the environment.
ENVIRON = {
    "DATABASE_URL": f"postgres://ops:{SECRET}@db.internal:5432/opsportal",
    "CELERY_BROKER_URL": f"redis://:{SECRET}@redis.internal:6379/0",
    "CELERY_RESULT_BACKEND": f"redis://default:{SECRET}@redis.internal:6379/1",
    "WALLETOPS_DOCKER_HOSTS": f"staging=tcp://deploy:{SECRET}@10.0.0.2:2376|ssh://deploy@10.0.0.3",
    "WALLET_CORE_OPS_PROMETHEUS_URL": f"http://grafana:{SECRET}@prometheus:9090",
    "OPS_TOKEN": f"{SECRET}-{SECRET}-{SECRET}-{SECRET}-{SECRET}",
    "SENTRY_DSN": f"https://{SECRET}@sentry.example/1",
    # Not a secret by its name: only the URL's password is masked.
    "HTTPS_PROXY": f"http://proxyuser:{SECRET}@proxy.internal:3128",
    "OPSPORTAL_DEMO_NOTE": "nothing secret here",
}
SETTINGS = {
    "DEBUG": True,
    "ROOT_URLCONF": __name__,
    "CELERY_BROKER_URL": f"redis://:{SECRET}@redis.internal:6379/0",
    "OPSPORTAL_ACCOUNTING_REDIS_URL": f"redis://:{SECRET}@redis.internal:6379/0",
    "WALLETOPS_DOCKER_HOSTS": {"staging": [f"tcp://deploy:{SECRET}@10.0.0.2:2376"]},
    "WALLET_CORE_OPS_PROMETHEUS_URL": f"http://grafana:{SECRET}@prometheus:9090",
    # A setting the portal does not read from the environment: its URL's password is masked, the rest shown.
    "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                           "LOCATION": f"redis://cacheuser:{SECRET}@cache.internal:6379/2"}},
}  # fmt: skip


@pytest.fixture
def client_500():
    with override_settings(**SETTINGS):
        yield Client(raise_request_exception=False)


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_the_debug_500_page_shows_no_secret(client_500, accept):
    response = client_500.get("/boom/", HTTP_ACCEPT=accept, **ENVIRON)
    assert response.status_code == 500
    page = response.content.decode()
    # The debug page itself, HTML or plain text, with its settings and META.
    assert "ValueError" in page and f"cannot reach postgres://ops:{MASK}@pg.local:5432/opsportal" in page
    assert ("<html" in page) == (accept == "text/html")
    assert SECRET not in page
    for shown in ("wallet-core", "Europe/Paris", "OPSPORTAL_DEMO_NOTE", "nothing secret here", "TIME_ZONE",
                  "proxy.internal:3128", "cache.internal:6379/2", "OPS_TOKEN_MIN_LENGTH"):  # fmt: skip
        assert shown in page, shown
    # Secret variables are masked whole, not just their password: no host, no user name.
    for hidden in ("db.internal", "redis.internal", "10.0.0.2", "sentry.example", "prometheus:9090"):
        assert hidden not in page, hidden


def test_the_filter_masks_secret_variables_whole_and_url_passwords_elsewhere(rf):
    from django.views.debug import get_default_exception_reporter_filter

    with override_settings(**SETTINGS):
        report = get_default_exception_reporter_filter()
        safe = report.get_safe_settings()
        meta = report.get_safe_request_meta(rf.get("/", **ENVIRON))
    for name in ("CELERY_BROKER_URL", "OPSPORTAL_ACCOUNTING_REDIS_URL", "WALLETOPS_DOCKER_HOSTS",
                 "WALLET_CORE_OPS_PROMETHEUS_URL", "SECRET_KEY", "OPS_TOKEN"):  # fmt: skip
        assert safe[name] == MASK, name
    assert safe["CACHES"]["default"]["LOCATION"] == f"redis://cacheuser:{MASK}@cache.internal:6379/2"
    assert safe["STATIC_URL"] == "/static/" and safe["WALLETOPS_SERVICE"] == "wallet-core"
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "WALLETOPS_DOCKER_HOSTS",
                 "WALLET_CORE_OPS_PROMETHEUS_URL", "OPS_TOKEN", "SENTRY_DSN"):  # fmt: skip
        assert meta[name] == MASK, name
    assert meta["HTTPS_PROXY"] == f"http://proxyuser:{MASK}@proxy.internal:3128"
    assert meta["OPSPORTAL_DEMO_NOTE"] == "nothing secret here"
    assert meta["PATH_INFO"] == "/"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgres://u:pw@h/db", f"postgres://u:{MASK}@h/db"),
        ("redis://:pw@h:6379/0", f"redis://:{MASK}@h:6379/0"),
        ("postgres://u:p@ss@h/db", f"postgres://u:{MASK}@h/db"),  # a raw "@" in the password
        ("staging=tcp://a:1@h:2376|ssh://deploy@b;production=tcp://c:2375",
         f"staging=tcp://a:{MASK}@h:2376|ssh://deploy@b;production=tcp://c:2375"),
        ("'amqp://guest:guest@rabbit//', 'x'", f"'amqp://guest:{MASK}@rabbit//', 'x'"),
        ("https://edt.example/feed.ics?token=abc&week=2", f"https://edt.example/feed.ics?token={MASK}&week=2"),
        ("https://h/x?X-Amz-Signature=ff&access_key=k1", f"https://h/x?X-Amz-Signature={MASK}&access_key={MASK}"),
        ("http://127.0.0.1:9090 and ssh://deploy@10.0.0.2", "http://127.0.0.1:9090 and ssh://deploy@10.0.0.2"),
        ("tcp://10.0.0.3:2375", "tcp://10.0.0.3:2375"),
    ],
)  # fmt: skip
def test_url_credentials_are_masked(text, masked):
    assert mask_credentials(text) == masked


def test_the_env_readers_note_what_they_read_and_which_may_hold_a_secret():
    # Read by opsportal.settings at start-up.
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "WALLETOPS_DOCKER_HOSTS", "OPS_TOKEN"} <= env.VARIABLES_READ
    assert "TIME_ZONE" not in env.VARIABLES_READ
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "WALLETOPS_DOCKER_HOSTS",
                 "WALLET_CORE_OPS_PROMETHEUS_URL", "OPSPORTAL_ACCOUNTING_REDIS_URL", "OPS_TOKEN", "DJANGO_SECRET_KEY",
                 "DOCKER_HOST", "SENTRY_DSN", "REDIS_PASSWORD"):  # fmt: skip
        assert env.holds_secret(name), name
    for name in ("DJANGO_ALLOWED_HOSTS", "WALLETOPS_SERVICE", "TIME_ZONE", "PATH_INFO", "JOBS_QUIET_HOURS"):
        assert not env.holds_secret(name), name


def test_lazy_strings_in_settings_are_read_and_masked_without_breaking_the_page():
    from django.utils.functional import SimpleLazyObject, lazy
    from django.views.debug import get_default_exception_reporter_filter

    lazy_url = SimpleLazyObject(lambda: f"redis://u:{SECRET}@h:6379/0")
    lazy_str = lazy(lambda: f"amqp://u:{SECRET}@rabbit//", str)()
    with override_settings(LAZY_BROKER=lazy_url, LAZY_OTHER=lazy_str):
        safe = get_default_exception_reporter_filter().get_safe_settings()
    assert SECRET not in str(safe["LAZY_BROKER"]) and SECRET not in str(safe["LAZY_OTHER"])
