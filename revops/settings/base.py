"""Settings shared by every mode. Everything configurable is read from the environment, once, here."""
import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-insecure-key-change-me-revops-0000000000000000000000")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files, no CDN
    "django_htmx",
    "import_export",  # CSV import of customers, contacts, products and prices (integrations)
    # revops: the shared kernel first, then the domains in dependency order.
    "revops.kernel",
    "customers",
    "catalog",
    "quotes",
    "contracts",
    "billing",
    "portal",
    "recognition",
    "analytics",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "revops.kernel.middleware.ActorMiddleware",
    "revops.kernel.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "revops.urls"
WSGI_APPLICATION = "revops.wsgi.application"

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
                "revops.kernel.context_processors.navigation",
                "revops.kernel.notification_context.notifications",
            ],
        },
    },
]

# DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/revops; the default is an embedded SQLite file.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'revops.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the dev server and an eager Celery task share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: PostgreSQL compiles a query once its estimated cost passes jit_above_cost, and the estimates of
    # report queries over generate_series / unnest are far off — one profitability query spent 1.2 s compiling
    # to save ~10 ms. Interactive pages want predictable latency; nothing here runs long enough to profit.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Instants are stored in UTC; business dates (billing, recognition) are calendar dates in this zone.
TIME_ZONE = "UTC"
REVOPS_BUSINESS_TIME_ZONE = os.environ.get("REVOPS_BUSINESS_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Dev and tests serve static files straight from the finders (no collectstatic); production sets
# STATIC_ROOT and serves the collected, hashed files.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "revops@example.com")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["revops.kernel.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "revops.kernel.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "revops.kernel.api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "DATE_FORMAT": "iso-8601",
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "revops API",
    "DESCRIPTION": "Quote-to-cash and revenue recognition. Conventions: see the Overview section.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "QuoteStatusEnum": "quotes.models.Quote.Status",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "ContractStatusEnum": "contracts.models.Contract.Status",
        "InboundMessageStatusEnum": "integrations.models.InboundMessage.Status",
        "AcquisitionChannelEnum": "customers.models.Customer.Channel",  # customers and acquisition spend
        "KpiTargetSegmentFieldEnum": "analytics.models.KpiTarget.SegmentField",  # with owner (team member)
        "SegmentScopeFieldEnum": "analytics.models.SegmentScope.CHOICES",  # cost / spend entries: no owner
    },
}

# Celery. With no broker every task runs eagerly, in-process, so `make run` needs nothing else.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True  # money tasks are idempotent; a killed worker's task is redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # Safety net: the outbox is normally drained right after each commit.
    "outbox-sweep": {"task": "revops.kernel.tasks.deliver_events", "schedule": 30.0},
    "quotes-expire": {"task": "quotes.tasks.expire_quotes", "schedule": crontab(minute=5, hour="*")},
    "contracts-daily": {"task": "contracts.tasks.contracts_daily_task", "schedule": crontab(minute=10, hour="*/6")},
    "bill-run-daily": {"task": "billing.tasks.daily_bill_run", "schedule": crontab(minute=0, hour=2)},
    "dunning-daily": {"task": "billing.tasks.send_dunning", "schedule": crontab(minute=30, hour=8)},
    "usage-partitions": {"task": "billing.tasks.maintain_usage_partitions", "schedule": crontab(minute=45, hour=3)},
    "recognize-revenue": {"task": "recognition.tasks.recognize_revenue", "schedule": crontab(minute=20, hour=1)},
    "analytics-alerts": {"task": "analytics.tasks.evaluate_alerts_task", "schedule": crontab(minute=40, hour="*")},
    "idempotency-expire": {"task": "revops.kernel.tasks.expire_idempotency_keys", "schedule": crontab(minute=17)},
    # Webhook retries that are due (and deliveries whose first send was lost with a broker hiccup).
    "webhooks-due": {"task": "integrations.tasks.send_due_webhooks", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint narrates every stylesheet it parses (its own at import time) at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Payment providers posting signed webhooks to /api/v1/payments/webhook/<provider>/: name -> secret.
# REVOPS_PAYMENT_WEBHOOK_SECRETS="stripe=whsec_...,adyen=..."
REVOPS_PAYMENT_WEBHOOK_SECRETS = dict(
    item.split("=", 1) for item in env_list("REVOPS_PAYMENT_WEBHOOK_SECRETS", "demo=demo-webhook-secret") if "=" in item
)

# Webhooks out: hosts that may receive webhooks even though they resolve to a private, loopback or
# link-local address (an endpoint can also be allowed one by one by an admin). Empty in production.
# REVOPS_WEBHOOK_ALLOWED_HOSTS="hooks.internal.example,127.0.0.1"
REVOPS_WEBHOOK_ALLOWED_HOSTS = env_list("REVOPS_WEBHOOK_ALLOWED_HOSTS", "")

# Overdue reminders, in days after an invoice's due date; each is sent once per invoice.
REVOPS_DUNNING_DAYS = tuple(int(d) for d in env_list("REVOPS_DUNNING_DAYS", "3,10,30"))

# The quote revenue preview: the recognition engine (quotes.revenue.simple_projection without it).
REVOPS_REVENUE_PROJECTOR = "recognition.preview.project_quote"

# Journal amounts are also kept in this currency (FX rates in the recognition app).
REVOPS_REPORTING_CURRENCY = os.environ.get("REVOPS_REPORTING_CURRENCY", "USD")

# CSV import (django-import-export, integrations/resources.py): the admin's Import button needs the model's
# add permission, and a file is imported in one transaction (any row's error writes nothing).
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_USE_TRANSACTIONS = True

# Company shown on documents (quotes, invoices).
REVOPS_COMPANY = {
    "name": os.environ.get("REVOPS_COMPANY_NAME", "Revops Demo Inc."),
    "address": os.environ.get("REVOPS_COMPANY_ADDRESS", "1 Market Street, San Francisco, CA 94105, USA"),
    "email": os.environ.get("REVOPS_COMPANY_EMAIL", "billing@example.com"),
}
