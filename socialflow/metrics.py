"""/metrics: the platform's numbers in Prometheus' text format (prometheus-client), for a
scraper holding METRICS_TOKEN (`Authorization: Bearer <token>`).

The numbers are read when scraped, from PostgreSQL and Redis (a collector), not counted in
the process that serves the scrape: several Daphne processes serve the site, and each
would hold only its own share.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from chat.models import ChatMessage
from dvr.selectors import site_storage_use
from socialflow.lib import latency
from socialflow.lib.api import json_error
from streams.models import Stream, StreamHealthSample

log = logging.getLogger(__name__)

QUEUES = ("default", "transcode", "analytics", "webhooks")


class PlatformCollector:
    """What a scrape reads: live broadcasts and their viewers, chat, the transcoders, the
    Celery queues and the storage used."""

    def collect(self) -> Iterator[Metric]:
        live = list(Stream.objects.live().values_list("pk", "viewer_count"))
        yield GaugeMetricFamily("socialflow_live_broadcasts", "Broadcasts live now.", value=len(live))
        viewers = GaugeMetricFamily(
            "socialflow_viewers", "Viewers counted now, by broadcast.", labels=["stream"]
        )
        for stream_id, count in live:
            viewers.add_metric([stream_id], count)
        yield viewers
        yield GaugeMetricFamily(
            "socialflow_viewers_all", "Viewers counted now, all broadcasts.", value=sum(c for _, c in live)
        )
        # Message ids only grow: the newest one counts every message posted (an index lookup,
        # where COUNT(*) would read the table at every scrape).
        posted = ChatMessage.objects.aggregate(last=Max("id"))["last"] or 0
        yield CounterMetricFamily("socialflow_chat_messages", "Chat messages posted.", value=posted)
        yield from self._transcoders([stream_id for stream_id, _ in live])
        yield self._queues()
        yield self._hook_latency()
        storage = GaugeMetricFamily(
            "socialflow_storage_bytes", "Media kept in storage, by kind.", labels=["kind"]
        )
        for kind, used in site_storage_use().items():
            if kind != "total":
                storage.add_metric([kind], used)
        yield storage

    def _transcoders(self, live: list[str]) -> Iterator[Metric]:
        speed = GaugeMetricFamily(
            "socialflow_transcoder_speed", "FFmpeg's speed (1 = real time), by broadcast.", labels=["stream"]
        )
        rungs = GaugeMetricFamily(
            "socialflow_transcoder_rungs", "Qualities viewers get, by broadcast.", labels=["stream", "ladder"]
        )
        latest = (
            StreamHealthSample.objects.filter(stream_id__in=live)
            .order_by("stream_id", "-at")
            .distinct("stream_id")
            .values_list("stream_id", "speed", "ladder")
        )
        for stream_id, value, ladder in latest:
            if value is not None:
                speed.add_metric([stream_id], value)
            rungs.add_metric([stream_id, ",".join(ladder or [])], len(ladder or []))
        yield speed
        yield rungs

    def _queues(self) -> Metric:
        depth = GaugeMetricFamily(
            "socialflow_queue_tasks", "Tasks waiting, by Celery queue.", labels=["queue"]
        )
        try:
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
            for queue in QUEUES:
                depth.add_metric([queue], client.llen(queue))
        except (redis.RedisError, ValueError) as exc:  # a broker that is not Redis, or away
            log.warning("metrics: no queue depths: %s", exc)
        return depth

    def _hook_latency(self) -> Metric:
        family = HistogramMetricFamily(
            "socialflow_hook_seconds",
            "Time to answer a media-server hook (what OBS waits for on a publish), by server and action.",
            labels=["server", "action"],
        )
        try:
            for labels, buckets, total in latency.read("hook"):
                family.add_metric(list(labels), buckets, total)
        except redis.RedisError as exc:
            log.warning("metrics: no hook latencies: %s", exc)
        return family


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = json_error(401, "Send Authorization: Bearer <METRICS_TOKEN>.", "not_authenticated")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
