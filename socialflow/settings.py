"""SocialFlow settings: one module, driven by the environment (django-environ).

Every setting has a safe local default; a bad value fails loudly at start-up.
A `.env` file beside manage.py is read when present (`make run` writes one).
The README lists every variable.
"""

from __future__ import annotations

from base64 import urlsafe_b64decode
from datetime import timedelta
from email.utils import parseaddr
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import urlsplit

import environ
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    environ.Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or DEBUG=true for local development; "
            "`make run` writes a .env with both)."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base URL used in e-mails and in URLs handed to mobile apps.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env.str("SITE_NAME", default="SocialFlow")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "axes",
    "csp",
    "storages",
    "accounts",
    "streams",
    "chat",
    "analytics",
    "dvr",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "socialflow.lib.middleware.ApiAnswersJson",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "socialflow.lib.middleware.NoStoreWhenSignedIn",
    "socialflow.lib.middleware.ServiceAwayIsUnavailable",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last, as axes asks: turns a sign-in refused for the lockout into its page (429).
    "axes.middleware.AxesMiddleware",
    # Not a middleware of its own: it keeps the chain above in one thread under ASGI.
    "socialflow.lib.middleware.SyncChain",
]

ROOT_URLCONF = "socialflow.urls"
WSGI_APPLICATION = "socialflow.wsgi.application"
ASGI_APPLICATION = "socialflow.asgi.application"
SITE_ID = 1

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
                "socialflow.context_processors.site",
                "accounts.context_processors.notifications",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Under ASGI (Daphne) Django's docs advise against persistent connections: requests run in
# changing threads. Use PostgreSQL's connection pool instead (DB_POOL=true).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several web processes write (chat): take the write lock when a transaction starts, so
    # SQLite waits for it instead of failing with "database is locked" mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
if env.bool("DB_POOL", default=False):
    if "postgresql" not in DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DB_POOL needs a PostgreSQL DATABASE_URL.")

    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # With CONN_HEALTH_CHECKS (above), Django has the pool check a connection before it is
    # lent: after a database restart, dead connections are replaced, not lent to a request.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        # With the database away, a request waits this long for a connection, then is
        # answered 503 (socialflow.lib.middleware), instead of psycopg's 30 s.
        "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    # Throttle counters and rate limits must be shared by every web process: Redis.
    "default": env.cache_url("CACHE_URL", default="redis://127.0.0.1:6379/1"),
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "socialflow.lib.cache.RedisCache"  # Django's, cheaper per call

# pubsub: one PUBLISH per group message, fanned out to sockets inside each web process
# (several times cheaper than `core`, which queues one copy per socket in Redis). It drops
# what is published while Redis is away; chat survives that because messages are persisted
# first and clients catch up by id (see chat/consumers.py).
CHANNEL_LAYER_BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
}
CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
if CHANNEL_LAYER not in CHANNEL_LAYER_BACKENDS:
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be one of {', '.join(CHANNEL_LAYER_BACKENDS)}.")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKENDS[CHANNEL_LAYER],
        "CONFIG": {"hosts": [env.str("CHANNEL_LAYER_URL", default=REDIS_URL)]},
    },
}

# --- Auth --------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked account or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "streams:home"
LOGOUT_REDIRECT_URL = "streams:home"

ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_USERNAME_MIN_LENGTH = 3
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# Top-level paths a username must never shadow (channel pages may live at /<username>/).
ACCOUNT_USERNAME_BLACKLIST = [
    "healthz",
    "categories",
    "about",
    "accounts",
    "admin",
    "api",
    "dashboard",
    "directory",
    "embed",
    "following",
    "help",
    "hooks",
    "live",
    "media",
    "notifications",
    "oembed",
    "search",
    "settings",
    "static",
    "streams",
    "u",
    "users",
    "ws",
    "recordings",
    "clips",
    "socialflow",
    "root",
    "staff",
    "moderator",
    "support",
]
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}

# Failed sign-ins, per account and per address, kept in PostgreSQL (accounts/login_guard.py).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_USERNAME_CALLABLE = "accounts.login_guard.username_of"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lockout lasts its time, no longer
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not its business
AXES_SENSITIVE_PARAMETERS = ["password", "password1", "password2", "csrfmiddlewaretoken"]

