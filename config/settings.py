"""AgentLedger settings: one file, driven by environment variables (see .env.example).

The defaults run the embedded mode (SQLite under var/, a file-system Celery broker) with no
configuration. DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Redis/RabbitMQ.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()  # lets admin classes be written ModelAdmin[Model]

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.getenv(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def envint(name: str, default: int) -> int:
    raw = os.getenv(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None


def envsecret(name: str, default: str = "") -> str:
    """Read NAME, else the file named by NAME_FILE (Docker/Kubernetes secrets), else the default."""
    if value := os.getenv(name):
        return value
    if path := os.getenv(f"{name}_FILE"):
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    return default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)
VAR_DIR = BASE_DIR / os.getenv("AGENTLEDGER_VAR_DIR", "var")  # relative paths are under the checkout


def generated_secret_key(path: Path) -> str:
    """The key `make run` generates once into var/secret_key, or "" when there is none. With it,
    the README's `manage.py` commands typed beside a running server sign what the server signs."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ImproperlyConfigured(f"{path} (the key `make run` generated) cannot be read: {exc}") from None


_DEFAULT_SECRET_KEY = "agentledger-insecure-development-key"  # noqa: S105  (refused below unless DEBUG)
_GENERATED_SECRET_KEY = VAR_DIR / "secret_key"
if os.getenv("SECRET_KEY") or os.getenv("SECRET_KEY_FILE"):
    SECRET_KEY = envsecret("SECRET_KEY", _DEFAULT_SECRET_KEY)
else:
    SECRET_KEY = generated_secret_key(_GENERATED_SECRET_KEY) or _DEFAULT_SECRET_KEY
if not DEBUG and SECRET_KEY == _DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, "
        f"or DEBUG=true for local development. `make run` generates one into {_GENERATED_SECRET_KEY}, "
        "which manage.py commands then use."
    )
# Where `make run` (manage.py serve) listens; SITE_URL, the address links in alerts and the demo's
# output use, follows PORT unless set. A running `serve` writes its URL to SERVER_URL_FILE.
AGENTLEDGER_HOST = os.getenv("HOST", "").strip() or "127.0.0.1"
AGENTLEDGER_PORT = envint("PORT", 8000)
if not 0 < AGENTLEDGER_PORT < 65536:
    raise ImproperlyConfigured(f"PORT={AGENTLEDGER_PORT} is not a TCP port (1-65535)")
SERVER_URL_FILE = VAR_DIR / "server-url"
SITE_URL = (os.getenv("SITE_URL", "").strip() or f"http://127.0.0.1:{AGENTLEDGER_PORT}").rstrip("/")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", SITE_URL)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "tenancy",
    "pricing",
    "ingest",
    "aggregates",
    "dashboard",
    "budgets",
    "scores",
    "demo",
]

MIDDLEWARE = [
    "config.request_body.read_chunked_bodies",
    "django.middleware.security.SecurityMiddleware",
    "config.nul_guard.refuse_nul_parameters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.content_security_policy",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.reset_timezone",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "dashboard.context_processors.switchable_projects",
            ],
            # {% partialdef %} in every template, as in Django 6 where it is built in
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]


