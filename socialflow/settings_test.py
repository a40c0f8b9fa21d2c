"""Test settings: the real settings, real PostgreSQL and Redis, a fast hasher, no real mail."""

import os

os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DATABASE_URL", "postgres://socialflow:socialflow@127.0.0.1:5432/socialflow")
# TEST_SLOT=b (or c, d) lets another checkout, or a second run in this one, go alongside:
# its own test database and Redis databases (cache, presence, broker).
_SLOT = os.environ.get("TEST_SLOT", "")
_REDIS_DBS = {"": (14, 12, 13), "b": (9, 8, 7), "c": (6, 5, 4), "d": (3, 2, 1)}
if _SLOT not in _REDIS_DBS:
    raise RuntimeError(f"TEST_SLOT must be one of {sorted(_REDIS_DBS)}, not {_SLOT!r}")
_CACHE_DB, _REDIS_DB, _BROKER_DB = _REDIS_DBS[_SLOT]
# Forced, not defaulted: the suite clears its cache, which must never be a real one.
os.environ["CACHE_URL"] = os.environ.get("TEST_CACHE_URL", f"redis://127.0.0.1:6379/{_CACHE_DB}")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_REDIS_DB}")
os.environ.pop("CHANNEL_LAYER_URL", None)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("MEDIA_HOOK_SECRET", "test-hook-secret")
os.environ.setdefault("TRANSCODE_CALIBRATE", "false")  # the built-in cost model: the same on every run
os.environ.setdefault("ENV_FILE", "/nonexistent")  # a developer's .env must not leak into tests

from socialflow.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "live": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"allow_overwrite": True},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{_BROKER_DB}")
if _SLOT:
    DATABASES["default"]["TEST"] = {"NAME": f"test_socialflow_{_SLOT}"}  # noqa: F405
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
