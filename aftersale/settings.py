"""Django settings. Every knob is an AFTERSALE_* environment variable (see README)."""

import datetime as dt
import os
import warnings
from pathlib import Path

import dj_database_url
from csp import constants as csp

from aftersale.lib import installation
from aftersale.lib.env import env_bool, env_choice, env_int, env_secret, env_str
from aftersale.lib.logs import FORMATS, logging_config
from aftersale.messaging.delivery.transports.config import (
    email_transport,
    esp_options,
    esp_settings,
)

BASE_DIR = Path(__file__).resolve().parent
# Read only: `aftersale` (cli.py) and wsgi.py create the home and its generated key at
# start (lib/installation.py); importing settings creates nothing.
DATA_DIR = installation.home()
DATABASE_URL = installation.database_url(DATA_DIR)
SECRET_KEY = installation.secret_key(DATA_DIR, DATABASE_URL)
# numba (recommendations/pair_counts.py) caches its compiled loops beside the source, or
# in the user's cache folder: a service user may own neither, and with no writable place
# numba refuses to load the module. The home is writable wherever Aftersale runs. Set
# here, before numba is imported; processes started from this one inherit it.
os.environ.setdefault("NUMBA_CACHE_DIR", str(DATA_DIR / "cache" / "numba"))
# Production mode (aftersale/production, docs/deployment.md): Celery workers and beat on
# this Redis broker; "" is the embedded mode (the worker loop in `aftersale serve`).
BROKER_URL = installation.broker_url(DATABASE_URL)
# The bearer token Prometheus sends to /metrics (or AFTERSALE_METRICS_TOKEN_FILE); unset,
# /metrics does not exist.
METRICS_TOKEN = env_secret("AFTERSALE_METRICS_TOKEN")
DEBUG = env_bool("AFTERSALE_DEBUG", False)
ALLOWED_HOSTS = env_str("AFTERSALE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
PUBLIC_URL = env_str("AFTERSALE_PUBLIC_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "csp",
    # django-ninja's templates and static files: the API docs served by Aftersale itself
    # (Swagger UI from our /static/, never a CDN).
    "ninja",
    "axes",
    "aftersale.stores",
    "aftersale.catalog",
    "aftersale.customers",
    "aftersale.orders",
    "aftersale.coupons",
    "aftersale.flows",
    "aftersale.recommendations",
    "aftersale.messaging",
    "aftersale.tracking",
    "aftersale.segments",
    "aftersale.attribution",
    "aftersale.reports",
    "aftersale.integrations",
    "aftersale.worker",
    "aftersale.api",
    "aftersale.demo",
    "aftersale.dashboard",
    "aftersale.production",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the apps' folders, compressed and cached, before any
    # other middleware spends time on them: the embedded default has no front web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "aftersale.urls"
WSGI_APPLICATION = "aftersale.wsgi.application"

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
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("AFTERSALE_DB_CONN_MAX_AGE", 0),
        # A kept connection is checked before its first use in a request or task, so one
        # broken by a database restart is replaced instead of failing that request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE avoids
    # upgrade deadlocks between concurrent writers.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
STATIC_URL = "static/"
# `aftersale collectstatic` copies the files here for a front web server; without it,
# whitenoise serves them from the apps' static folders (the finders, read at start: a
# file added later needs a restart).
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True
# Until `collectstatic` has run, STATIC_ROOT is missing, as it should be: not a warning.
warnings.filterwarnings("ignore", message="No directory at: ")
WHITENOISE_AUTOREFRESH = False

# The dashboard (docs/dashboard.md): Django's own login.
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "dashboard:login"
# Wrong passwords (dashboard and admin sign-in alike) are throttled by django-axes: after
# AXES_FAILURE_LIMIT failures of one username from one address, that pair is refused,
# the right password too, until the cool-off has passed since the last failure.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AFTERSALE_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AFTERSALE_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "dashboard/locked_out.html"

# Security headers and HTTPS (README, "Running in production"). Pages load scripts,
# styles and images from this server only and may not be framed.
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}
_HTTPS = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("AFTERSALE_SECURE_COOKIES", _HTTPS)
SECURE_SSL_REDIRECT = env_bool("AFTERSALE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("AFTERSALE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("AFTERSALE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("AFTERSALE_HSTS_PRELOAD", False)
if env_bool("AFTERSALE_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets X-Forwarded-Proto itself, never passing the client's.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

EMAIL_BACKEND = env_str("AFTERSALE_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("AFTERSALE_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env_int("AFTERSALE_SMTP_PORT", 2525)
EMAIL_HOST_USER = env_str("AFTERSALE_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_secret("AFTERSALE_SMTP_PASSWORD")
EMAIL_USE_TLS = env_bool("AFTERSALE_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("AFTERSALE_SMTP_TLS", False)
EMAIL_TIMEOUT = env_int("AFTERSALE_SMTP_TIMEOUT", 30)
# How the sender hands email over: "smtp" (the relay above, pipelined) or
# "anymail:<esp>" with AFTERSALE_ESP_API_KEY etc. (aftersale/messaging/transports/config.py).
EMAIL_TRANSPORT = email_transport()
EMAIL_ESP_OPTIONS = esp_options(EMAIL_TRANSPORT)

# django-anymail's webhooks (docs/webhooks.md): the ESP's AFTERSALE_ESP_* options (its
# webhook views read them here), the "user:password" every ESP must send as HTTP basic
# auth, and Mailgun's signing key. Unset keys are left out, never empty: an empty signing
# key would accept any signature. Without the secret, serve and worker refuse to start
# (aftersale/tracking/webhooks.py).
ANYMAIL = esp_settings(EMAIL_TRANSPORT, EMAIL_ESP_OPTIONS) | {
    name: value
    for name, value in {
        "WEBHOOK_SECRET": env_secret("AFTERSALE_WEBHOOK_SECRET"),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env_secret("AFTERSALE_MAILGUN_WEBHOOK_SIGNING_KEY"),
    }.items()
    if value
}

# How many due enrollments / queued messages one scheduler pass claims.
SCHEDULER_BATCH_SIZE = env_int("AFTERSALE_SCHEDULER_BATCH_SIZE", 500)
SCHEDULER_LEASE_SECONDS = env_int("AFTERSALE_SCHEDULER_LEASE_SECONDS", 300)
# The holdout share (percent, 0-50) of a flow whose definition names none: that share of
# its customers is sent nothing, so its report can say what the flow caused.
FLOW_HOLDOUT_PERCENT = env_int("AFTERSALE_HOLDOUT_PERCENT", 10)
# Tracked emails are finished the compiled way (messaging/shapes.py, built on Jinja2's
# private code generator); false renders every email the plain way, the reference
# (messaging/rendering.compiled_emails). Another Jinja2 than 3.1 turns it off anyway.
COMPILED_EMAILS = env_bool("AFTERSALE_COMPILED_EMAILS", True)

# Every unhandled error of a request (django.request) and every warning of Django's own
# security checks is written with its traceback, as one JSON line (lib.logs), to stderr.
# Aftersale's log lines as text, or as one JSON object a line (lib/logs.py) for a log
# collector: the default in production mode.
LOGGING = logging_config(
    level=env_str("AFTERSALE_LOG_LEVEL", "WARNING"),
    log_format=env_choice(
        "AFTERSALE_LOG_FORMAT", "json" if BROKER_URL else "text", choices=FORMATS
    ),
)

# Threads the daily fit's neighbour search runs on (faiss and BLAS): by default every core
# this process may run on (its affinity), since the fit queue's worker owns its machine;
# 1 where the fit shares a busy machine (recommendations/neighbours.py).
FIT_THREADS = max(1, env_int("AFTERSALE_FIT_THREADS", len(os.sched_getaffinity(0))))