_SQLITE_OPTIONS = {
    # WAL + IMMEDIATE transactions let the web server and the Celery worker write the same
    # file without "database is locked" errors.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}


def _database() -> dict[str, Any]:
    url = os.getenv("DATABASE_URL", "") or f"sqlite:///{VAR_DIR / 'agentledger.sqlite3'}"
    try:
        config = dict(dj_database_url.parse(url, conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60)))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(str(config["NAME"])).parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = _SQLITE_OPTIONS
        config["CONN_MAX_AGE"] = 0
        config["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "dashboard.staticfiles.PlotlyFinder",  # vendor/plotly.min.js from the plotly package: no CDN
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Hashed file names need `collectstatic` (which `make run` does); DEBUG and the test suite serve
# the source files directly instead.
if DEBUG or not envbool("AGENTLEDGER_HASHED_STATIC", True):
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_USE_FINDERS = True

# HTTPS: AGENTLEDGER_HTTPS=true is the one switch for a site served over TLS (redirect to https,
# HSTS, cookies sent only over TLS); the Django variables below override single parts of it.
AGENTLEDGER_HTTPS = envbool("AGENTLEDGER_HTTPS", False)
AGENTLEDGER_BEHIND_TLS_PROXY = envbool("AGENTLEDGER_BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if AGENTLEDGER_BEHIND_TLS_PROXY else None
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", AGENTLEDGER_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", AGENTLEDGER_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancer probes often speak plain HTTP
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if AGENTLEDGER_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", AGENTLEDGER_HTTPS)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# The browsers' preload list takes registrable domains and is slow to leave, which a self-hosted
# dashboard on a subdomain rarely wants; `check --deploy` stays quiet about it unless opted in.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # project slugs and trace ids never leak to other sites
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy of every response (config/csp.py; Django 6 reads the same setting).
# Scripts: only our own files, never inline code or eval (plotly.js needs neither). Styles: our
# stylesheet and two inline <style> elements of plotly.js, each allowed by the hash of its text:
# the empty one it fills through the CSSOM (which CSP allows), and the MapLibre stylesheet it
# bundles (plotly.js 4.1; tests/security/test_csp_browser.py names the new hash when an upgrade
# changes it). Style attributes stay allowed: the meters, waterfall bars and tree indents carry
# widths computed per row, and plotly.js sets a few; an attribute can hold no script, and the
# values are our own numbers.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": [
        "'self'",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (plotly.js-style-global)
        "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",  # MapLibre's CSS in plotly.min.js
    ],
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's JSON parser, but a body nested too deeply to parse is a 400, not a 500
    "DEFAULT_PARSER_CLASSES": [
        "ingest.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["tenancy.ratelimit.ProjectKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "config.api_errors.exception_handler",  # a database outage is a 503
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AgentLedger API",
    "DESCRIPTION": "Intake and query API of AgentLedger, the self-hosted agent observability dashboard.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Two "scope" fields: the budgets' keeps the name it always had in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ScopeEnum": "budgets.models.Budget.Scope",
        "AnomalyRuleScopeEnum": "budgets.models.AnomalyRule.Scope",
    },
}

# Celery. Embedded default: a file-system broker under var/ (no server to run); production:
# CELERY_BROKER_URL=redis://… or amqp://….
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "") or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 360)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Rollups (aggregates/): minute rows are kept this many days (hour and day rows as long as the
# project keeps its runs). Intake wakes the delta pass at most once per DELTA_WAKE_SECONDS.
AGENTLEDGER_MINUTE_RETENTION_DAYS = envint("AGENTLEDGER_MINUTE_RETENTION_DAYS", 7)
AGENTLEDGER_DELTA_WAKE_SECONDS = envint("AGENTLEDGER_DELTA_WAKE_SECONDS", 1)
# Seconds between two judgements of the monitors (and two outbox passes): the beat entries
# "evaluate-monitors" and "deliver-alerts" (config/celery.py). Lower only to watch alerts sooner in
# a test or a soak: monitors judge complete minutes, so a breach still waits for its minute's end.
AGENTLEDGER_MONITOR_INTERVAL_SECONDS = envint("AGENTLEDGER_MONITOR_INTERVAL_SECONDS", 60)
if AGENTLEDGER_MONITOR_INTERVAL_SECONDS < 1:
    raise ImproperlyConfigured(
        f"AGENTLEDGER_MONITOR_INTERVAL_SECONDS={AGENTLEDGER_MONITOR_INTERVAL_SECONDS} must be at least 1"
    )

# Intake limits
AGENTLEDGER_MAX_REQUEST_BYTES = envint("AGENTLEDGER_MAX_REQUEST_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = AGENTLEDGER_MAX_REQUEST_BYTES
# Requests per minute per project API key (ingest/ratelimit.py); 0 turns the limit off.
AGENTLEDGER_KEY_RATE_LIMIT = envint("AGENTLEDGER_KEY_RATE_LIMIT", 6000)
# Sign-in throttling (tenancy/signin.py): after this many failed sign-ins for one username (four
# times as many from one address) within the window, sign-in is refused until the window ends.
AGENTLEDGER_LOGIN_MAX_FAILURES = envint("AGENTLEDGER_LOGIN_MAX_FAILURES", 5)
AGENTLEDGER_LOGIN_LOCKOUT_SECONDS = envint("AGENTLEDGER_LOGIN_LOCKOUT_SECONDS", 15 * 60)
for _name in ("AGENTLEDGER_KEY_RATE_LIMIT", "AGENTLEDGER_LOGIN_MAX_FAILURES"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be 0 (off) or more")
if AGENTLEDGER_LOGIN_LOCKOUT_SECONDS < 1:
    raise ImproperlyConfigured(
        f"AGENTLEDGER_LOGIN_LOCKOUT_SECONDS={AGENTLEDGER_LOGIN_LOCKOUT_SECONDS} must be at least 1"
    )


def _cache() -> dict[str, Any]:
    """The cache holding rate-limit and sign-in counters. Every process that serves requests must
    share it, so never the per-process memory cache: CACHE_URL=redis://… (one Redis for all web
    nodes), else files under var/cache, shared by the gunicorn workers, the gRPC server and Celery
    of `make run` on one machine."""
    url = os.getenv("CACHE_URL", "").strip()
    if not url:
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 10_000},  # culling drops random entries: keep it rare
        }
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "agentledger",
            # A Redis outage must not stall requests: the counters fail open after a second.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    raise ImproperlyConfigured(
        f"CACHE_URL={url!r} is not a redis://, rediss:// or unix:// URL (leave it empty for files under var/cache)"
    )