# Go-live threshold: a streamer needs this many followers (staff may be exempted).
GO_LIVE_MIN_FOLLOWERS = env.int("GO_LIVE_MIN_FOLLOWERS", default=50)
if GO_LIVE_MIN_FOLLOWERS < 0:
    raise ImproperlyConfigured("GO_LIVE_MIN_FOLLOWERS must be 0 or more.")

# --- Media server (RTMP ingest) ---------------------------------------------

# nginx-rtmp on machines without Docker (`make run`), SRS in production (docker-compose).
MEDIA_SERVER = env.str("MEDIA_SERVER", default="nginx-rtmp")
if MEDIA_SERVER not in ("nginx-rtmp", "srs"):
    raise ImproperlyConfigured("MEDIA_SERVER must be 'nginx-rtmp' or 'srs'.")
# The media server's control API (SRS HTTP API, or nginx's loopback control endpoint).
MEDIA_SERVER_API_URL = env.str("MEDIA_SERVER_API_URL", default="http://127.0.0.1:8089")
# Shared secret the media server puts in its hook URLs (/hooks/<dialect>/?secret=...).
MEDIA_HOOK_SECRET = env.str("MEDIA_HOOK_SECRET", default="")
# Where the local media server sends its hooks (this web process).
MEDIA_HOOK_BASE_URL = env.str("MEDIA_HOOK_BASE_URL", default="http://127.0.0.1:8000")
RTMP_PORT = env.int("RTMP_PORT", default=1935)
# What streamers paste into OBS, and where the platform's transcoder pulls from.
RTMP_PUBLIC_URL = env.str("RTMP_PUBLIC_URL", default=f"rtmp://127.0.0.1:{RTMP_PORT}/live")
RTMP_PULL_URL = env.str("RTMP_PULL_URL", default=f"rtmp://127.0.0.1:{RTMP_PORT}/live")
# Where OBS may connect from: 127.0.0.1 keeps the local media server private to this machine.
RTMP_BIND = env.str("RTMP_BIND", default="127.0.0.1")
# Only the platform's workers may pull the raw feed (on_play): their addresses.
MEDIA_PULL_ALLOWED_NETWORKS = []
for _net in env.list("MEDIA_PULL_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"]):
    try:
        MEDIA_PULL_ALLOWED_NETWORKS.append(ip_network(_net, strict=False))
    except ValueError as exc:
        raise ImproperlyConfigured(f"MEDIA_PULL_ALLOWED_IPS: {exc}") from exc
# Media servers whose hooks need no secret in the URL: their address is the proof (the
# compose network's SRS, whose error log prints every hook URL). Empty: the secret always.
MEDIA_HOOK_ALLOWED_NETWORKS = []
for _net in env.list("MEDIA_HOOK_ALLOWED_IPS", default=[]):
    try:
        MEDIA_HOOK_ALLOWED_NETWORKS.append(ip_network(_net, strict=False))
    except ValueError as exc:
        raise ImproperlyConfigured(f"MEDIA_HOOK_ALLOWED_IPS: {exc}") from exc
# A live broadcast with no sign of its publisher for this long is ended by the reaper.
MEDIA_HEARTBEAT_INTERVAL = env.int("MEDIA_HEARTBEAT_INTERVAL", default=10)
MEDIA_HEARTBEAT_TIMEOUT = env.int("MEDIA_HEARTBEAT_TIMEOUT", default=35)
MEDIA_SERVER_TIMEOUT = env.float("MEDIA_SERVER_TIMEOUT", default=3.0)
# --- Transcoding (FFmpeg on the "transcode" Celery queue) -----------------------

