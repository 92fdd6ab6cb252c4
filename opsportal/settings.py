"""Settings for opsportal: the one place that reads the environment.

Every variable has a typed default so ``make run`` works with no configuration;
every variable is documented in docs/configuration.md and ``.env.example``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from opsportal.lib.env import (
    database_config,
    docker_hosts,
    named_paths,
    portal_list,
    portal_str,
    strict_bool,
    strict_fraction,
    strict_int,
    strict_networks,
    upstream_flag,
    upstream_int,
    upstream_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(portal_str("OPSPORTAL_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# --- Environment ---------------------------------------------------------------
DJANGO_ENV = portal_str("DJANGO_ENV", "development").lower()
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r} is not one of development, production, test.")
IS_PRODUCTION = DJANGO_ENV == "production"

_INSECURE_KEY = "django-insecure-opsportal-development-key-do-not-use-in-production"
SECRET_KEY = portal_str("DJANGO_SECRET_KEY", _INSECURE_KEY)
DEBUG = strict_bool("DJANGO_DEBUG", default=not IS_PRODUCTION)
ALLOWED_HOSTS = portal_list("DJANGO_ALLOWED_HOSTS", [] if IS_PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = portal_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Where operators reach the portal: the links in alert notifications start with it (a notification
# has no request to take the host from). Required in production; trailing slashes dropped.
OPSPORTAL_BASE_URL = portal_str("OPSPORTAL_BASE_URL", "" if IS_PRODUCTION else "http://127.0.0.1:8000").rstrip("/")


OPS_TOKEN_MIN_LENGTH = 32


def _refuse_unsafe_production() -> None:
    problems = []
    if DEBUG:
        problems.append("DJANGO_DEBUG is on")
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        problems.append("DJANGO_SECRET_KEY is the development default, shorter than 50 characters or not random")
    if not ALLOWED_HOSTS:
        problems.append("DJANGO_ALLOWED_HOSTS is empty")
    if not OPSPORTAL_BASE_URL.startswith(("https://", "http://")):
        problems.append("OPSPORTAL_BASE_URL is not set to the portal's http(s):// address (alert links)")
    # Unset, it refuses every caller; set, it must not be guessable.
    if 0 < len(upstream_str("OPS_TOKEN", "")) < OPS_TOKEN_MIN_LENGTH:
        problems.append(f"OPS_TOKEN is shorter than {OPS_TOKEN_MIN_LENGTH} characters")
    if problems:
        raise ImproperlyConfigured("Refusing to start with DJANGO_ENV=production: " + "; ".join(problems) + ".")


if IS_PRODUCTION:
    _refuse_unsafe_production()

# --- Applications --------------------------------------------------------------
INSTALLED_APPS = [
    "opsportal.apps.OpsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "opsportal.audit",
    "opsportal.api",  # the API kit and its tokens, below the apps (docs/architecture.md)
    "opsportal.workers",  # the workers' own reports and the beat tasks' run guard
    "plannings",
    "walletops",
    "opsportal.alerts",  # above both apps: it watches them (docs/architecture.md)
    "axes",  # login throttling (opsportal/login_throttle.py)
]

MIDDLEWARE = [
    # Content-Security-Policy on every response, /up's and the NUL guard's 400s too (it refuses nothing);
    # sets request.csp_nonce for the templates' inline code.
    "csp.middleware.CSPMiddleware",
    # Then: kamal-proxy's health check must get through the host check and the HTTPS redirect.
    "opsportal.middleware.LivenessMiddleware",
    # Then: a NUL byte in a path, query, cookie or form is 400 before anything hands it to PostgreSQL.
    "opsportal.middleware.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's) straight from gunicorn, compressed and cache-busted.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who acts, for the changes the audit trail records from model signals (opsportal/audit/context.py).
    "opsportal.audit.context.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login into the lockout page (AXES_LOCKOUT_CALLABLE).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsportal.urls"
WSGI_APPLICATION = "opsportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # opsportal is not an installed app, so its tag libraries are named here.
            "libraries": {"opstime": "opsportal.templatetags.opstime"},
        },
    },
]

# --- Database ------------------------------------------------------------------
# SQLite by default (make run); DATABASE_URL=postgres://... in production.
# Every PostgreSQL connection's settings (tests/settings.py applies them to the test cluster too).
POSTGRES_CONNECTION_OPTIONS = "-c jit=off"
DATABASES = {
    "default": database_config("DATABASE_URL", f"sqlite:///{VAR_DIR / 'opsportal.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", strict_int("DATABASE_CONN_MAX_AGE", 60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Its folder is made when Django starts (opsportal.lib.folders), not here.
    # Web, worker and beat share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: at 10,000,000 plannings the planner's estimates for the health reads'
    # never-taken branches (a count(*) fallback, a misestimated current second) passed
    # jit_above_cost, and compiling cost ~270 ms of a statement that ran in under 1 ms
    # (EXPLAIN ANALYZE). The portal's statements are all short; none gains from JIT.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} {POSTGRES_CONNECTION_OPTIONS}".strip()

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Mirrored tables keep upstream's index names, some over Django's 30-character
# limit. The limit exists for Oracle only; PostgreSQL allows 63, SQLite any.
SILENCED_SYSTEM_CHECKS = ["models.E034"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The portal's own files (favicon): the project package is no app of its own (OpsAdminConfig is the admin's).
STATICFILES_DIRS = [BASE_DIR / "opsportal" / "static"]
STATIC_ROOT = Path(portal_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names need ``collectstatic`` first: production only (tests and runserver serve plain files).
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production) -----------------------------------------------------
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
# Production is served over TLS (kamal-proxy terminates it and sets X-Forwarded-Proto).
SECURE_SSL_REDIRECT = strict_bool("DJANGO_SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_HSTS_SECONDS = strict_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = strict_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=IS_PRODUCTION)
SECURE_HSTS_PRELOAD = strict_bool("DJANGO_SECURE_HSTS_PRELOAD", default=IS_PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if IS_PRODUCTION else None
# Monitors and Prometheus reach the health and metrics endpoints over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^api/ops/plannings$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Scripts and styles from the portal's own origin; inline <script> and <style> only with the request's nonce
# (templates: nonce="{{ request.csp_nonce }}"); no style or event-handler attributes. data: images: the
# Swagger UI's icons (/api/docs/).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Error pages (DEBUG's and the error e-mails) mask secret variables whole and the password of any URL.
DEFAULT_EXCEPTION_REPORTER_FILTER = "opsportal.reporting.PortalExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "opsportal.reporting.PortalExceptionReporter"

# --- Login throttling (django-axes; opsportal/login_throttle.py) ---------------
# Failed logins count per user name and per client address, each on its own: past the limit within the
# cool-off, that user name, and every login from that address, is refused even with the right password
# (429 and a page saying so) until the cool-off has passed since the last failure. `manage.py axes_reset`
# (or axes_reset_username / axes_reset_ip) unlocks at once.
AUTHENTICATION_BACKENDS = [
    "opsportal.login_throttle.LoginThrottleBackend",  # axes' AxesStandaloneBackend: it must come first
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = strict_int("OPSPORTAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=strict_int("OPSPORTAL_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_LOCKOUT_CALLABLE = "opsportal.login_throttle.lockout_response"  # templates/opsportal/login_locked.html
# Reverse proxies in front of the portal that append to X-Forwarded-For (production: kamal-proxy, 1):
# failures count against the address the outermost one saw, never a client-supplied one.
OPSPORTAL_TRUSTED_PROXIES = strict_int("OPSPORTAL_TRUSTED_PROXIES", 1 if IS_PRODUCTION else 0, minimum=0)
# ...and only when the connection comes from one of these networks (the proxy's): a client that reaches
# gunicorn directly is counted against its own address, whatever X-Forwarded-For it sends. By default a
# proxy on the same host (loopback) or kamal-proxy on the `kamal` Docker network (Docker's default pools,
# 172.16.0.0/12; config/deploy.yml says how to narrow it).
OPSPORTAL_TRUSTED_PROXY_NETWORKS = strict_networks(
    "OPSPORTAL_TRUSTED_PROXY_NETWORKS", ["127.0.0.0/8", "::1", "172.16.0.0/12"]
)
AXES_CLIENT_IP_CALLABLE = "opsportal.login_throttle.client_ip"
AXES_VERBOSE = False  # no banner at every start; failures and lockouts are still logged (WARNING)

# --- REST framework ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Each API declares its own auth; nothing is open by accident.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One error shape for every /api/v1/ path, set here and nowhere else (PlanningSup's /api/ops/plannings
    # keeps its own: plannings.web, the documented exception).
    "EXCEPTION_HANDLER": "opsportal.api.errors.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "opsportal API",
    "OAS_VERSION": "3.1.0",  # nullable as JSON Schema says it, so responses validate with jsonschema
    "DESCRIPTION": "Plannings refresh health (x-ops-token) and wallet ops (Bearer tokens).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "SERVE_AUTHENTICATION": ["rest_framework.authentication.SessionAuthentication"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "APPEND_COMPONENTS": {"securitySchemes": {"opsToken": {"type": "apiKey", "in": "header", "name": "x-ops-token"}}},
}

# --- Celery --------------------------------------------------------------------
# The default broker is a folder on disk: it needs no server, so make run works
# anywhere. CELERY_BROKER_URL=redis://... in production.
CELERY_BROKER_URL = portal_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"  # its folders are made when Django starts (opsportal.lib.folders)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Kombu's default is ./control, the working directory: read-only in the image.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
if CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ: quorum queues (replicated, durable; a node restart keeps every message), so every queue
    # the portal's workers declare, named or created by -Q, is one. Celery then turns off global QoS
    # (worker_detect_quorum_queues) and sends countdowns and ETAs through RabbitMQ's native delayed
    # delivery, which needs topic exchanges (a direct one makes a worker hold the message, blocking
    # its prefetch slot, until the ETA). Publisher confirms: a publish returns once the broker has it.
    CELERY_TASK_DEFAULT_QUEUE_TYPE = "quorum"
    CELERY_TASK_DEFAULT_EXCHANGE_TYPE = "topic"
    CELERY_TASK_CREATE_MISSING_QUEUE_TYPE = "quorum"
    CELERY_TASK_CREATE_MISSING_QUEUE_EXCHANGE_TYPE = "topic"
    CELERY_WORKER_DETECT_QUORUM_QUEUES = True
    CELERY_BROKER_NATIVE_DELAYED_DELIVERY_QUEUE_TYPE = "quorum"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# Job accounting (/queues): a Redis, by default the broker's when it is Redis; empty turns it off.
OPSPORTAL_ACCOUNTING_REDIS_URL = portal_str(
    "OPSPORTAL_ACCOUNTING_REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else ""
)
# Who may scrape /metrics without a token: comma-separated client addresses.
OPSPORTAL_METRICS_ALLOWED_IPS = portal_list("OPSPORTAL_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 270
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 3  # seconds; a web request that wakes a worker never waits long
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # Django's LOGGING applies in workers too
CELERY_TASK_ACKS_LATE = False

# --- Plannings (upstream PlanningSup names and defaults) -----------------------
RUN_JOBS = upstream_flag("RUN_JOBS", default=True)
ALLOWED_JOBS = [
    job.strip()
    for job in upstream_str("ALLOWED_JOBS", "plannings-refresh-worker,plannings-backfill").split(",")
    if job.strip()
]
JOBS_QUIET_HOURS = upstream_str("JOBS_QUIET_HOURS", "21:00–06:00")
JOBS_QUIET_HOURS_TIMEZONE = upstream_str("JOBS_QUIET_HOURS_TIMEZONE", "Europe/Paris")
PLANNINGS_BACKFILL_INTERVAL_MS = upstream_int("PLANNINGS_BACKFILL_INTERVAL_MS", 600_000)
PLANNINGS_BACKFILL_STALE_AFTER_HOURS = upstream_int("PLANNINGS_BACKFILL_STALE_AFTER_HOURS", 6)
PLANNINGS_BACKFILL_MISSING_LIMIT = upstream_int("PLANNINGS_BACKFILL_MISSING_LIMIT", 500)
PLANNINGS_BACKFILL_STALE_LIMIT = upstream_int("PLANNINGS_BACKFILL_STALE_LIMIT", 500)
PLANNINGS_REFRESH_WORKER_MIN_POLL_MS = upstream_int("PLANNINGS_REFRESH_WORKER_MIN_POLL_MS", 1_000)
PLANNINGS_REFRESH_WORKER_MAX_POLL_MS = upstream_int("PLANNINGS_REFRESH_WORKER_MAX_POLL_MS", 30_000)
PLANNINGS_REFRESH_WORKER_BATCH_SIZE = upstream_int("PLANNINGS_REFRESH_WORKER_BATCH_SIZE", 50)
PLANNINGS_REFRESH_WORKER_CONCURRENCY = upstream_int("PLANNINGS_REFRESH_WORKER_CONCURRENCY", 2)
PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY = upstream_int("PLANNINGS_REFRESH_WORKER_PER_HOST_CONCURRENCY", 2)
PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS = upstream_int("PLANNINGS_REFRESH_WORKER_DRAIN_BUDGET_MS", 20_000)
PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS = upstream_int("PLANNINGS_REFRESH_WORKER_MAX_ATTEMPTS", 10)
PLANNINGS_REFRESH_WORKER_SWEEP_INTERVAL_MS = upstream_int("PLANNINGS_REFRESH_WORKER_SWEEP_INTERVAL_MS", 600_000)
PLANNINGS_REFRESH_WORKER_SWEEP_LIMIT = upstream_int("PLANNINGS_REFRESH_WORKER_SWEEP_LIMIT", 250)
CURL_TIMEOUT = upstream_int("CURL_TIMEOUT", 5_000)
# The per-host limit is shared by every drain through leased slots (plannings/slots.py): a drain
# renews its leases every third of this, and a drain killed with SIGKILL frees its slots within it.
# At least CURL_TIMEOUT: the killed drain's own requests would have been given up by then.
PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS = strict_int(
    "PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS", max(30_000, CURL_TIMEOUT), minimum=1_000
)
if PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS < CURL_TIMEOUT:
    raise ImproperlyConfigured(
        f"PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS={PLANNINGS_REFRESH_WORKER_HOST_SLOT_LEASE_MS} is below "
        f"CURL_TIMEOUT={CURL_TIMEOUT}: a killed worker's requests could still be running when its slots free."
    )
# Ours, beyond upstream: feed limits and the backoff jitter (tests turn jitter off).
PLANNINGS_FEED_MAX_BYTES = strict_int("PLANNINGS_FEED_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
PLANNINGS_FEED_VERIFY_TLS = strict_bool("PLANNINGS_FEED_VERIFY_TLS", default=True)
# Floating times and all-day dates in feeds are read on this wall clock.
PLANNINGS_FEED_TIMEZONE = portal_str("PLANNINGS_FEED_TIMEZONE", "Europe/Paris")
PLANNINGS_REFRESH_BACKOFF_JITTER = strict_bool("PLANNINGS_REFRESH_BACKOFF_JITTER", default=True)
# Health snapshots (one a minute) are kept this long; the dashboard draws 24 h, so less would starve it.
PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS = strict_int("PLANNINGS_HEALTH_HISTORY_RETENTION_HOURS", 168, minimum=24)
# A planning's refresh attempts (its page's history) are kept this long, and at most its newest 50.
PLANNINGS_ATTEMPTS_RETENTION_DAYS = strict_int("PLANNINGS_ATTEMPTS_RETENTION_DAYS", 14, minimum=1)
# Empty means "not set": upstream treats an empty token like a missing one.
OPS_TOKEN = upstream_str("OPS_TOKEN", "")

# --- Wallet ops ------------------------------------------------------------------
WALLETOPS_SERVICE = portal_str("WALLETOPS_SERVICE", "wallet-core")
WALLETOPS_ENVS = portal_list("WALLETOPS_ENVS", ["staging", "production"])
WALLETOPS_ACCESSORIES = portal_list("WALLETOPS_ACCESSORIES", ["redis", "prometheus", "grafana", "rabbitmq", "outpost"])
# Engines per env: "staging=unix:///var/run/docker.sock|ssh://deploy@10.0.0.2;production=tcp://10.0.0.3:2375".
# An env without an entry uses the local engine (DOCKER_HOST, else the standard socket).
WALLETOPS_DOCKER_HOSTS = docker_hosts("WALLETOPS_DOCKER_HOSTS", WALLETOPS_ENVS)
WALLETOPS_DOCKER_TIMEOUT = strict_int("WALLETOPS_DOCKER_TIMEOUT", 10, minimum=1)
# A logs response (JSON, text or the portal's page) keeps its newest lines within this many bytes of JSON.
WALLETOPS_LOGS_MAX_BYTES = strict_int("WALLETOPS_LOGS_MAX_BYTES", 2 * 1024 * 1024, minimum=64 * 1024)
# What one logs request's grep (and each batch of a live follow) may spend: past either, the search stops
# and the answer says so (cut_short). Each pattern's cost a line is bounded when it is parsed. The
# characters' default is the most a request reads (5,000 lines cut at 16 KiB): the clock stops a search
# first; a lower value bounds the work itself, whatever the machine's load.
WALLETOPS_LOGS_GREP_MAX_MS = strict_int("WALLETOPS_LOGS_GREP_MAX_MS", 500, minimum=1)
WALLETOPS_LOGS_GREP_MAX_CHARS = strict_int("WALLETOPS_LOGS_GREP_MAX_CHARS", 5000 * 16 * 1024, minimum=64 * 1024)
# Live log streams (SSE) hold a gunicorn thread each: capped per person and in total, counted across every
# web process (leases in the database, walletops/stream_leases.py). The total stays below WEB_THREADS (the
# Procfile's --threads), so even if every stream lands on one process, followers never take every thread.
WEB_THREADS = strict_int("WEB_THREADS", 32, minimum=2)
WALLETOPS_LOG_STREAMS_TOTAL = strict_int("WALLETOPS_LOG_STREAMS_TOTAL", WEB_THREADS // 2, minimum=1)
WALLETOPS_LOG_STREAMS_PER_USER = strict_int("WALLETOPS_LOG_STREAMS_PER_USER", 4, minimum=1)
if WALLETOPS_LOG_STREAMS_TOTAL >= WEB_THREADS:
    raise ImproperlyConfigured(
        f"WALLETOPS_LOG_STREAMS_TOTAL ({WALLETOPS_LOG_STREAMS_TOTAL}) must stay below WEB_THREADS ({WEB_THREADS}): "
        "live log streams would hold every thread of a web process"
    )
WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS = strict_int("WALLETOPS_LOG_STREAM_HEARTBEAT_SECONDS", 15, minimum=1)
WALLETOPS_LOG_STREAM_IDLE_SECONDS = strict_int("WALLETOPS_LOG_STREAM_IDLE_SECONDS", 600, minimum=1)
WALLETOPS_LOG_STREAM_MAX_SECONDS = strict_int("WALLETOPS_LOG_STREAM_MAX_SECONDS", 3600, minimum=1)
WALLETOPS_PROTECTED_CONTAINERS = portal_list("WALLETOPS_PROTECTED_CONTAINERS", ["opsportal-*"])
WALLETOPS_RESTARTS_PER_MINUTE = strict_int("WALLETOPS_RESTARTS_PER_MINUTE", 5, minimum=1)
# Refused restart attempts audited per token (or user) a minute; past it, 429 and a count on the last row.
WALLETOPS_REFUSALS_PER_MINUTE = strict_int("WALLETOPS_REFUSALS_PER_MINUTE", 10, minimum=1)
# How long a POST's Idempotency-Key answers its first outcome (opsportal/api/idempotency.py).
OPSPORTAL_API_IDEMPOTENCY_HOURS = strict_int("OPSPORTAL_API_IDEMPOTENCY_HOURS", 24, minimum=1)
WALLETOPS_WORKER_QUEUES = portal_list(
    "WALLETOPS_WORKER_QUEUES", ["payouts", "virtual_account_issue", "webhook_notifications", "pos_settlement"]
)
WALLET_CORE_OPS_PROMETHEUS_URL = portal_str("WALLET_CORE_OPS_PROMETHEUS_URL", "http://prometheus:9090").rstrip("/")
WALLETOPS_PROMETHEUS_TIMEOUT = strict_int("WALLETOPS_PROMETHEUS_TIMEOUT", 5, minimum=1)
WALLETOPS_CPU_THRESHOLD = strict_fraction("WALLETOPS_CPU_THRESHOLD", 0.85)
WALLETOPS_MEM_THRESHOLD = strict_fraction("WALLETOPS_MEM_THRESHOLD", 0.85)
# Relative paths are relative to the checkout.
WALLETOPS_DEPLOY_INFO_PATH = BASE_DIR / portal_str("WALLETOPS_DEPLOY_INFO_PATH", "deploy_info.json")
# Each host's Kamal run directory (its ~/.kamal: audit logs and the deploy lock), mounted read-only into the
# portal: ``web-1=/mnt/kamal/web-1,web-2=/mnt/kamal/web-2`` (docs/deploys.md). Empty: no audit lines, no lock.
WALLETOPS_KAMAL_RUN_DIRS = named_paths("WALLETOPS_KAMAL_RUN_DIRS")
# Container alerts stay held after a pre-deploy event until its post-deploy arrives, at most this long.
WALLETOPS_DEPLOY_HOLD_MAX_SECONDS = strict_int("WALLETOPS_DEPLOY_HOLD_MAX_SECONDS", 3600, minimum=60)

# --- Alerts (opsportal/alerts; docs/alerts.md) ---------------------------------------
OPSPORTAL_ALERTS_EVALUATE_SECONDS = strict_int("OPSPORTAL_ALERTS_EVALUATE_SECONDS", 60, minimum=10)
# While a deploy is in progress container alerts are held back: the lock file exists (empty: not watched),
# or deploy_info.json changed (or says it was deployed) within the window.
OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH = portal_str("OPSPORTAL_ALERTS_DEPLOY_LOCK_PATH", "")
OPSPORTAL_ALERTS_DEPLOY_WINDOW_SECONDS = strict_int("OPSPORTAL_ALERTS_DEPLOY_WINDOW_SECONDS", 600, minimum=0)
# Seconds one send (a webhook POST, an Apprise notification, a Send test) may take in all, however
# slowly its receiver answers.
OPSPORTAL_ALERTS_SEND_TIMEOUT = strict_int("OPSPORTAL_ALERTS_SEND_TIMEOUT", 10, minimum=1)
# Channel sends never connect to loopback, link-local, private, unspecified, multicast or reserved
# addresses, except those of these networks (CIDRs): an internal relay or SMTP server, say.
OPSPORTAL_ALERTS_ALLOWED_NETWORKS = strict_networks("OPSPORTAL_ALERTS_ALLOWED_NETWORKS", [])
# The Apprise schemes a channel may use: services reached over the network. Left out on purpose:
# syslog/rsyslog and the desktop ones (windows, macosx, dbus, gnome, kde...), which act on the web host.
OPSPORTAL_ALERTS_APPRISE_SCHEMES = portal_list(
    "OPSPORTAL_ALERTS_APPRISE_SCHEMES",
    [
        *("json", "jsons", "form", "forms", "xml", "xmls", "apprise", "apprises"),  # generic HTTP receivers
        *("mailto", "mailtos"),
        *("slack", "discord", "workflow", "workflows", "wxteams", "webex", "gchat", "zulip"),
        *("rocket", "rockets", "mmost", "mmosts", "matrix", "matrixs", "tgram"),
        *("ntfy", "ntfys", "pover", "gotify", "gotifys", "opsgenie", "pagerduty", "signl4"),
    ],
)
# Attempts per notification (backoff 30 s, 60 s, 120 s...) before it is marked failed.
OPSPORTAL_ALERTS_MAX_ATTEMPTS = strict_int("OPSPORTAL_ALERTS_MAX_ATTEMPTS", 6, minimum=1)
# Days a closed alert (with its notifications) and a channel's test message are kept; pruned hourly.
OPSPORTAL_ALERTS_RETENTION_DAYS = strict_int("OPSPORTAL_ALERTS_RETENTION_DAYS", 30, minimum=1)
# Hours a mute made in Alerts › Mutes lasts unless changed (its "until" comes filled in with now + this).
OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS = strict_int("OPSPORTAL_ALERTS_MUTE_DEFAULT_HOURS", 4, minimum=1)
# Days the audit trail keeps a row; `manage.py audit_prune` removes older ones and records the prune.
OPSPORTAL_AUDIT_RETENTION_DAYS = strict_int("OPSPORTAL_AUDIT_RETENTION_DAYS", 400, minimum=1)

# --- Logging -------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": portal_str("DJANGO_LOG_LEVEL", "INFO").upper()},
    # httpx logs every request with its full URL at INFO; feed URLs can carry access keys.
    # Celery logs every task received/succeeded (a refresh tick each second) at INFO.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.worker.request": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},
    },
}

# --- Job schedule -------------------------------------------------------------------
# Beat ticks the refresh worker every min-poll; the worker itself decides whether a
# tick is due (adaptive idle polling). Ticks that wait longer than one period in the
# broker expire, so a busy or stopped worker never finds a backlog of them.
_POLL_SECONDS = max(PLANNINGS_REFRESH_WORKER_MIN_POLL_MS, 1000) / 1000
_BACKFILL_SECONDS = max(PLANNINGS_BACKFILL_INTERVAL_MS, 1000) / 1000
# The tasks below but the refresh tick take ``period``: each claims its run in the database and runs
# once per period even when two beats send it (a deploy overlaps the old and new beat containers).
CELERY_BEAT_SCHEDULE = {
    "plannings-backfill": {
        "task": "plannings.backfill",
        "schedule": _BACKFILL_SECONDS,
        "kwargs": {"period": _BACKFILL_SECONDS},
        "options": {"expires": _BACKFILL_SECONDS},
    },
    "plannings-refresh-poll": {
        "task": "plannings.refresh_poll",
        "schedule": _POLL_SECONDS,
        "options": {"expires": _POLL_SECONDS},
    },
    # The dashboard's health history: one snapshot a minute (the task ignores a minute's repeats).
    "plannings-health-snapshot": {
        "task": "plannings.health_snapshot",
        "schedule": 60.0,
        "kwargs": {"period": 60.0},
        "options": {"expires": 60.0},
    },
    # The plannings' attempt histories: past their retention, or beyond 50 a planning, in bounded batches.
    "plannings-attempts-prune": {
        "task": "plannings.attempts_prune",
        "schedule": 3600.0,
        "kwargs": {"period": 3600.0},
        "options": {"expires": 3600.0},
    },
    # Alerts: one pass at a time across workers (the evaluator lock), then the due notifications.
    "alerts-evaluate": {
        "task": "alerts.evaluate",
        "schedule": float(OPSPORTAL_ALERTS_EVALUATE_SECONDS),
        "kwargs": {"period": float(OPSPORTAL_ALERTS_EVALUATE_SECONDS)},
        "options": {"expires": float(OPSPORTAL_ALERTS_EVALUATE_SECONDS)},
    },
    # The audit trail's rows older than OPSPORTAL_AUDIT_RETENTION_DAYS, once a day (the prune is a row itself).
    "audit-prune": {
        "task": "audit.prune",
        "schedule": 86400.0,
        "kwargs": {"period": 86400.0},
        "options": {"expires": 3600.0},
    },
    # Alerts closed, and test messages sent, longer ago than their retention: in bounded batches.
    "alerts-prune": {
        "task": "alerts.prune",
        "schedule": 3600.0,
        "kwargs": {"period": 3600.0},
        "options": {"expires": 3600.0},
    },
    # The hosts' Kamal audit files (WALLETOPS_KAMAL_RUN_DIRS), read for what was appended: the deploy timeline
    # is fresh without a visitor (a pass with nothing new costs milliseconds: docs/deploys.md).
    "walletops-deploys-read": {
        "task": "walletops.deploys_read",
        "schedule": 60.0,
        "kwargs": {"period": 60.0},
        "options": {"expires": 60.0},
    },
}