CACHES = {"default": _cache()}

AGENTLEDGER_ADMIN_PASSWORD = envsecret("AGENTLEDGER_ADMIN_PASSWORD")

# LLM-as-judge evaluators (scores/). The endpoint and key of judges that name none; the key is
# sent only to this URL. A pass makes at most CALLS_PER_PASS calls, CONCURRENCY at a time, and
# grades a run only once nothing about it changed for SETTLE_SECONDS. ALLOWED_HOSTS (empty: any)
# limits the hosts an evaluator may name as its judge.
AGENTLEDGER_JUDGE_BASE_URL = os.getenv("AGENTLEDGER_JUDGE_BASE_URL", "").strip() or "https://api.openai.com/v1"
AGENTLEDGER_JUDGE_API_KEY = envsecret("AGENTLEDGER_JUDGE_API_KEY")
AGENTLEDGER_JUDGE_TIMEOUT = envint("AGENTLEDGER_JUDGE_TIMEOUT", 60)
AGENTLEDGER_JUDGE_CONCURRENCY = envint("AGENTLEDGER_JUDGE_CONCURRENCY", 4)
AGENTLEDGER_JUDGE_CALLS_PER_PASS = envint("AGENTLEDGER_JUDGE_CALLS_PER_PASS", 50)
AGENTLEDGER_JUDGE_SETTLE_SECONDS = envint("AGENTLEDGER_JUDGE_SETTLE_SECONDS", 30)
AGENTLEDGER_JUDGE_ALLOWED_HOSTS = envlist("AGENTLEDGER_JUDGE_ALLOWED_HOSTS", "")
for _name in ("AGENTLEDGER_JUDGE_TIMEOUT", "AGENTLEDGER_JUDGE_CONCURRENCY", "AGENTLEDGER_JUDGE_CALLS_PER_PASS"):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]} must be at least 1")
if not AGENTLEDGER_JUDGE_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"AGENTLEDGER_JUDGE_BASE_URL={AGENTLEDGER_JUDGE_BASE_URL!r} is not an http(s) URL")

# Alert destinations (budgets/delivery/). ALLOWED_HOSTS (empty: any) limits the hosts a Slack or
# webhook destination may name. PagerDuty events go to PAGERDUTY_EVENTS_URL (Events API v2).
AGENTLEDGER_DESTINATION_ALLOWED_HOSTS = envlist("AGENTLEDGER_DESTINATION_ALLOWED_HOSTS", "")
AGENTLEDGER_PAGERDUTY_EVENTS_URL = (
    os.getenv("AGENTLEDGER_PAGERDUTY_EVENTS_URL", "").strip() or "https://events.pagerduty.com/v2/enqueue"
)
if not AGENTLEDGER_PAGERDUTY_EVENTS_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"AGENTLEDGER_PAGERDUTY_EVENTS_URL={AGENTLEDGER_PAGERDUTY_EVENTS_URL!r} is not an http(s) URL"
    )

# E-mail destinations: SMTP when EMAIL_HOST is set, else the console (`make run` prints e-mails).
EMAIL_HOST = os.getenv("EMAIL_HOST", "").strip()
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10  # seconds: a stalled mail server must not hold the delivery worker
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "").strip() or "AgentLedger <agentledger@localhost>"
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: STARTTLS (587) or TLS from the start (465)"
    )
if not 0 < EMAIL_PORT < 65536:
    raise ImproperlyConfigured(f"EMAIL_PORT={EMAIL_PORT} is not a TCP port (1-65535)")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # httpx2 logs every request's full URL at INFO: a webhook's URL is a secret.
        "httpx2": {"level": "WARNING"},
    },
}
