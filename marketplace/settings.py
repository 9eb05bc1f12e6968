"""Settings, all from the environment (twelve-factor). See README "Configuration"."""

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import cast

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes (ModelAdmin, Manager...) accept type arguments at run time, as the
# annotations mypy checks write them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105  (refused in production below)
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
ENVIRONMENT = os.environ.get("ENVIRONMENT", "development")  # development | production
if ENVIRONMENT == "production" and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in production (ENVIRONMENT=production)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var").resolve()

# Keyed hashing of borrower ids (HMAC-SHA256); defaults to a key derived from SECRET_KEY.
BORROWER_HASH_KEY = os.environ.get("BORROWER_HASH_KEY", "")

INSTALLED_APPS = [
    "marketplace.accounts.apps.PlatformAdminConfig",  # django.contrib.admin, platform staff only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "marketplace.common",
    "marketplace.accounts",
    "marketplace.audit",
    "marketplace.ledger",
    "listings",
    "bidding",
    "settlement",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "marketplace.common.middleware.RequestSizeLimitMiddleware",
    "marketplace.common.inputs.NulCharacterMiddleware",
    "marketplace.common.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"
ASGI_APPLICATION = "marketplace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --------------------------------------------------------------------------- servers
# With DATABASE_URL / REDIS_URL unset, real servers are started from wheels under DATA_DIR.
# (postgres_url() and redis_url() start their server, so they return a URL: None is only
# for start=False, hence the casts.)
_embedded: list[str] = []
DATABASE_URL = os.environ.get("DATABASE_URL") or ""
if ENVIRONMENT == "production" and not (DATABASE_URL and os.environ.get("REDIS_URL")):
    raise ImproperlyConfigured("DATABASE_URL and REDIS_URL must be set in production")
REDIS_URL = os.environ.get("REDIS_URL") or ""
if not (DATABASE_URL and REDIS_URL):
    try:
        # Development tooling, not part of the product (the image does not contain tools/).
        from tools import embedded
    except ModuleNotFoundError as exc:
        if exc.name not in {"tools", "tools.embedded"}:
            raise
        raise ImproperlyConfigured(
            "DATABASE_URL and REDIS_URL must be set where tools/ (the embedded servers) is absent"
        ) from exc
    if not DATABASE_URL:
        DATABASE_URL = cast(str, embedded.postgres_url())
        _embedded.append("PostgreSQL")
    if not REDIS_URL:
        REDIS_URL = cast(str, embedded.redis_url())
        _embedded.append("Redis")


def _describe(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"


if not env_bool("MARKETPLACE_QUIET", False):
    mode = f"embedded {' and '.join(_embedded)} in {DATA_DIR}" if _embedded else "external servers"
    print(
        f"marketplace: database {_describe(DATABASE_URL)}, broker {_describe(REDIS_URL)} ({mode})",
        file=sys.stderr,
    )

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_marketplace")}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "marketplace",
    }
}

AUTH_USER_MODEL = "accounts.User"
# Enforced on POST /organizations/{id}/members/ and by `manage.py bootstrap` (member_create):
# `12345678` and a password equal to the username were accepted with the length rule alone.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("PASSWORD_MIN_LENGTH", "8"))},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Uploads larger than this are streamed to a temporary file, never held in memory; the temporary
# folder is on the same disk as DATA_DIR/uploads so a stored tape is moved, not copied.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Any request body over this is refused with 413 before it is read.
MAX_REQUEST_BYTES = int(os.environ.get("MAX_REQUEST_BYTES", str(512 * 1024 * 1024 + 1024 * 1024)))
LOAN_TAPE_MAX_BYTES = int(os.environ.get("LOAN_TAPE_MAX_BYTES", str(512 * 1024 * 1024)))

# --------------------------------------------------------------------------- API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["marketplace.accounts.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "marketplace.common.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "marketplace.common.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.common.errors.exception_handler",
    # Login, bid and upload limits are ours, in Redis (see "--- limits ---" below). Client
    # addresses for them come from REMOTE_ADDR unless proxies are declared, so a forged
    # X-Forwarded-For cannot dodge the login limits.
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
    "COERCE_DECIMAL_TO_STRING": True,
    # `?format=csv` is ours (streamed exports), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=int(os.environ.get("TOKEN_TTL_HOURS", "12"))),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "NPL Marketplace API",
    "DESCRIPTION": (
        "Auctions of non-performing consumer loan packages between banks and licensed asset "
        "managers. Errors are application/problem+json with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PackageStatusEnum": "listings.models.PackageStatus",
        "TapeStatusEnum": "listings.models.TapeStatus",
        "AuctionStatusEnum": "bidding.models.AuctionStatus",
        "RegistrationStatusEnum": "bidding.models.RegistrationStatus",
        "DepositStatusEnum": "bidding.models.DepositStatus",
        "SettlementStatusEnum": "settlement.models.SettlementStatus",
        "EligibilityEnum": "marketplace.accounts.models.Eligibility",
    },
    "AUTHENTICATION_WHITELIST": ["marketplace.accounts.authentication.TokenAuthentication"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "marketplace.common.schema.add_idempotency_header",
        "marketplace.common.schema.document_common_answers",
        "marketplace.common.schema.add_links",
    ],
}

