"""Settings of the OCS GE collaborative review platform, read from the environment.

Every value has a development default except SECRET_KEY, which is required when DEBUG is
off. See README.md for the list of variables.
"""

import datetime
from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_required, env_str, redis_reachable

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=True)
if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "dev-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env_required("SECRET_KEY")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "ocsge_web.admin.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    # Not "rest_framework_gis": its ready() imports DRF's serializers (0.1 s at every
    # command's start) to map geometry fields, and the one geometry the API writes
    # declares its field (`signalements.api.WGS84`).
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "csp",
    "axes",
    "knox",
    "apps.territories",
    "apps.landcover",
    "apps.signalements",
    "apps.artif",
    "apps.campaigns",
    "apps.ops",
    "apps.inference",
    "apps.accounts",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ocsge_web.middleware.MalformedRequestMiddleware",
    "ocsge_web.middleware.StatementTimeoutMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, the session's user read with the session (apps/accounts/sessions.py).
    "apps.accounts.sessions.AuthenticationMiddleware",
    # A personal API token on the pages GIS clients read (OGC API, tiles): GET only.
    "apps.accounts.tokens.TokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "ocsge_web.middleware.DatabaseUnavailableMiddleware",
    # Last, as its documentation asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Each SQL statement of a web request stops after this (0: none); the request answers 503.
# The worst request found on the million-polygon benchmark takes well under it
# (docs/reliability.md); imports, recomputations and tasks run in workers, without it.
REQUEST_STATEMENT_TIMEOUT_MS = env_int("REQUEST_STATEMENT_TIMEOUT_MS", 5000)
# Work bounded by the data, not by the request: a département's figures, a z ≤ 11 tile built
# once per revision (seconds on a million polygons).
FIGURES_STATEMENT_TIMEOUT_MS = env_int("FIGURES_STATEMENT_TIMEOUT_MS", 60000)

# Cached vector tiles (z ≤ 11, non-empty only) kept per vintage at most.
TILE_CACHE_MAX_PER_VINTAGE = env_int("TILE_CACHE_MAX_PER_VINTAGE", 5000)
# Detail tiles (z12–z16: their polygons' layer, shared by every viewer) kept per vintage at
# most, each until a correction of one of its polygons (about 100 MB for 5,000 at z14).
TILE_DETAIL_CACHE_MAX_PER_VINTAGE = env_int("TILE_DETAIL_CACHE_MAX_PER_VINTAGE", 5000)
# A cached tile a revision behind is rebuilt by a worker, asked at most this often per tile.
TILE_REFRESH_SECONDS = env_int("TILE_REFRESH_SECONDS", 60)
# The quality report's « before corrections » is computed by a worker, asked this often at most.
BASELINE_ASK_SECONDS = env_int("BASELINE_ASK_SECONDS", 60)

