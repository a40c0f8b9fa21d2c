"""DRF's throttles, failing open while Redis (their cache) is away: a refused or crashed
request is worse than an unthrottled one for the few seconds until Redis is back."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.request import Request

log = logging.getLogger(__name__)


class _FailOpen(throttling.BaseThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            log.warning("%s skipped, Redis unavailable: %s", type(self).__name__, exc)
            return True


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    """Signed-in callers, by user. DRF's also counts anonymous callers by address, which
    AnonRateThrottle does already: two more Redis round trips on every anonymous request."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class ScopedRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    pass
