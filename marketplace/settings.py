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
    "django.contrib.admin",
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
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("PASSWORD_MIN_LENGTH", "8"))},
    },
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
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # Brute-force protection on the login endpoint, per client address.
        "login": os.environ.get("LOGIN_THROTTLE_RATE", "6000/min"),
    },
    # Client addresses for throttling come from REMOTE_ADDR unless proxies are declared, so a
    # forged X-Forwarded-For cannot dodge the login throttle.
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