ROOT_URLCONF = "ocsge_web.urls"
WSGI_APPLICATION = "ocsge_web.wsgi.application"

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
                "apps.accounts.context_processors.accounts",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/ocsge"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        engine="django.contrib.gis.db.backends.postgis",
    )
}
# No JIT compilation: PostgreSQL compiles a statement whose *estimated* cost passes
# jit_above_cost, and the estimates of PostGIS statements are far off — the incremental
# difference after one correction (5 ms of work, estimated at 9.5 million rows) spent 0.9 s
# compiling, and a burst of 800 decisions kept the worker busy 16 minutes. DB_JIT=true
# gives PostgreSQL's default back.
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = " ".join(  # after any `?options=` of DATABASE_URL, which is kept
    filter(None, [_options.get("options", ""), "-c jit=" + ("on" if env_bool("DB_JIT") else "off")])
)
# A second connection to the same database, for progress written while a long import's
# transaction is open (tests mirror it onto the default connection).
DATABASES["progress"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# GDAL / GEOS: found by ctypes; override with the environment where needed.
if env_str("GDAL_LIBRARY_PATH"):
    GDAL_LIBRARY_PATH = env_str("GDAL_LIBRARY_PATH")
if env_str("GEOS_LIBRARY_PATH"):
    GEOS_LIBRARY_PATH = env_str("GEOS_LIBRARY_PATH")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Brute-force protection (django-axes) first, then the passwords, then OpenID Connect when
# configured (below).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's password backend, the user read with their admin flag in one query.
    "apps.accounts.backends.MemberBackend",
    # Platform admins hold every model permission; the admin site opens to them alone.
    "apps.accounts.backends.PlatformAdminBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
# Locked per account *and* address: an attacker cannot lock a real user out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For
# (production assumes one TLS proxy, as SECURE_PROXY_SSL_HEADER below; 0 when the app is
# reached directly). The client address for lockouts, throttles and password-reset limits is
# the one the outermost trusted proxy saw: entries a client adds to the left are ignored.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0 if DEBUG else 1)
AXES_CLIENT_IP_CALLABLE = "apps.ops.client_ip.client_ip"
# Password reset: mails per address and requests per client address, per hour; beyond, the
# same answer and no mail.
PASSWORD_RESET_PER_ADDRESS = env_int("PASSWORD_RESET_PER_ADDRESS", 3)
PASSWORD_RESET_PER_CLIENT = env_int("PASSWORD_RESET_PER_CLIENT", 10)
# Invitations and password resets: links valid three days.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

SESSION_ENGINE = env_str("SESSION_ENGINE", "apps.accounts.sessions")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

# Upload limits for GeoPackages given to the admin import form.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Files in one multipart request (Django's default is 100): refused before further parsing.
# Signalement attachments have their own, lower limits (apps/signalements/uploads.py).
DATA_UPLOAD_MAX_NUMBER_FILES = 10
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
IMPORT_UPLOAD_MAX_BYTES = env_int("IMPORT_UPLOAD_MAX_BYTES", 2 * 1024**3)
# What a delivery archive may unpack to (its layers only), refused above (landcover/delivery.py).
IMPORT_MAX_EXTRACTED_BYTES = env_int("IMPORT_MAX_EXTRACTED_BYTES", 40 * 1024**3)

# Mail
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "OCS GE <ne-pas-repondre@ocsge.example.org>")
# Absolute links in mails.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

# Celery: a Redis broker when REDIS_URL is set and reachable, eager execution otherwise
# (see ocsge_web/celery.py, which decides at start-up).
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
BROKER_REACHABLE = redis_reachable(REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False) or not BROKER_REACHABLE
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
# A worker process killed mid-task (OOM, SIGKILL) gives its task back to the queue: every
# task is idempotent (tested in tests/test_faults.py).
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task taken by a worker that died without a word comes back after this delay; it must
    # exceed the longest task (CELERY_TASK_TIME_LIMIT) or a running task would be sent twice.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600 + 600),
    # Publishing fails fast when Redis is down (apps/ops/dispatch.py keeps the task).
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "apps.inference.tasks.run_block": {"queue": "gpu"},
    "apps.inference.tasks.finetune_task": {"queue": "gpu"},
    "apps.signalements.tasks.model_proposals_task": {"queue": "gpu"},
}
# Celery beat (service `beat` in docker-compose.yml): the calendar's loops and mails. A
# schedule is seconds, or {"crontab": {...}} (crontab's arguments; ocsge_web/celery.py makes
# it one, so that settings never import Celery: a command's start-up does not pay for it).
CELERY_BEAT_SCHEDULE = {
    "sync-calendars": {"task": "apps.campaigns.tasks.sync_calendars", "schedule": 600.0},
    "send-outbox": {"task": "apps.campaigns.tasks.send_outbox", "schedule": 300.0},
    "redispatch-deferred": {"task": "apps.ops.tasks.redispatch_deferred", "schedule": 60.0},
    "daily-digest": {
        "task": "apps.campaigns.tasks.daily_digest",
        "schedule": {"crontab": {"hour": 7, "minute": 0}},
    },
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 6 * 3600 - 60)

