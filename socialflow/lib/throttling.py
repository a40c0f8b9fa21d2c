"""DRF's throttles, failing open while Redis (their cache) is away: a refused or crashed
request is worse than an unthrottled one for the few seconds until Redis is back."""

import logging

from redis.exceptions import RedisError
from rest_framework import throttling

log = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request, view):
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
