"""/metrics (issue 14): Prometheus' text format, for the holder of METRICS_TOKEN only."""

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from chat.services import message_send
from streams.models import Stream, StreamHealthSample

pytestmark = pytest.mark.django_db


def scrape(client, token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_a_scrape_shows_the_live_broadcast_its_viewers_and_its_transcoder(client, settings, go_live, carol):
    settings.METRICS_TOKEN = "scrape-me"
    stream = go_live()
    Stream.objects.filter(pk=stream.pk).update(viewer_count=7)
    StreamHealthSample.objects.create(stream=stream, at=timezone.now(), speed=0.97, ladder=["720p", "360p"])
    message_send(stream=stream, user=carol, content="hello")
    samples = scrape(client, "scrape-me")
    assert samples[("socialflow_live_broadcasts", ())] == 1
    assert samples[("socialflow_viewers", (("stream", stream.pk),))] == 7
    assert samples[("socialflow_viewers_all", ())] == 7
    assert samples[("socialflow_chat_messages_total", ())] >= 1
    assert samples[("socialflow_transcoder_speed", (("stream", stream.pk),))] == pytest.approx(0.97)
    assert samples[("socialflow_transcoder_rungs", (("ladder", "720p,360p"), ("stream", stream.pk)))] == 2
    assert ("socialflow_queue_tasks", (("queue", "transcode"),)) in samples
    assert ("socialflow_storage_bytes", (("kind", "recordings"),)) in samples


def test_without_the_token_it_is_401(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "scrape-me"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    settings.METRICS_TOKEN = ""  # off: nobody
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
