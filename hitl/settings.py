"""Settings, read from the environment (see README "Configuration")."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from hitl.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HITL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE); `bin/demo` makes one for the demo."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN (CSP: default-src 'self')
    "django_celery_beat",
    "axes",
    "csp",
    "django_prometheus",  # request metrics for /metrics (ops.views; see "Metrics and readiness" below)
    # The rooms, lowest layer first (README, "How it works"; the layers contract in pyproject.toml).
    "audit",
    "accounts",
    "tasks",
    "models_registry",
    "annotations",
    "webhooks",
    "decisions",
    "dataio",
    "ops",
    "pages",
]

MIDDLEWARE = [
    # First and last: request latency and counts by view, method and status for /metrics.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A page whose database is unreachable answers 503 with Retry-After, not a 500 (the API: common.http_errors).
    "common.middleware.DatabaseUnavailableMiddleware",
    # A domain error (common.errors) under a page view: the 404 or 403 page, as Django's own.
    "common.middleware.DomainErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.csp_policy.CSPMiddleware",  # django-csp's, the settings' header built once
    # Last, so it sees the lockout flag the login attempt set (see "Login throttling" below).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "hitl.urls"
WSGI_APPLICATION = "hitl.wsgi.application"

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
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_secret("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'hitl.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        # A kept connection is checked before a request reuses it, so one the database dropped
        # (a restart, a failover) is replaced instead of failing the request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock up front, so two processes can never
    # both read "item is free" and then both lease it; WAL lets readers run meanwhile.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, with the health check above skipped for a connection used within the last
        # tenth of a second (common.postgresql.base): it was a round trip on every request of the labeling loop.
        DATABASES["default"]["ENGINE"] = "common.postgresql"
        # An unreachable database fails a request in seconds (503, common.http_errors), not minutes.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))
    # A second connection for job progress, which must show while the job's own transaction
    # is still open (see tasks.jobs.report_progress).
    DATABASES["jobs"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes' backend first: it refuses a locked-out username/address before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Single sign-on (below); it does nothing while SSO is not configured.
    "accounts.oidc.Backend",
]

# --- Single sign-on with OpenID Connect (mozilla-django-oidc; accounts/oidc.py, docs/sso.md) ----------
# Off unless HITL_OIDC_CLIENT_ID, HITL_OIDC_CLIENT_SECRET (or _FILE) and either HITL_OIDC_ISSUER or all four
# endpoints are set. With an issuer, the endpoints come from its /.well-known/openid-configuration, fetched
# once at the first SSO login (nothing is fetched when settings load); an endpoint set here wins.
# ID tokens are checked with the provider's JWKS (RS256), and the state, nonce and PKCE checks stay on.
HITL_OIDC_ISSUER = (env_str("HITL_OIDC_ISSUER") or "").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("HITL_OIDC_CLIENT_ID") or ""
OIDC_RP_CLIENT_SECRET = env_secret("HITL_OIDC_CLIENT_SECRET") or ""
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("HITL_OIDC_AUTHORIZATION_ENDPOINT") or ""
OIDC_OP_TOKEN_ENDPOINT = env_str("HITL_OIDC_TOKEN_ENDPOINT") or ""
OIDC_OP_USER_ENDPOINT = env_str("HITL_OIDC_USERINFO_ENDPOINT") or ""
OIDC_OP_JWKS_ENDPOINT = env_str("HITL_OIDC_JWKS_ENDPOINT") or ""
OIDC_RP_SIGN_ALGO = env_str("HITL_OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("HITL_OIDC_SCOPES", "openid email profile")
OIDC_USE_PKCE = env_bool("HITL_OIDC_PKCE", True)
OIDC_TIMEOUT = env_int("HITL_OIDC_TIMEOUT", 10)  # seconds, for each call to the provider
OIDC_CREATE_USER = env_bool("HITL_OIDC_CREATE_USERS", True)  # 0: only people who already have a linked account
OIDC_AUTHENTICATE_CLASS = "accounts.oidc.AuthenticateView"
OIDC_CALLBACK_CLASS = "accounts.oidc.CallbackView"
LOGIN_REDIRECT_URL_FAILURE = "/login/?sso=failed"
# The login page's button says "Log in with <this>".
HITL_OIDC_PROVIDER_NAME = env_str("HITL_OIDC_PROVIDER_NAME", "single sign-on")
# Roles: with a claim (e.g. "hitl_role" or "groups"; a string or a list), every SSO login sets the role from
# it: HITL_OIDC_ROLE_MAP ("hitl-admins=admin,labelers=annotator"; without a map, values that are role names)
# maps the values, the highest mapped role wins, none mapped gives the default role. Without a claim, a new
# user gets HITL_OIDC_DEFAULT_ROLE and admins set roles on the users page; SSO logins then never change them.
HITL_OIDC_ROLE_CLAIM = env_str("HITL_OIDC_ROLE_CLAIM") or ""
HITL_OIDC_ROLE_MAP = dict(
    (key.strip(), value.strip()) for key, _, value in
    (pair.partition("=") for pair in env_list("HITL_OIDC_ROLE_MAP", []))
)
HITL_OIDC_DEFAULT_ROLE = env_str("HITL_OIDC_DEFAULT_ROLE", "annotator")
# An SSO identity is linked to an existing account by the provider's `sub` only; with this, also to the one
# active account with the same (verified) email address, on its first SSO login.
HITL_OIDC_LINK_BY_EMAIL = env_bool("HITL_OIDC_LINK_BY_EMAIL", False)

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}

# Request bodies: JSON imports are parsed in memory up to this size; larger data goes
# through a file upload, which runs as a job.
HITL_MAX_JSON_BODY = env_int("HITL_MAX_JSON_BODY", 64 * 1024 * 1024)
HITL_MAX_UPLOAD = env_int("HITL_MAX_UPLOAD", 2 * 1024 * 1024 * 1024)
HITL_INLINE_IMPORT_MAX_BYTES = env_int("HITL_INLINE_IMPORT_MAX_BYTES", 8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = HITL_MAX_JSON_BODY
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
# Every upload goes to disk as it arrives (nothing large is held in memory), up to HITL_MAX_UPLOAD.
FILE_UPLOAD_HANDLERS = ["common.uploads.LimitedUploadHandler"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.LimitedJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PAGINATION_CLASS": "common.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.http_errors.exception_handler",
    # `?format=` is the export's own parameter, not a renderer choice.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "hitl API",
    "DESCRIPTION": "Human-in-the-loop annotation platform",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Request bodies are JSON (API.md); form encodings cannot carry the null, list and object values the
    # schema describes, so they are not offered (the import's multipart upload is declared on its own).
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
}

# Celery: Redis in production; with no broker configured, an embedded file-system broker
# that needs no server (one machine only).
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,  # seconds between looks at the queue folder
    }
else:
    # An unacknowledged job is handed to another worker after this long (worker died).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # How often workers sweep for such messages: every interval x throttle seconds.
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
        "unacked_restore_throttle": env_int("CELERY_UNACKED_RESTORE_THROTTLE", 10),
        # A Redis that is down or hung fails a publish in seconds instead of holding the request
        # (the job stays pending and is sent again, see HITL_JOB_RESEND_SECONDS).
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
# One quick retry (on a fresh connection: a pooled one may predate a Redis restart), then give up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0,
                                    "interval_max": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# The queue jobs are sent to and workers take them from (installations sharing one Redis set their own).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic jobs are registered by the apps themselves (AppConfig.ready -> tasks.jobs.register_periodic).
# A running job whose heartbeat is older than this is considered lost and re-queued.
HITL_JOB_STALL_SECONDS = env_int("HITL_JOB_STALL_SECONDS", 900)
# A job still waiting for its first run this long after it was created is sent to the workers again:
# its message could not be published (broker down) or was lost (broker restarted without its data).
HITL_JOB_RESEND_SECONDS = env_int("HITL_JOB_RESEND_SECONDS", 60)

# --- Sessions and API tokens ---------------------------------------------------------------------
# A browser session lasts this long from login (12 hours: a working day), then the user logs in again.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
# An API token is refused this long after it was issued (accounts.authentication); POST /api/auth/token/
# then issues a new one. Changing the password or deactivating the user revokes tokens and sessions at once.
HITL_TOKEN_TTL_SECONDS = env_int("HITL_TOKEN_TTL_SECONDS", 30 * 24 * 3600)

# A password reset link (made by an admin on the users page, or mailed by "Forgot your password?")
# works once, for this many hours.
PASSWORD_RESET_TIMEOUT = env_int("HITL_PASSWORD_RESET_HOURS", 24) * 3600
# Mail for "Forgot your password?": printed to the log unless an SMTP server is configured.
EMAIL_BACKEND = env_str("HITL_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("HITL_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("HITL_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("HITL_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_secret("HITL_EMAIL_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("HITL_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("HITL_EMAIL_FROM", "hitl@localhost")

# --- Login throttling (django-axes) ---------------------------------------------------------------
# After HITL_LOGIN_FAILURE_LIMIT failed logins for one username from one address, that pair is refused
# (even with the right password: 429) until HITL_LOGIN_LOCKOUT_SECONDS have passed since the last
# failure. The login page and POST /api/auth/token/ count together. `manage.py axes_reset` lifts it.
AXES_FAILURE_LIMIT = env_int("HITL_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("HITL_LOGIN_LOCKOUT_SECONDS", 15 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_ip"
# Failed attempts are kept (AccessAttempt); successful logins are not logged a second time here.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- HTTPS and security headers -------------------------------------------------------------------
# HITL_HTTPS: the site is served over HTTPS, by this server or by a TLS proxy in front of it. It turns
# on the redirect from http and HSTS (each can still be set on its own).
HITL_HTTPS = env_bool("HITL_HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HITL_HTTPS)
# The container's health check asks over plain http from inside (docker-compose.yml); it reveals nothing.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^readyz/$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HITL_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HITL_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS proxy (compose with a reverse proxy in front): trust its X-Forwarded-Proto, and nothing
# else's; the proxy must set (not pass on) that header. Client addresses then come from X-Forwarded-For.
HITL_BEHIND_TLS_PROXY = env_bool("HITL_BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HITL_BEHIND_TLS_PROXY else None
# Error reports leave out what the web server copied from the process environment into each request.
DEFAULT_EXCEPTION_REPORTER_FILTER = "common.error_reports.ExceptionReporterFilter"
# Cookies only over HTTPS in production; the demo (DEBUG, plain http) keeps them usable.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else [
    # HSTS preload is a promise about the whole registered domain (and every subdomain of it) that
    # only its owner can make, and it is hard to undo; SECURE_HSTS_PRELOAD=1 once that is decided.
    "security.W021",
]

# Content-Security-Policy (django-csp): scripts, styles, fonts and connections from this site only;
# no inline script or style (pages load static files and read their data from json_script). Images
# may also be data: URLs, and come from HITL_CSP_IMG_SRC (e.g. "https://images.example.com") for
# items whose data.image points at another server.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],  # the nonce only where a page asks for one (the API docs)
        "style-src": [SELF],
        "img-src": [SELF, "data:", *env_list("HITL_CSP_IMG_SRC", [])],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Metrics and readiness (ops.metrics, ops.readiness, docs/metrics.md) ------------------------------------
# GET /metrics is Prometheus' text exposition: for admins (session or API token), and for a scraper sending
# `Authorization: Bearer <HITL_METRICS_TOKEN>` when that is set. With several web server processes, set
# PROMETHEUS_MULTIPROC_DIR (environment only: prometheus_client reads it) to an empty directory the web
# processes share (docker-compose.yml: a tmpfs), so the request metrics of every process are added up.
# GET /readyz/ (unauthenticated) checks the database, the broker and the workers; /healthz/ stays liveness.
HITL_METRICS_TOKEN = env_secret("HITL_METRICS_TOKEN") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes: failed logins and lockouts (warnings), not four lines for every successful login.
    "loggers": {"axes": {"level": "WARNING"}},
}