# FFmpeg and ffprobe parse what publishers send, so they run confined (S-12,
# socialflow/lib/sandbox.py): a minimal environment always; with the sandbox on, no new
# privileges and a seccomp filter, and, where the worker is root, FFMPEG_USER's identity
# (each FFmpeg runs in a folder handed over to that user, with relative paths).
FFMPEG_SANDBOX = env.bool("FFMPEG_SANDBOX", default=True)
FFMPEG_USER = env.str("FFMPEG_USER", default="nobody")
# Where FFmpeg writes before segments are published to the "live" storage.
TRANSCODE_WORK_DIR = Path(env.str("TRANSCODE_WORK_DIR", default=str(BASE_DIR / "var" / "transcode")))
# The default ladder; rungs above the source's height are skipped.
TRANSCODE_RUNGS = env.list("TRANSCODE_RUNGS", default=["1080p", "720p", "480p", "360p"])
TRANSCODE_PRESET = env.str("TRANSCODE_PRESET", default="veryfast")
# The rungs below 720p, one preset faster by default: 14% less CPU for a 720p ladder
# (docs/benchmarks.md); empty: TRANSCODE_PRESET for every rung.
TRANSCODE_LOWER_PRESET = env.str("TRANSCODE_LOWER_PRESET", default="superfast")
# On a worker already transcoding, a broadcast's first run remuxes its source (playable within
# seconds however busy the worker), and its ladder starts beside it once that plays.
TRANSCODE_REMUX_FIRST = env.bool("TRANSCODE_REMUX_FIRST", default=True)
# The H.264 encoder: libx264 (the CPU), or a GPU's: h264_nvenc, h264_vaapi, h264_qsv. A
# transcode worker refuses to start with any other name, and checks when it starts that its
# encoder works; one that does not leaves that worker on libx264 (streams.encoders).
TRANSCODE_ENCODER = env.str("TRANSCODE_ENCODER", default="libx264")
HLS_SEGMENT_SECONDS = env.int("HLS_SEGMENT_SECONDS", default=2)
HLS_LOW_LATENCY_SEGMENT_SECONDS = 1
HLS_LIST_SIZE = env.int("HLS_LIST_SIZE", default=6)
THUMBNAIL_EVERY_SECONDS = env.int("THUMBNAIL_EVERY_SECONDS", default=30)
# A dead FFmpeg is restarted with growing pauses, up to this many times a broadcast.
TRANSCODE_MAX_RESTARTS = env.int("TRANSCODE_MAX_RESTARTS", default=20)
# FFmpeg alive but without a -progress report for this long (a hung input or process) is
# stopped and restarted like one that died.
TRANSCODE_STALL_SECONDS = env.int("TRANSCODE_STALL_SECONDS", default=20)
# A live broadcast whose feed cannot be read this long after the publish (the media server
# took OBS, but no video comes through, as SRS 6 could: issue #4182) drops OBS, which reconnects.
TRANSCODE_NO_MEDIA_SECONDS = env.int("TRANSCODE_NO_MEDIA_SECONDS", default=10)
# A transcoder holds a per-broadcast Redis lock this long, renewed every third of it; a
# worker that vanished frees its broadcasts for another transcoder after at most this long.
# S-21: the biggest feed accepted. A source taller than this (its shorter side) or sending
# more than this many kbit/s for ~10 s is refused: the broadcast fails with the reason.
INGEST_MAX_HEIGHT = env.int("INGEST_MAX_HEIGHT", default=2160)
INGEST_MAX_KBPS = env.int("INGEST_MAX_KBPS", default=20000)
TRANSCODE_LOCK_SECONDS = env.int("TRANSCODE_LOCK_SECONDS", default=30)
# The cores a transcode worker may spend on ladders (0: all of its machine's). Broadcasts get
# the best ladder that fits what is left (streams.capacity); none waits for a free slot.
TRANSCODE_CPU_BUDGET = env.float("TRANSCODE_CPU_BUDGET", default=0)
# The speed governor: an FFmpeg below real time for this long sheds work (the top rung
# passed through, then the top encoded rung, then a faster preset) and restarts on a segment
# boundary, with a warning to the streamer.
TRANSCODE_SLOW_SECONDS = env.int("TRANSCODE_SLOW_SECONDS", default=10)
# Measure what decoding, scaling and encoding cost on this machine when a transcode worker
# starts (~5 s of CPU); off, the built-in figures (measured on a 2-core Debian box) apply.
TRANSCODE_CALIBRATE = env.bool("TRANSCODE_CALIBRATE", default=True)

# --- DVR, recordings, clips -----------------------------------------------------------

# How far viewers may rewind a live broadcast with DVR on (a broadcast may ask for less).
DVR_WINDOW_SECONDS = env.int("DVR_WINDOW_SECONDS", default=7200)
# Days a recording is kept after its broadcast (0: forever); a channel may set its own.
RECORDING_RETENTION_DAYS = env.int("RECORDING_RETENTION_DAYS", default=30)