# API.md: keys are kept at least 24 h, whatever the environment says.
IDEMPOTENCY_KEY_TTL_HOURS = max(24, int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "48")))

# --------------------------------------------------------------------------- Celery
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # results are in PostgreSQL, never in the broker
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message not acknowledged within this time is redelivered (acks_late + crash).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Retry policy for publishing, and the default for autoretrying tasks (see marketplace.celery).
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 5,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 3,
}
CELERY_TASK_DEFAULT_RETRY_DELAY = 5
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# A paid settlement's transfer is enqueued on commit; the sweep re-enqueues those still paid
# (not completed) this long after payment.
TRANSFER_SWEEP_GRACE_SECONDS = int(os.environ.get("TRANSFER_SWEEP_GRACE_SECONDS", "300"))
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "purge-expired-idempotency-keys": {
        "task": "marketplace.common.tasks.idempotency_purge_expired",
        "schedule": 3600.0,
    },
    "purge-expired-tokens": {
        "task": "accounts.token_purge_expired",
        "schedule": 3600.0,
    },
    "sweep-loan-tape-imports": {
        "task": "listings.loan_tape_sweep",
        "schedule": 30.0,
    },
    "open-due-auctions": {
        "task": "bidding.auction_open_sweep",
        "schedule": float(os.environ.get("AUCTION_SWEEP_SECONDS", "2")),
    },
    "close-due-auctions": {
        "task": "settlement.auction_close_sweep",
        "schedule": float(os.environ.get("AUCTION_SWEEP_SECONDS", "2")),
    },
    "default-overdue-settlements": {
        "task": "settlement.default_sweep",
        "schedule": float(os.environ.get("SETTLEMENT_DEFAULT_SWEEP_SECONDS", "60")),
    },
    "transfer-paid-settlements": {
        "task": "settlement.loans_transfer_sweep",
        "schedule": float(os.environ.get("TRANSFER_SWEEP_SECONDS", "60")),
    },
}

# The ledger's currency where a posting names none and inherits none (marketplace/ledger).
LEDGER_CURRENCY = os.environ.get("LEDGER_CURRENCY", "CNY")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # 4xx answers are the API working as designed (refused bids, validation); log 5xx only.
        "django.request": {"level": "ERROR"},
    },
}

