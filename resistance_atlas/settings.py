"""Settings for Resistance Atlas, read from the environment.

Development defaults just work (SQLite, an embedded Celery broker, DEBUG on);
production sets DJANGO_DEBUG=false and then must provide a secret key, hosts
and a real database. See README.md for every variable.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from resistance_atlas.env import env_bool, env_float, env_int, env_list, env_rate, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files of the embedded mode: SQLite DBs, locks, beat schedule, the `make run` lock.
VAR_DIR = Path(env_str("ATLAS_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_secret(
    "DJANGO_SECRET_KEY",
    required=not DEBUG,
    dev_default="dev-only-insecure-key-resistance-atlas-never-use-in-production",
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "resistance_atlas.admin_site.AtlasAdminConfig",  # django.contrib.admin on a site that refuses bad filters
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served as our own static files
    "axes",
    "curation",
]

MIDDLEWARE = [
    "resistance_atlas.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Anonymous readers' public pages from the cache (curation/page_cache.py): after the HTTPS redirect and
    # before everything else, which a cached page has been through already (its stored headers include
    # the CSP and Permissions-Policy); it leaves to UnstorableInputMiddleware any request that would refuse.
    "curation.page_cache.PublicPageCacheMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "resistance_atlas.middleware.UnstorableInputMiddleware",  # before anything can send a NUL to PostgreSQL
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: it turns a lockout into its page
]

ROOT_URLCONF = "resistance_atlas.urls"
WSGI_APPLICATION = "resistance_atlas.wsgi.application"

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

# One URL names the database. SQLite is the no-server default; production must
# point DATABASE_URL at PostgreSQL; with DEBUG off, SQLite is refused.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'atlas.sqlite3'}")
# Production keeps each process's connection open (connecting costs more than most pages' queries);
# CONN_HEALTH_CHECKS pings a reused connection first, so a restarted database costs one reconnect, not a 500.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 600, minimum=0),
        # A persistent connection is tested before a request reuses it: after a database restart the
        # first request reconnects instead of failing on the dead connection.
        conn_health_checks=True,
    )
}
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # A database host that does not answer must fail a request (503) in seconds, not hang it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    if not DEBUG:
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL when DJANGO_DEBUG is off")
    VAR_DIR.mkdir(exist_ok=True)
    # Wait for a writer instead of failing at once: the web process and the
    # embedded worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["TEST"] = {"NAME": env_str("DJANGO_SQLITE_TEST_NAME", "") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

# --- Security: on whenever DEBUG is off (`manage.py check --deploy` passes) ---
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# The atlas serves every script, style, font and image itself (no CDN) and has no inline
# script or style (tests/test_security_headers.py scans the templates; the browser tests
# record violations on every page), so the policy needs no 'unsafe-inline' and no nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # the admin's stylesheets draw a few icons as data: URLs
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Features no page of the atlas uses, denied to the page and to anything it might embed.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# --- Sign-in throttling (django-axes) ---------------------------------------------
# After LOGIN_FAILURE_LIMIT failed sign-ins, that username is locked out from that address
# for LOGIN_COOLOFF_MINUTES (every further failure restarts the wait). Keyed by both, so a
# guesser elsewhere cannot lock a curator out. Admins lift a lockout at once under Axes ›
# Access attempts (delete the row), or with `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "resistance_atlas.sign_in.lockout_response"
AXES_USERNAME_CALLABLE = "resistance_atlas.sign_in.bounded_username"
if SECURE_PROXY_SSL_HEADER:
    AXES_CLIENT_IP_CALLABLE = "resistance_atlas.sign_in.forwarded_client_ip"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Celery -------------------------------------------------------------------
# The embedded default needs no server: kombu's SQLAlchemy transport keeps the
# queue in a SQLite file. Production points CELERY_BROKER_URL at Redis.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # progress lives in RefreshRun rows, not in a result backend
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds between beat's passes that requeue refresh batches no live task holds (curation.recovery).
RECOVERY_INTERVAL = env_int("RECOVERY_INTERVAL", 60, minimum=1)
# Seconds between worker heartbeats (a beat task a worker runs); /healthz calls a heartbeat older than
# HEARTBEAT_MAX_AGE a dead worker (or a dead beat, or a broker nothing reads from).
HEARTBEAT_INTERVAL = env_int("HEARTBEAT_INTERVAL", 30, minimum=1)
HEARTBEAT_MAX_AGE = env_int("HEARTBEAT_MAX_AGE", 4 * HEARTBEAT_INTERVAL, minimum=HEARTBEAT_INTERVAL + 1)

REFERENCE_STALE_DAYS = env_int("REFERENCE_STALE_DAYS", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "refresh-stale-references-daily": {
        "task": "curation.tasks.refresh_stale_references",
        "schedule": 24 * 60 * 60,
    },
    "export-release-monthly": {
        "task": "curation.tasks.export_release",
        "schedule": crontab(day_of_month="1", hour="3", minute="0"),
    },
    "run-due-saved-searches-hourly": {
        "task": "curation.tasks.run_due_searches",
        "schedule": 60 * 60,
    },
    "recover-abandoned-refreshes": {
        "task": "curation.tasks.recover_abandoned_refreshes",
        "schedule": RECOVERY_INTERVAL,
        # Passes queued while no worker ran are not all run when one comes back: each is cheap, but
        # after ten intervals the next pass has superseded it.
        "options": {"expires": 10 * RECOVERY_INTERVAL},
    },
    "worker-heartbeat": {
        "task": "curation.tasks.record_heartbeat",
        "schedule": HEARTBEAT_INTERVAL,
        # It waits in the queue behind any backlog, so /healthz sees a worker that cannot keep up too.
        "options": {"expires": HEARTBEAT_MAX_AGE},
    },
}

# --- NCBI E-utilities ----------------------------------------------------------
NCBI_EUTILS_URL = env_str("NCBI_EUTILS_URL", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")
NCBI_API_KEY = env_str("NCBI_API_KEY", "")
NCBI_EMAIL = env_str("NCBI_EMAIL", "")
if not DEBUG and not NCBI_EMAIL:
    # NCBI contacts this address before blocking a misbehaving client; Biopython only warns.
    raise ImproperlyConfigured("NCBI_EMAIL must be set when DJANGO_DEBUG is off")
NCBI_TOOL = env_str("NCBI_TOOL", "resistance-atlas")
NCBI_TIMEOUT = env_float("NCBI_TIMEOUT", 30.0)
NCBI_BATCH_SIZE = env_int("NCBI_BATCH_SIZE", 200, minimum=1)
NCBI_MAX_ATTEMPTS = env_int("NCBI_MAX_ATTEMPTS", 5, minimum=1)
NCBI_BACKOFF_BASE = env_float("NCBI_BACKOFF_BASE", 1.0)
NCBI_BACKOFF_MAX = env_float("NCBI_BACKOFF_MAX", 30.0)
# Requests per second shared by every worker; unset means NCBI's own limit
# (10/s with an API key, 3/s without).
NCBI_RATE_LIMIT = env_float("NCBI_RATE_LIMIT", None)
NCBI_RATE_LIMITER_URL = env_str("NCBI_RATE_LIMITER_URL", "") or None

# --- Task time limits and the broker's redelivery window ---------------------------
# A worker killed mid-task (kill -9 of its process group, the host lost) never acks its message
# (acks_late); Redis hands it to another worker once it has been unacknowledged for the
# visibility timeout. That window must outlast any live task, or a running batch would be
# delivered twice (harmless, the batch is idempotent, but wasted): so every task has a hard time
# limit, retries wait less than the window, and the window is their maximum plus a margin.
# The defaults bound a refresh batch's worst case: NCBI_MAX_ATTEMPTS requests of NCBI_TIMEOUT
# each (150 s by default) plus the client's back-offs and the rate limiter's waits.
TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT", 300, minimum=1)
TASK_TIME_LIMIT = env_int("TASK_TIME_LIMIT", TASK_SOFT_TIME_LIMIT + 30, minimum=TASK_SOFT_TIME_LIMIT + 1)
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT  # raises SoftTimeLimitExceeded: the task records the failure
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT  # the pool kills the process; beat's recovery pass requeues its items
# Task-level retries (curation.tasks) wait at most this long before trying again.
TASK_RETRY_WAIT_MAX = int(max(1, 8 * NCBI_BACKOFF_MAX))
_LONGEST_HOLD = max(TASK_TIME_LIMIT, TASK_RETRY_WAIT_MAX)
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", _LONGEST_HOLD + 60, minimum=_LONGEST_HOLD + 1)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        # Workers sweep for messages past the window this often (kombu's default is every ~100 s).
        "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 4)),
        "unacked_restore_throttle": 1,
    }
# (The embedded SQLAlchemy transport hands its options to create_engine, which refuses these; its
# single-machine worker requeues what it held when it restarts.)
# A refresh item no task has touched for this long has lost its message (the broker restarted without
# it, or its failure could not be recorded): beat's recovery pass queues it again.
REFRESH_STUCK_AFTER = env_int("REFRESH_STUCK_AFTER", CELERY_VISIBILITY_TIMEOUT + 60, minimum=CELERY_VISIBILITY_TIMEOUT)
# A reference whose batch was lost this many times fails with that reason instead of being queued again.
REFRESH_MAX_RECOVERIES = env_int("REFRESH_MAX_RECOVERIES", 3, minimum=1)

# Curation rule: evidence older than this many years flags a mechanism on the dashboard.
EVIDENCE_STALE_YEARS = env_int("EVIDENCE_STALE_YEARS", 5, minimum=1)

# --- Read API (/api/) and data releases -------------------------------------------
# Anonymous and read-only: no authentication is read (so no session or CSRF token is
# ever part of an API response, which is gzipped), and JSON is the only renderer.
API_THROTTLE_RATE = env_rate("API_THROTTLE_RATE", "600/minute")
API_MAX_PAGE_SIZE = 1000
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": ["curation.api.throttling.AnonymousReaderThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": API_THROTTLE_RATE},
    "DEFAULT_SCHEMA_CLASS": "curation.api.schema.AtlasAutoSchema",
    # The client address is REMOTE_ADDR, or the last proxy's X-Forwarded-For entry behind our own
    # proxy; otherwise a client could name any address in X-Forwarded-For and never be throttled.
    "NUM_PROXIES": 1 if SECURE_PROXY_SSL_HEADER else 0,
}
# Throttle counters: in this process's memory unless API_THROTTLE_CACHE_URL names a Redis
# shared by every web process (set it whenever gunicorn runs more than one worker).
_THROTTLE_CACHE_URL = env_str("API_THROTTLE_CACHE_URL", "")
# Public pages for anonymous readers (curation/page_cache.py): per process, keyed by the content
# version, so a change anywhere in the atlas is seen at once; PAGE_CACHE_SECONDS also bounds an
# entry's life (0 turns the cache off), PAGE_CACHE_ENTRIES its size (least recently used out first).
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", 600, minimum=0)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "pages",
        "OPTIONS": {"MAX_ENTRIES": env_int("PAGE_CACHE_ENTRIES", 500, minimum=1)},
    },
    "api-throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _THROTTLE_CACHE_URL}
        if _THROTTLE_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api-throttle"}
    ),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Resistance Atlas API",
    "DESCRIPTION": "Read-only access to the published atlas: mechanisms of immunotherapy resistance, the "
    "evidence for them and the papers it cites. No token is needed. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
}

# Where `export_release` writes releases (one folder each); the downloads page serves them from here.
DATA_RELEASES_DIR = Path(env_str("DATA_RELEASES_DIR", "") or VAR_DIR / "releases")
# The site's public address (https://atlas.example.org); when set, a release's citation links its downloads page.
ATLAS_PUBLIC_URL = env_str("ATLAS_PUBLIC_URL", "")
# --- Literature triage (saved PubMed searches feeding the curation queue) --------
# The first run of a saved search (and the first after its query changes) looks back this far.
TRIAGE_FIRST_LOOKBACK_DAYS = env_int("TRIAGE_FIRST_LOOKBACK_DAYS", 730, minimum=1)
# A run whose window holds more PMIDs than this ends with that reason and adds nothing: narrow the query.
TRIAGE_MAX_HITS_PER_RUN = env_int("TRIAGE_MAX_HITS_PER_RUN", 20_000, minimum=1)
# After a failed run, a search is due again this many hours later (NCBI down, a query NCBI rejects).
TRIAGE_RETRY_AFTER_HOURS = env_int("TRIAGE_RETRY_AFTER_HOURS", 6, minimum=1)
# Papers one signed-in reader may suggest per day.
TRIAGE_SUGGESTIONS_PER_DAY = env_int("TRIAGE_SUGGESTIONS_PER_DAY", 10, minimum=1)