# --- Chat -------------------------------------------------------------------------

CHAT_RATE_MESSAGES = env.int("CHAT_RATE_MESSAGES", default=3)
CHAT_RATE_SECONDS = env.int("CHAT_RATE_SECONDS", default=3)
CHAT_RATE_TIMEOUT_SECONDS = env.int("CHAT_RATE_TIMEOUT_SECONDS", default=10)
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=4096)
REACTION_RATE_SECONDS = env.int("REACTION_RATE_SECONDS", default=1)
# Reactions go out coalesced, one frame per broadcast per this many seconds at most.
REACTION_FRAME_SECONDS = env.float("REACTION_FRAME_SECONDS", default=0.25)
# A socket that sends no heartbeat for this long stops counting as a viewer.
# Frames one socket may send: a burst, then a steady rate a second (beyond: ignored, with
# an error frame once a second). Chat messages and reactions have their own limits.
CHAT_FRAME_BURST = env.int("CHAT_FRAME_BURST", default=20)
CHAT_FRAME_RATE = env.float("CHAT_FRAME_RATE", default=5.0)
PRESENCE_TTL_SECONDS = env.int("PRESENCE_TTL_SECONDS", default=45)
# Logged-out viewers counted per address and broadcast (S-10): more from one address watch
# uncounted. Room for a household or an office behind one NAT, not for a script.
PRESENCE_MAX_PER_ADDRESS = env.int("PRESENCE_MAX_PER_ADDRESS", default=10)

# Followers hear about a channel going live at most once in this many seconds (OBS reconnects).
STREAM_NOTIFY_COOLDOWN = env.int("STREAM_NOTIFY_COOLDOWN", default=900)

# --- API ---------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    # JSON in, JSON out: what the schema documents. An avatar upload (PATCH /me/) also takes
    # multipart (accounts.apis.MeApi).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "socialflow.lib.api.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_THROTTLE_CLASSES": [
        "socialflow.lib.throttling.AnonRateThrottle",
        "socialflow.lib.throttling.UserRateThrottle",
        "socialflow.lib.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="120/min"),
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "register": env.str("API_THROTTLE_REGISTER", default="10/hour"),
        "login": env.str("API_THROTTLE_LOGIN", default="20/min"),
        "follow": env.str("API_THROTTLE_FOLLOW", default="60/min"),
        "push": env.str("API_THROTTLE_PUSH", default="30/min"),
    },
    "EXCEPTION_HANDLER": "socialflow.lib.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "socialflow.lib.schema.AutoSchema",
    # Reverse proxies in front of the web process (for the client address throttles use).
    # 0: the address the connection came from (Daphne sets it from X-Forwarded-For only with
    # --proxy-headers). Never unset: DRF would then key throttles on the whole client-sent
    # X-Forwarded-For, and a forged header would dodge every throttle.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# GET /api/v1/streams/live/ and /api/v1/streams/{id}/ answer anonymous callers from the cache
# for this long (0: never).
STREAMS_API_CACHE_SECONDS = env.int("STREAMS_API_CACHE_SECONDS", default=2)
if STREAMS_API_CACHE_SECONDS < 0:
    raise ImproperlyConfigured("STREAMS_API_CACHE_SECONDS must be 0 or more.")
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": True,
    # A refresh token is used once (S-20): refreshing returns a new one and blacklists the
    # old, and signing out (POST /api/v1/auth/logout/) blacklists it.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a fingerprint of the password hash: changing the password ends them all.
    "TOKEN_OBTAIN_SERIALIZER": "accounts.tokens.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.tokens.TokenRefreshSerializer",
}
# /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; empty: to nobody.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A WebSocket ticket (POST /api/v1/auth/ws-ticket/) is good for one connection this soon.
WS_TICKET_SECONDS = env.int("WS_TICKET_SECONDS", default=30)

