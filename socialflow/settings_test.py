"""Test settings: the real settings, real PostgreSQL and Redis, a fast hasher, no real mail."""

import os

os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DATABASE_URL", "postgres://socialflow:socialflow@127.0.0.1:5432/socialflow")
# TEST_SLOT=b lets a second checkout run its suite alongside this one (own databases).
_SLOT_B = os.environ.get("TEST_SLOT") == "b"
# Forced, not defaulted: the suite clears its cache, which must never be a real one.
os.environ["CACHE_URL"] = os.environ.get("TEST_CACHE_URL", f"redis://127.0.0.1:6379/{9 if _SLOT_B else 14}")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{8 if _SLOT_B else 12}")
os.environ.pop("CHANNEL_LAYER_URL", None)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("MEDIA_HOOK_SECRET", "test-hook-secret")
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
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{7 if _SLOT_B else 13}")
if _SLOT_B:
    DATABASES["default"]["TEST"] = {"NAME": "test_socialflow_b"}  # noqa: F405
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