# Personal API tokens (apps/accounts/tokens.py): a recognisable prefix (a leaked token is
# found by secret scanners), 90 days unless chosen otherwise on the tokens page.
KNOX_TOKEN_MODEL = "accounts.ApiToken"
REST_KNOX = {
    "TOKEN_PREFIX": "ocsge_",
    "TOKEN_TTL": datetime.timedelta(days=90),
    "AUTH_HEADER_PREFIX": "Token",
}
API_TOKEN_DAYS = (30, 90, 365)  # validities offered
# Filing from a file (apps/signalements/batch.py): its size and its rows, at most.
BATCH_FILING_MAX_BYTES = env_int("BATCH_FILING_MAX_BYTES", 10 * 2**20)
BATCH_FILING_MAX_ROWS = env_int("BATCH_FILING_MAX_ROWS", 500)
API_TOKENS_PER_USER = env_int("API_TOKENS_PER_USER", 10)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per user (per address when anonymous); filing has its own, lower rate
    # (apps/signalements/throttles.py). Counters live in the cache below.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_RATE_USER", "3000/hour"),
        "anon": env_str("API_RATE_ANON", "300/hour"),
        "filing": env_str("FILING_RATE", "120/hour"),
    },
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The browser's session only; HTTP Basic (a password in every request) when configured.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # Personal API tokens (django-rest-knox): `Authorization: Token …`, or as the
        # password of Basic authentication (QGIS); locked out like passwords.
        "apps.accounts.tokens.TokenAuthentication",
        "apps.accounts.tokens.TokenBasicAuthentication",
        *(
            ["rest_framework.authentication.BasicAuthentication"]
            if env_bool("API_BASIC_AUTH", False)
            else []
        ),
    ],
    # JSON nested too deep is a 400, not a RecursionError (apps/ops/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "apps.ops.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    # A service's refusal (apps.ops.errors.Refusal) → {"detail", "field"} with its status.
    "EXCEPTION_HANDLER": "apps.ops.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OCS GE — revue collaborative",
    "DESCRIPTION": "API of the OCS GE collaborative review platform.",
    "VERSION": "0.1.0",
    # Served from our own static files (no CDN), the page's script in its own request so the
    # Content-Security-Policy needs no inline script (SpectacularSwaggerSplitView).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

LEAFLET_CONFIG = {
    "SRID": 3857,
    "DEFAULT_CENTER": (46.6, 2.4),
    "DEFAULT_ZOOM": 6,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 19,
    # No base layer from django-leaflet: the map page draws a neutral background that needs
    # no network, and offers the aerial-photo WMTS below as an option.
    "TILES": [],
    "NO_GLOBALS": False,
    "RESET_VIEW": False,
}

# Aerial photographs under the map (WMTS in the Web-Mercator "PM" matrix set, {z}/{x}/{y}).
# Empty: no ortho option (tests, offline installs).
ORTHO_WMTS_URL = env_str(
    "OCSGE_ORTHO_URL",
    "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER=ORTHOIMAGERY.ORTHOPHOTOS&STYLE=normal&TILEMATRIXSET=PM&FORMAT=image/jpeg"
    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
)
ORTHO_ATTRIBUTION = env_str("OCSGE_ORTHO_ATTRIBUTION", "© IGN — Géoplateforme, BD ORTHO®")

# Shared cache: rate-limit counters across gunicorn workers. Redis when configured; a Redis
# outage degrades to no counting (logged) rather than failing requests (ocsge_web/cache.py).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "ocsge_web.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ocsge",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

# Content-Security-Policy (django-csp): no inline script anywhere, no third-party script.
# Inline *style attributes* stay allowed (colour swatches computed from the nomenclature).
_ORTHO_ORIGIN = "/".join(ORTHO_WMTS_URL.split("/")[:3]) if ORTHO_WMTS_URL else None
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *([_ORTHO_ORIGIN] if _ORTHO_ORIGIN else [])],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Optional OpenID Connect login (State agents' provider), off unless OIDC_RP_CLIENT_ID is set.
OIDC_ENABLED = bool(env_str("OIDC_RP_CLIENT_ID", ""))
if OIDC_ENABLED:
    OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env_required("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env_required("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env_required("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env_required("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
    OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email given_name usual_name")
    OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "ProConnect")
    # Only people already invited (an account with that e-mail) may log in this way.
    OIDC_CREATE_USER = env_bool("OIDC_CREATE_USER", False)
    AUTHENTICATION_BACKENDS.append("apps.accounts.oidc.InvitedUsersOIDCBackend")
    INSTALLED_APPS.append("mozilla_django_oidc")
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(
        "/".join(OIDC_OP_AUTHORIZATION_ENDPOINT.split("/")[:3])
    )

# Where generated data (demo département, benchmark files) is written.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var" / "data")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "pyogrio": {"level": "WARNING"},
    },
}

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Served over HTTPS behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    # A dedicated (sub)domain is assumed; set both to false when sharing a parent domain.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# Debian 12 ships GDAL 3.6; GeoDjango never opens user-supplied spatial references with it.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
