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
    pass


class ScopedRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    pass