# --- Outgoing webhooks (accounts/webhooks.py) ------------------------------------
# Private, loopback and link-local targets are refused unless this is on (make run's .env
# turns it on, for a developer's local receivers; never in production).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOKS_PER_USER = env.int("WEBHOOKS_PER_USER", default=10)
# One try, connection and answer together, is cut after this long.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Tries in all; the n-th retry waits BASE x 2^(n-1) (30 s, 1, 2, 4, 8 min by default).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
# A delivery still pending this long after it was due lost its task: it is queued again.
WEBHOOK_STALE_SECONDS = env.int("WEBHOOK_STALE_SECONDS", default=120)
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
for _name in (
    "WEBHOOKS_PER_USER",
    "WEBHOOK_TIMEOUT_SECONDS",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_SECONDS",
):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be positive.")
SPECTACULAR_SETTINGS = {
    "TITLE": "SocialFlow API",
    "DESCRIPTION": "Live streaming, chat and moderation. Errors are {detail, code} with a 4xx status.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the installed sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"VisibilityEnum": "streams.models.Visibility"},
    # Every operation documents its refusals too ({detail, code, errors?}).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "socialflow.lib.schema.add_error_responses",
    ],
}

# --- Background work ---------------------------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = timedelta(hours=6)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues by kind of work: long FFmpeg jobs never wait behind (or block) quick ones.
CELERY_TASK_QUEUES = (Queue("default"), Queue("transcode"))
CELERY_TASK_ROUTES = {
    "streams.tasks.transcode_stream_task": {"queue": "transcode"},
    "analytics.tasks.*": {"queue": "analytics"},
    # A receiver that hangs holds a slot for WEBHOOK_TIMEOUT_SECONDS: never in front of "default".
    "accounts.tasks.webhook_deliver_task": {"queue": "webhooks"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
# A task reserved by a worker that died (kill -9, OOM) is redelivered after this long:
# an hour, so a quick task (drop a publisher, finalize a recording) is not 12 h stale. A
# transcode task outlives it and is redelivered hourly while it runs; its Redis lock makes
# the copy return at once ("already running"). The watchdog restarts a lost transcode sooner.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_BEAT_SCHEDULE = {
    "chat-presence-sweep": {
        "task": "chat.tasks.presence_sweep_task",
        "schedule": timedelta(seconds=15),
    },
    "streams-ensure-transcoders": {
        "task": "streams.tasks.transcoders_ensure_task",
        "schedule": timedelta(seconds=15),
    },
    "streams-reap-stale-broadcasts": {
        "task": "streams.tasks.broadcasts_reap_stale_task",
        "schedule": timedelta(seconds=15),
    },
    "dvr-recover-recordings": {
        "task": "dvr.tasks.recordings_recover_task",
        "schedule": timedelta(minutes=1),
    },
    "dvr-expire-recordings": {
        "task": "dvr.tasks.recordings_expire_task",
        "schedule": timedelta(hours=1),
    },
    "analytics-sample-live-streams": {
        "task": "analytics.tasks.sample_live_streams_task",
        "schedule": timedelta(seconds=10),
        "options": {"expires": 10},  # a tick that waited longer than that is stale
    },
    "analytics-downsample": {
        "task": "analytics.tasks.downsample_task",
        "schedule": timedelta(hours=1),
    },
    "accounts-clear-expired-sessions": {
        "task": "accounts.tasks.sessions_clear_expired_task",
        "schedule": timedelta(hours=6),
    },
    "accounts-webhook-deliveries-sweep": {
        "task": "accounts.tasks.webhook_deliveries_sweep_task",
        "schedule": timedelta(minutes=1),
    },
}

# --- Analytics ----------------------------------------------------------------

# Raw 10-s samples of a broadcast's activity are folded into 1-min samples after this long.
ANALYTICS_RAW_RETENTION_DAYS = env.int("ANALYTICS_RAW_RETENTION_DAYS", default=30)
# A viewer session that presence has not seen for this long (no heartbeats: its web process
# died, its app went away) is closed at the moment it was last seen.
# A player reports playback quality every 30 s; a socket or app session may report at most
# this often (more is refused with an error frame).
PLAYBACK_REPORT_MIN_SECONDS = env.int("PLAYBACK_REPORT_MIN_SECONDS", default=10)
# How often the watch page's player reports (static/js/playback.js).
PLAYBACK_REPORT_SECONDS = env.int("PLAYBACK_REPORT_SECONDS", default=30)
ANALYTICS_SESSION_TIMEOUT_SECONDS = env.int(
    "ANALYTICS_SESSION_TIMEOUT_SECONDS", default=2 * PRESENCE_TTL_SECONDS
)

# --- Static, media, storage --------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
WHITENOISE_USE_FINDERS = DEBUG

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
USE_S3 = bool(AWS_STORAGE_BUCKET_NAME)
if USE_S3:
    # django-storages reads these AWS_* names itself.
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_QUERYSTRING_AUTH = env.bool("AWS_QUERYSTRING_AUTH", default=False)
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    # Public base URL viewers download from (a CDN, or MinIO's public address + bucket).
    AWS_S3_PUBLIC_URL = env.str("AWS_S3_PUBLIC_URL", default="")
    if AWS_S3_PUBLIC_URL:
        _public = urlsplit(AWS_S3_PUBLIC_URL)
        if _public.scheme not in ("http", "https") or not _public.netloc:
            raise ImproperlyConfigured("AWS_S3_PUBLIC_URL must be an http(s) URL.")
        AWS_S3_URL_PROTOCOL = f"{_public.scheme}:"
        AWS_S3_CUSTOM_DOMAIN = (_public.netloc + _public.path).rstrip("/")
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if USE_S3
        else "django.core.files.storage.FileSystemStorage",
    },
    # Live HLS, thumbnails and source copies: the transcoder rewrites playlists in place.
    "live": {
        "BACKEND": "socialflow.lib.storage.LiveS3Storage"
        if USE_S3
        else "django.core.files.storage.FileSystemStorage",
        # Playlists are rewritten in place, and players fetch by plain URL (no signatures).
        "OPTIONS": {"file_overwrite": True, "querystring_auth": False}
        if USE_S3
        else {"allow_overwrite": True},
    },
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}
# A followers-only broadcast's files are fetched by signed URLs that lapse this soon (S-04):
# a copied link dies with it, and an unfollower's player stops at its next refresh.
MEDIA_SIGNED_URL_SECONDS = env.int("MEDIA_SIGNED_URL_SECONDS", default=300)
# A playback grant (the API's hls_url for a token client of a followers-only broadcast) names
# its user this long; each playlist it fetches still runs the visibility check.
PLAYBACK_GRANT_SECONDS = env.int("PLAYBACK_GRANT_SECONDS", default=12 * 3600)
# Serve MEDIA_ROOT from Django when files are local (development, single machine).
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=not USE_S3)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
AVATAR_MAX_BYTES = env.int("AVATAR_MAX_BYTES", default=2 * 1024 * 1024)