if ENVIRONMENT == "production":
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- authz ---
# Transport security in production (`manage.py check --deploy` W004, W008): HTTPS only, HSTS for
# a year, and the scheme the TLS-terminating proxy saw taken from its X-Forwarded-Proto (the
# proxy must set or strip that header: docs/OPERATIONS.md). On by default with
# ENVIRONMENT=production and DEBUG off; each can be set by environment variable. Off by default
# elsewhere, because `make run`, the demo and the benchmarks serve plain HTTP on loopback.
_HTTPS_ONLY = ENVIRONMENT == "production" and not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS_ONLY)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if _HTTPS_ONLY else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS_ONLY)
if env_bool("SECURE_PROXY_SSL_HEADER", _HTTPS_ONLY):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes inside the private network call these over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Swagger UI from drf-spectacular-sidecar (pinned in requirements.txt), served by the app itself
# (marketplace/urls.py), never from a CDN at @latest.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
SPECTACULAR_SETTINGS |= {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- outage (broker and database outages) ---
# Celery messages are outbox rows written in the caller's transaction (marketplace/outbox):
# published after commit when the broker answers, else by the relay, which beat runs every
# OUTBOX_RELAY_SECONDS on the default (time-critical) queue once Redis is back.
INSTALLED_APPS.append("marketplace.outbox")
OUTBOX_RELAY_SECONDS = float(os.environ.get("OUTBOX_RELAY_SECONDS", "1"))
# After a failed publish, kicks skip the broker for this long (the relay retries).
OUTBOX_BROKER_BACKOFF_SECONDS = float(os.environ.get("OUTBOX_BROKER_BACKOFF_SECONDS", "1"))
OUTBOX_KEEP_SENT_HOURS = int(os.environ.get("OUTBOX_KEEP_SENT_HOURS", "24"))
CELERY_BEAT_SCHEDULE["outbox-relay"] = {
    "task": "outbox.relay",
    "schedule": OUTBOX_RELAY_SECONDS,
    # A relay message older than a few seconds is superseded by the next one.
    "options": {"expires": max(5.0, 5 * OUTBOX_RELAY_SECONDS)},
}
CELERY_BEAT_SCHEDULE["purge-sent-outbox"] = {"task": "outbox.purge", "schedule": 3600.0}
# The database unreachable (restart, failover): 503 problem+json with Retry-After, never a 500,
# for DRF views (the exception handler) and every other view (this middleware). Persistent
# connections are health-checked before reuse (conn_health_checks above), so workers recover
# on the first request after the database returns.
MIDDLEWARE.insert(0, "marketplace.common.unavailable.DatabaseUnavailableMiddleware")
DATABASE_RETRY_AFTER_SECONDS = int(os.environ.get("DATABASE_RETRY_AFTER_SECONDS", "5"))
# Fail fast when the database host does not answer (a refused connection fails at once anyway).
DATABASES["default"]["OPTIONS"].setdefault(
    "connect_timeout", int(os.environ.get("DB_CONNECT_TIMEOUT", "3"))
)
# The worker reconnects after a broker outage instead of dying (see marketplace/worker.py).
CELERY_WORKER_CONSUMER = "marketplace.worker:ResilientConsumer"

# --- market --- (issue 13: deal facts, price index, valuation, risk signals; docs/MARKET.md)
INSTALLED_APPS += ["market"]
# Below this many deals (or three distinct sellers) a valuation answers 409 insufficient_data.
MARKET_VALUATION_MIN_DEALS = int(os.environ.get("MARKET_VALUATION_MIN_DEALS", "30"))
# --- limits --- abuse limits in Redis (marketplace.common.ratelimit; docs/OPERATIONS.md "Abuse
# limits"). Rates are "N/period" (5/s, 30/10min, 20/hour) or "off".
LOGIN_FAILURES_PER_ADDRESS = os.environ.get("LOGIN_FAILURES_PER_ADDRESS", "30/10min")
LOGIN_FAILURES_PER_USERNAME = os.environ.get("LOGIN_FAILURES_PER_USERNAME", "5/15min")
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "60"))
LOGIN_LOCKOUT_MAX_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_MAX_SECONDS", "900"))
LOGIN_LOCKOUT_MEMORY_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_MEMORY_SECONDS", "86400"))
LOGIN_TRUSTED_ADDRESS_DAYS = int(os.environ.get("LOGIN_TRUSTED_ADDRESS_DAYS", "30"))
BID_RATE_LIMIT = os.environ.get("BID_RATE_LIMIT", "10/s")
UPLOAD_RATE_LIMIT = os.environ.get("UPLOAD_RATE_LIMIT", "30/hour")

# --- limits: observability --- JSON logs with request ids, Prometheus metrics at /metrics
# (marketplace/observability; docs/OPERATIONS.md "Observability").
INSTALLED_APPS.append("marketplace.observability")
# First, so that every answer (refusals of later middleware too) is counted and carries its id.
MIDDLEWARE.insert(0, "marketplace.observability.middleware.ObservabilityMiddleware")
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")  # json | plain
LOGGING["filters"] = {"context": {"()": "marketplace.observability.logs.ContextFilter"}}
LOGGING["formatters"]["json"] = {"()": "marketplace.observability.logs.JsonFormatter"}  # type: ignore[index]
LOGGING["handlers"]["console"]["filters"] = ["context"]  # type: ignore[index]
LOGGING["handlers"]["console"]["formatter"] = "plain" if LOG_FORMAT == "plain" else "json"  # type: ignore[index]
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_QUEUES = env_list("METRICS_QUEUES", "critical,imports,events")
# prometheus-client's multiprocess mode reads this variable when it is first imported, which
# happens after the settings are loaded; every process of one deployment shares the folder.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(DATA_DIR / "metrics")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# --- stream ---
# The live auction stream (bidding/stream/): served by the ASGI process (uvicorn), woken through
# Redis pub/sub, with a database poll as the fallback. STREAM_URL is the stream server's base
# URL as clients reach it; gunicorn names it when asked for the stream path (empty: the same
# base URL as the API, behind a proxy that routes the path to the ASGI process).
STREAM_URL = os.environ.get("STREAM_URL", "").rstrip("/")
STREAM_HEARTBEAT_SECONDS = float(os.environ.get("STREAM_HEARTBEAT_SECONDS", "15"))
STREAM_POLL_SECONDS = float(os.environ.get("STREAM_POLL_SECONDS", "2"))
STREAM_RETRY_MILLISECONDS = int(os.environ.get("STREAM_RETRY_MILLISECONDS", "2000"))
STREAM_CHANNEL_PREFIX = os.environ.get("STREAM_CHANNEL_PREFIX", "marketplace:auction-stream:")
STREAM_PUBLISH_TIMEOUT_SECONDS = float(os.environ.get("STREAM_PUBLISH_TIMEOUT_SECONDS", "0.5"))

