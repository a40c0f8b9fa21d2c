"""Rate limits and short-lived marks in the shared cache (Redis), failing open.

With Redis away every helper here lets the action through (and logs a warning): a lost chat
message or a refused hook is worse than a fast one, and Redis is back soon. Only
`RedisError` is caught; anything else is a bug and is raised. DRF's throttles fail open the
same way (socialflow/lib/throttling.py).
"""

from __future__ import annotations

import logging
from functools import cache as memoize
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_REDIS_BACKENDS = {"django.core.cache.backends.redis.RedisCache", "socialflow.lib.cache.RedisCache"}


@memoize
def _redis_client() -> redis.Redis | None:
    """A client on the cache's Redis (None for another backend, e.g. a developer's locmem):
    Django's cache API has no atomic "count with an expiry"."""
    config = settings.CACHES["default"]
    if config["BACKEND"] not in _REDIS_BACKENDS:
        return None
    location = config["LOCATION"]
    url = location[0] if isinstance(location, list | tuple) else location.split(",")[0]
    return redis.Redis.from_url(url)


def first_in_window(key: str, seconds: int) -> bool:
    """True if nothing used `key` in the last `seconds` (and claims it)."""
    try:
        return bool(cache.add(key, 1, seconds))
    except RedisError as exc:
        log.warning("rate limit %s skipped, Redis unavailable: %s", key.split(":")[0], exc)
        return True


def hits_in_window(key: str, seconds: int) -> int:
    """Count a hit and return the hits so far; the window starts with the first hit and
    lasts `seconds`. 0 when Redis is away."""
    try:
        client = _redis_client()
        if client is None:
            if cache.add(key, 1, seconds):
                return 1
            try:
                return int(cache.incr(key))
            except ValueError:  # expired just now: a new window
                return int(cache.add(key, 1, seconds))
        # One MULTI: a separate check and increment could find the key expired in between
        # and bring it back without an expiry (muting the user for good).
        full = cache.make_and_validate_key(key)
        with client.pipeline() as pipe:
            pipe.set(full, 0, ex=seconds, nx=True)
            pipe.incr(full)
            return int(pipe.execute()[1])
    except RedisError as exc:
        log.warning("rate limit %s skipped, Redis unavailable: %s", key.split(":")[0], exc)
        return 0


def recall(key: str, default: Any = None) -> Any:
    """A value `remember`ed under `key`, or `default` (also when Redis is away)."""
    try:
        return cache.get(key, default)
    except RedisError as exc:
        log.warning("cache read %s skipped, Redis unavailable: %s", key.split(":")[0], exc)
        return default


def remember(key: str, value: Any, seconds: int) -> bool:
    """Store a short-lived mark; False when Redis is away."""
    try:
        cache.set(key, value, seconds)
        return True
    except RedisError as exc:
        log.warning("cache write %s skipped, Redis unavailable: %s", key.split(":")[0], exc)
        return False


def forget(key: str) -> None:
    """Drop a mark (or a window) early; nothing happens when Redis is away."""
    try:
        cache.delete(key)
    except RedisError as exc:
        log.warning("cache delete %s skipped, Redis unavailable: %s", key.split(":")[0], exc)