# --- E-mail ------------------------------------------------------------------

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SocialFlow <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Web Push ----------------------------------------------------------------

# The VAPID key pair that signs this site's pushes (`make run` writes one into .env): the
# public key as base64url of the uncompressed P-256 point, the private key as base64url of
# its 32-byte scalar. Unset, browser push is off: no opt-in on pages, the API answers 404.
WEB_PUSH_VAPID_PUBLIC_KEY = env.str("WEB_PUSH_VAPID_PUBLIC_KEY", default="").strip()
WEB_PUSH_VAPID_PRIVATE_KEY = env.str("WEB_PUSH_VAPID_PRIVATE_KEY", default="").strip()
WEB_PUSH_ENABLED = bool(WEB_PUSH_VAPID_PUBLIC_KEY and WEB_PUSH_VAPID_PRIVATE_KEY)
if bool(WEB_PUSH_VAPID_PUBLIC_KEY) != bool(WEB_PUSH_VAPID_PRIVATE_KEY):
    raise ImproperlyConfigured("Set both WEB_PUSH_VAPID_PUBLIC_KEY and _PRIVATE_KEY, or neither.")


def _b64url(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


if WEB_PUSH_ENABLED:
    try:
        _vapid_private = _b64url(WEB_PUSH_VAPID_PRIVATE_KEY)
        _vapid_public = _b64url(WEB_PUSH_VAPID_PUBLIC_KEY)
        _vapid_derived = (
            ec.derive_private_key(int.from_bytes(_vapid_private, "big"), ec.SECP256R1())
            .public_key()
            .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"WEB_PUSH_VAPID_PRIVATE_KEY is not a P-256 key: {exc}") from exc
    if len(_vapid_private) != 32 or _vapid_derived != _vapid_public:
        raise ImproperlyConfigured(
            "WEB_PUSH_VAPID_PUBLIC_KEY and WEB_PUSH_VAPID_PRIVATE_KEY are not one P-256 key pair "
            "(base64url: the 65-byte uncompressed public point, the 32-byte private scalar)."
        )
# Who the push services may contact about this site's pushes (the VAPID `sub` claim).
WEB_PUSH_CONTACT = env.str("WEB_PUSH_CONTACT", default=f"mailto:{parseaddr(DEFAULT_FROM_EMAIL)[1]}")
if not WEB_PUSH_CONTACT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("WEB_PUSH_CONTACT must be a mailto: or https:// URL.")
# Push endpoints are URLs browsers hand over, i.e. chosen by users: only https on public
# addresses, unless this is on (tests and development with a local push service).
WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = env.bool("WEB_PUSH_ALLOW_INSECURE_ENDPOINTS", default=False)
# One push request waits this long to connect, and as long for each read, then counts a failure.
WEB_PUSH_TIMEOUT_SECONDS = env.float("WEB_PUSH_TIMEOUT_SECONDS", default=5.0)
# A push service keeps an undelivered "went live" this long (a later one is stale).
WEB_PUSH_TTL_SECONDS = env.int("WEB_PUSH_TTL_SECONDS", default=600)
# Subscriptions per Celery task; a task that has spent WEB_PUSH_BATCH_SECONDS queues the rest.
WEB_PUSH_BATCH_SIZE = env.int("WEB_PUSH_BATCH_SIZE", default=25)
WEB_PUSH_BATCH_SECONDS = env.float("WEB_PUSH_BATCH_SECONDS", default=30.0)
# A subscription that failed this many times in a row is dropped (404/410 drop it at once).
WEB_PUSH_MAX_FAILURES = env.int("WEB_PUSH_MAX_FAILURES", default=10)
# Browsers one user may subscribe; a new one beyond replaces their oldest.
WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER = env.int("WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER", default=20)
if min(WEB_PUSH_TIMEOUT_SECONDS, WEB_PUSH_BATCH_SIZE, WEB_PUSH_BATCH_SECONDS, WEB_PUSH_MAX_FAILURES) <= 0:
    raise ImproperlyConfigured("WEB_PUSH_TIMEOUT_SECONDS, _BATCH_SIZE, _BATCH_SECONDS, _MAX_FAILURES: > 0.")
if WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER < 1 or WEB_PUSH_TTL_SECONDS < 0:
    raise ImproperlyConfigured("WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER must be >= 1, _TTL_SECONDS >= 0.")

# --- Security ----------------------------------------------------------------

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (S-16, django-csp): scripts only from this site, never inline or
# eval'd (pages keep their data in json_script blocks, handlers in static/js/site.js);
# video, thumbnails and segment fetches from this site and the media storage; hls.js'
# worker from a blob. Inline styles stay allowed: Django's admin, Swagger UI and htmx set
# some, and a style cannot run code.
MEDIA_ORIGINS = sorted(
    {
        f"{part.scheme}://{part.netloc}"
        for part in map(
            urlsplit,
            [
                MEDIA_URL,
                env.str("AWS_S3_PUBLIC_URL", default="") if USE_S3 else "",
                env.str("AWS_S3_ENDPOINT_URL", default="") if USE_S3 else "",
                f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com" if USE_S3 else "",
            ],
        )
        if part.scheme in ("http", "https") and part.netloc
    }
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", *MEDIA_ORIGINS],
        "media-src": [SELF, "blob:", *MEDIA_ORIGINS],
        "connect-src": [SELF, *MEDIA_ORIGINS],  # hls.js fetches playlists and segments
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Features no page uses are off for this site and anything it could ever frame.
PERMISSIONS_POLICY = {
    "camera": [],
    "microphone": [],
    "geolocation": [],
    "payment": [],
    "usb": [],
    "autoplay": ["self"],
    "fullscreen": ["self"],
    "picture-in-picture": ["self"],
    "clipboard-write": ["self"],
}
SESSION_COOKIE_HTTPONLY = True
# Health checks from a load balancer come over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]

# --- i18n, logging -----------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