# --- events (notifications: outbox, webhooks, e-mail) ---
INSTALLED_APPS.append("notifications")
# http:// webhook URLs and private/loopback addresses are refused unless this is on (API.md);
# on by default outside production, for local receivers in development and tests.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", ENVIRONMENT != "production")
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
# Retries: the wait after the n-th failed attempt is base * 4**(n-1), at most the cap, +-20%
# jitter; after WEBHOOK_MAX_ATTEMPTS attempts the delivery is failed (docs/INTEGRATION.md).
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "30"))
WEBHOOK_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_SECONDS", str(8 * 3600)))
# An endpoint whose attempts fail this many times in a row is disabled and its organisation told.
WEBHOOK_DISABLE_AFTER_FAILURES = int(os.environ.get("WEBHOOK_DISABLE_AFTER_FAILURES", "24"))
# A delivery task that has not recorded its attempt this long after it was sent (lost message,
# killed worker) is sent again by the relay; longer than the webhook timeout.
NOTIFICATIONS_LEASE_SECONDS = float(os.environ.get("NOTIFICATIONS_LEASE_SECONDS", "60"))
NOTIFICATIONS_DUE_SOON_HOURS = float(os.environ.get("NOTIFICATIONS_DUE_SOON_HOURS", "24"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "NPL Marketplace <no-reply@localhost>")
CELERY_BEAT_SCHEDULE["notifications-relay"] = {
    "task": "notifications.relay",
    "schedule": float(os.environ.get("NOTIFICATIONS_RELAY_SECONDS", "2")),
}
CELERY_BEAT_SCHEDULE["notifications-due-soon"] = {
    "task": "notifications.due_soon_sweep",
    "schedule": float(os.environ.get("NOTIFICATIONS_DUE_SOON_SWEEP_SECONDS", "300")),
}

# --- queues ---
# Time-critical work never waits behind heavy work (issue 11, item 0). Three queues, each
# consumed by its own worker processes (tools/stack.py, docker-compose.yml):
#   critical  opens, closes, defaults, transfers, sweeps, relays: everything not routed below
#             (the default queue, so a new task is time-critical until it says otherwise);
#   imports   loan tape imports (``listings.*``): seconds to minutes of CPU each;
#   events    deliveries to the outside (``notifications.*``: webhooks, e-mail).
# Routing is by task name, so a task lands on its queue wherever it is sent from (a view, a
# sweep, beat, a relay), and the critical workers never consume the other queues.
CELERY_TASK_DEFAULT_QUEUE = "critical"
CELERY_TASK_ROUTES = {
    "listings.*": {"queue": "imports"},
    "notifications.*": {"queue": "events"},
}
# A tape import is cut off at these limits (seconds): the soft one raises in the task, which
# records the import as failed (``invalid_file``); the hard one kills the worker process in
# case the soft one cannot interrupt (native code). A 1M-loan tape imports in well under a
# minute (docs/BENCHMARKS.md); the hard limit stays below the sweep's 15 min stale age, so a
# timed-out import is failed rather than re-queued.
TAPE_IMPORT_SOFT_TIME_LIMIT = int(os.environ.get("TAPE_IMPORT_SOFT_TIME_LIMIT", "600"))
TAPE_IMPORT_TIME_LIMIT = TAPE_IMPORT_SOFT_TIME_LIMIT + 60
CELERY_TASK_ANNOTATIONS = {
    "listings.loan_tape_import": {
        "soft_time_limit": TAPE_IMPORT_SOFT_TIME_LIMIT,
        "time_limit": TAPE_IMPORT_TIME_LIMIT,
    },
}

# --- retention ---
# Notification events and their deliveries are deleted once every delivery has finished
# (delivered or failed) and the event is older than this many days; pending ones are kept
# (notifications/services/retention.py, docs/OPERATIONS.md "Retention").
NOTIFICATIONS_KEEP_DAYS = int(os.environ.get("NOTIFICATIONS_KEEP_DAYS", "30"))
CELERY_BEAT_SCHEDULE["notifications-purge"] = {"task": "notifications.purge", "schedule": 3600.0}
