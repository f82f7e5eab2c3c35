"""Django settings. Everything that varies between machines is read from the environment here,
through the typed helpers of ``crm.env``; the defaults are the safe production ones."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.utils.translation import gettext_lazy as _

from crm.env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)
# In development a missing key is replaced by a random one (sessions end on restart);
# in production it is required.
SECRET_KEY = env_str("SECRET_KEY", default=secrets.token_urlsafe(50) if DEBUG else None)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "django_htmx",
    "pgtrigger",
    "pghistory",
    "axes",
    "csp",
    "drf_spectacular_sidecar",
    "crm",
    "sso",
    "accounts",
    "pipeline",
    "opportunities",
    "leads",
    "coaching",
    "privacy",
    "imports",
    "reporting",
    "webhooks",
    "meridian",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Compresses last: whole HTML and JSON bodies only (crm.compression; GZIP_RESPONSES=0 when a
    # proxy in front does it).
    *(["crm.compression.TextGZipMiddleware"] if env_bool("GZIP_RESPONSES", default=True) else []),
    # Early: a NUL in the path, query string or a form field is a 400 before anything reads it.
    "crm.edge.RejectBadInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, loading the session's user in the session's organization (crm.identity).
    "crm.identity.SessionOrgAuthenticationMiddleware",
    # Before anything uses the user: an idle session is signed out here.
    "crm.middleware.SessionIdleTimeoutMiddleware",
    "crm.middleware.OrganizationScopeMiddleware",
    # Audit context: the acting user (pghistory) and a request id on every change's event.
    "pghistory.middleware.HistoryMiddleware",
    "crm.audit.RequestIdMiddleware",
    # After authentication: the user's own language and time zone win over Accept-Language.
    "crm.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # django-csp's, with the settings' policy built once (crm.middleware).
    "crm.middleware.CachedCSPMiddleware",
    # Last, as django-axes asks: it turns a lockout into the "too many attempts" answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "meridian.urls"
WSGI_APPLICATION = "meridian.wsgi.application"
ASGI_APPLICATION = "meridian.asgi.application"

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
                "django.template.context_processors.i18n",
                "opportunities.context_processors.permissions",
                "coaching.context_processors.permissions",
                "meridian.navigation.navigation",
            ],
        },
    },
]

# PostgreSQL only: the tenancy walls rely on it (row-level security, partial indexes).
DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        **parse_database_url(env_str("DATABASE_URL", default="postgres://127.0.0.1:5432/meridian")),
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
        "ATOMIC_REQUESTS": False,
    }
}
# The backend keeps the session setting app.org_id equal to the organization in scope, which is
# what row-level security filters on (crm/db/base.py, crm/rls.py).
DATABASES["default"]["ENGINE"] = "crm.db"
# Per-session planner settings for short OLTP statements (measured in the 1M benchmark):
# * no JIT: PostgreSQL compiles a plan whose *estimated* cost is high (a visibility subquery over
#   a million rows that in fact touches a few hundred); compiling took 0.6 s of a 1 ms query;
# * no parallel workers: with 20 users on 2 cores there is no idle core to lend, and the parallel
#   plans it picked (a parallel seq scan of 200k accounts instead of an index probe) were slower
#   even alone. Dashboards read rollup tables and do not need them either.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = env_str(
    "DATABASE_SESSION_OPTIONS", default="-c jit=off -c max_parallel_workers_per_gather=0"
)
# The role the application connects as in production: owns no table, NOSUPERUSER NOBYPASSRLS.
# Migrations run as the owner (DATABASE_OWNER_URL); `make run` sets up both.
DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", default="meridian_app")
# Wall one: the tenant managers' SQL filter on the organization (wall two is row-level
# security). Off only in the test that proves RLS holds alone. Set here, not left to
# getattr's default: every compiled statement reads it per run, and an unset setting raises
# (and catches) an AttributeError in Django's lazy settings each time (~7 us, 24 per 360°).
MERIDIAN_ORM_TENANT_FILTER = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
# django-axes first: it refuses sign-in (pages and API tokens) after repeated failures. Then
# Django's ModelBackend run inside the user's organization (crm_user is under row-level security;
# crm.identity finds the organization through a narrow look-up function).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm.identity.OrgModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", default=15))
# Per account and address: an attacker cannot lock a user out from everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# The sign-in form and the token endpoint both send the e-mail as "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Grants are read by crm.visibility through subqueries on the direct-FK permission tables, never
# through guardian's backend (ARCHITECTURE.md: 30x slower for list pages), so it is not hooked.
SILENCED_SYSTEM_CHECKS = ["guardian.W001"]
# Guardian grants are created by our services, with an organization; no anonymous user row.
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("sv", _("Swedish")), ("da", _("Danish")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# In development whitenoise serves straight from the finders; production serves collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/"

REDIS_URL = env_str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    # Sessions read from the shared cache, written through to the database: one SQL query
    # less on every page. Only with a shared cache: a per-process cache would keep a session
    # alive in one worker after sign-out in another.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: with no REDIS_URL (plain `make run`), tasks run in-process so no broker is needed.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message a dead worker had taken is handed out again after this many seconds (acks_late).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # The lock a worker holds while it restores such messages; a worker killed while holding it
    # blocks every other worker's restores until it expires.
    "unacked_mutex_expire": env_int("CELERY_UNACKED_MUTEX_EXPIRE", default=300),
    # How often workers sweep for such messages (about interval x throttle seconds).
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
# Outbound webhooks: the back-off between attempts (seconds: 1 min, 5 min, 30 min, 2 h, 12 h),
# the receiver's time to answer, and how many failed deliveries in a row disable an endpoint.
WEBHOOK_RETRY_SCHEDULE = [60, 300, 1800, 7200, 43200]
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", default=10)
WEBHOOK_DISABLE_AFTER = env_int("WEBHOOK_DISABLE_AFTER", default=10)
# Development and tests (DEBUG): plain http and loopback receivers are allowed.
WEBHOOK_ALLOW_INSECURE = env_bool("WEBHOOK_ALLOW_INSECURE", default=DEBUG)

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Weekly pipeline snapshot (reporting trend lines and forecast accuracy), Monday early morning.
CELERY_BEAT_SCHEDULE = {
    "reporting-weekly-pipeline-snapshot": {
        "task": "reporting.tasks.take_pipeline_snapshots",
        "schedule": crontab(minute=0, hour=3, day_of_week="mon"),
    },
    # Customer values and segments (reporting.customer_value): nightly, before the working day.
    "reporting-nightly-account-values": {
        "task": "reporting.tasks.refresh_all_account_values",
        "schedule": crontab(minute=15, hour=1),
    },
    # Deviation alerts: after the weekly snapshot, so a reader sees both from the same morning.
    "reporting-weekly-deviation-alerts": {
        "task": "reporting.tasks.detect_all_deviations",
        "schedule": crontab(minute=0, hour=4, day_of_week="mon"),
    },
    "reporting-purge-expired-exports": {
        "task": "reporting.tasks.purge_expired_exports",
        "schedule": crontab(minute=30, hour=2),
    },
    "privacy-erase-stale-leads": {
        "task": "privacy.tasks.erase_stale_leads_all",
        "schedule": crontab(minute=15, hour=1),
    },
}

EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-mail"))
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="Meridian CRM <noreply@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes failures 401 rather than 403.
        "crm.api_auth.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers, with JSON refusing over-deep nesting and NUL characters (400, not 500).
    "DEFAULT_PARSER_CLASSES": [
        "crm.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        # django-filter's, with each viewset's FilterSet class made once (crm.api_filters).
        "crm.api_filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "crm.drf.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("API_ANON_THROTTLE", default="20/minute")},
    "DATETIME_FORMAT": "iso-8601",
    "DATE_FORMAT": "iso-8601",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Meridian CRM API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Every resource a rep, a manager and the director use in the pages, with the "
    "same visibility rules. Authenticate with a session or `Authorization: Token <key>`.",
    # Swagger UI from the installed sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "kind" or a "status": each choice set gets its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "ActivityKindEnum": "accounts.models.ActivityKind",
        "SegmentEnum": "accounts.models.Segment",
        "ActionStatusEnum": "accounts.models.ActionStatus",
        "PlanStatusEnum": "accounts.models.PlanStatus",
        "JoinStatusEnum": "accounts.models.JoinStatus",
        "ConflictKindEnum": "opportunities.models.ConflictKind",
        "ConflictStatusEnum": "opportunities.models.ConflictStatus",
        "CampaignKindEnum": "leads.models.CampaignKind",
        "LeadStatusEnum": "leads.models.LeadStatus",
        "TargetKindEnum": "reporting.models.TargetKind",
        "ExportStatusEnum": "reporting.models.ExportStatus",
        "NotificationKindEnum": "crm.models.NotificationKind",
        "ImportKindEnum": "imports.models.ImportKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.drf.document_error_responses",
    ],
}

# Content Security Policy: no inline scripts, nothing from other origins. Inline styles stay
# allowed for the server-rendered SVG charts (pygal writes <style> into each chart).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Production hardening; `manage.py check --deploy` is clean when DEBUG is off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
# No script reads the CSRF cookie: htmx and board.js take the token from the page (base.html's
# hx-headers), forms from {% csrf_token %}, Swagger UI from its rendered script.
CSRF_COOKIE_HTTPONLY = True
# The key material that encrypts secrets at rest (identity providers' client secrets, webhook
# signing secrets: crm.vault). Empty: SECRET_KEY (so rotating SECRET_KEY means re-entering the
# secrets). In development without a SECRET_KEY (random per process) a fixed development key,
# so a restart, or a worker process beside the server, reads what another process stored.
SECRETS_ENCRYPTION_KEY = env_str(
    "SECRETS_ENCRYPTION_KEY",
    default="meridian-development-only" if DEBUG and not os.environ.get("SECRET_KEY") else "",
)
# Seconds of clock difference tolerated on an ID token's exp / iat / nbf.
SSO_CLOCK_LEEWAY_SECONDS = env_int("SSO_CLOCK_LEEWAY_SECONDS", default=60)
# Seconds to wait for an identity provider (discovery, token endpoint, keys).
SSO_HTTP_TIMEOUT_SECONDS = env_int("SSO_HTTP_TIMEOUT_SECONDS", default=5)

# Sessions end after SESSION_COOKIE_AGE (Django's default, two weeks) at the latest, and after
# this many seconds without a request before that (crm.middleware.SessionIdleTimeoutMiddleware).
SESSION_IDLE_TIMEOUT_SECONDS = env_int("SESSION_IDLE_TIMEOUT_SECONDS", default=8 * 3600)
# API tokens stop working this many days after they are issued.
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", default=90)
# The OpenAPI schema and Swagger UI without sign-in: for development only, by default.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", default=DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
}
