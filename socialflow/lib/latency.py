"""Latency histograms shared by every web process, for /metrics (socialflow/metrics.py).

Several Daphne processes serve the site and any of them may answer a scrape, so a
prometheus-client Histogram in one process would hold only that process's share. Each
observation goes to Redis instead (one pipelined round trip: the bucket counters, the sum
and the count of a hash per series), and the scrape reads the hashes back. Buckets are
cumulative when read, as Prometheus wants them. Redis away: the observation is dropped, the
request is not held up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from django.conf import settings

log = logging.getLogger(__name__)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_PREFIX = "metrics:latency"
_lock = threading.Lock()
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
                )
    return _client


def _key(name: str, labels: tuple[str, ...]) -> str:
    return f"{_PREFIX}:{name}:" + "|".join(labels)


def observe(name: str, labels: tuple[str, ...], seconds: float) -> None:
    """Count one observation of `seconds` in the series `name{labels}` (labels without "|")."""
    bucket = next((f"{edge:g}" for edge in BUCKETS if seconds <= edge), "+Inf")
    key = _key(name, labels)
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.hincrby(key, bucket, 1)
        pipe.hincrby(key, "count", 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.sadd(f"{_PREFIX}:{name}", key)
        pipe.execute()
    except redis.RedisError as exc:
        log.debug("latency %s not recorded: %s", name, exc)


def read(name: str) -> list[tuple[tuple[str, ...], list[tuple[str, float]], float]]:
    """[(labels, [(upper bound, cumulative count), ..., ("+Inf", count)], sum)] of `name`."""
    client = _redis()
    members: Any = client.smembers(f"{_PREFIX}:{name}")
    keys = sorted(key.decode() for key in members)
    series = []
    for key in keys:
        raw: dict[Any, Any] = client.hgetall(key)
        values = {field.decode(): value.decode() for field, value in raw.items()}
        running = 0.0
        buckets = []
        for edge in BUCKETS:
            running += float(values.get(f"{edge:g}", 0))
            buckets.append((f"{edge:g}", running))
        buckets.append(("+Inf", float(values.get("count", 0))))
        labels = tuple(key.removeprefix(f"{_PREFIX}:{name}:").split("|"))
        series.append((labels, buckets, float(values.get("sum", 0))))
    return series


def forget(name: str) -> None:
    """Drop every series of `name` (the tests start from nothing)."""
    client = _redis()
    members: Any = client.smembers(f"{_PREFIX}:{name}")
    client.delete(*members, f"{_PREFIX}:{name}")
