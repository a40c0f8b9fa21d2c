"""The streamer's analytics pages: the channel's totals and broadcasts, one broadcast's
numbers, charts' data, highlights and CSV; strangers get 404, bad queries a message."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics import summaries
from analytics.models import StreamSample, ViewerSession
from streams.models import Stream, StreamHealthSample

START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def fill(stream: Stream, samples: int, spike_at: int | None = None) -> None:
    StreamSample.objects.bulk_create(
        StreamSample(
            stream=stream,
            at=START + timedelta(seconds=10 * (i + 1)),
            viewers=3 + i % 4,
            viewers_peak=3 + i % 4,
            chat_messages=(30 if spike_at is not None and i // 6 == spike_at else 1),
        )
        for i in range(samples)
    )
    StreamHealthSample.objects.bulk_create(
        StreamHealthSample(
            stream=stream,
            at=START + timedelta(seconds=5 * (i + 1)),
            fps=30,
            source_fps=30,
            speed=0.9 if i == 7 else 1.0,
            bitrate_kbps=3000,
            ingest_kbps=4500,
            status="warning" if i == 7 else "good",
            reason="The transcoder runs at 0.90x real time, so viewers buffer." if i == 7 else "",
        )
        for i in range(2 * samples)
    )


@pytest.fixture
def broadcast(live_stream):
    Stream.objects.filter(pk=live_stream.pk).update(
        started_at=START, status=Stream.Status.ENDED, ended_at=START + timedelta(minutes=20)
    )
    live_stream.refresh_from_db()
    return live_stream


@pytest.mark.django_db
def test_the_broadcast_page_shows_the_numbers_the_highlight_and_the_chart_data(client, streamer, broadcast):
    fill(broadcast, 120, spike_at=10)
    ViewerSession.objects.create(stream=broadcast, joined_at=START, left_at=START + timedelta(minutes=5))
    summaries.summary_refresh(stream=broadcast, final=True)
    client.force_login(streamer)
    page = client.get(f"/dashboard/analytics/{broadcast.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<dd id="summary-peak">6</dd>' in html and '<dd id="summary-unique">1</dd>' in html
    assert 'id="analytics-data"' in html and "uPlot.iife.min.js" in html
    assert "10:00</strong>: 180 messages" in html  # the spike in minute 10, as a player's clock
    assert '"status": "warning"' in html and '"reason": "The transcoder runs at 0.90x' in html


@pytest.mark.django_db
def test_the_channel_page_lists_the_broadcasts(client, streamer, broadcast):
    summaries.summary_refresh(stream=broadcast, final=True)
    client.force_login(streamer)
    broadcast.started_at = datetime.now(UTC) - timedelta(days=1)
    Stream.objects.filter(pk=broadcast.pk).update(started_at=broadcast.started_at)
    html = client.get("/dashboard/analytics/?days=7").content.decode()
    assert '<dd id="channel-broadcasts">1</dd>' in html and f"/dashboard/analytics/{broadcast.pk}/" in html
    bad = client.get("/dashboard/analytics/?days=5")
    assert bad.status_code == 400 and "days: one of 7, 30, 90." in bad.content.decode()


@pytest.mark.django_db
def test_strangers_get_404_and_bad_resolutions_a_message(client, streamer, carol, broadcast):
    client.force_login(carol)
    assert client.get(f"/dashboard/analytics/{broadcast.pk}/").status_code == 404
    assert client.get(f"/dashboard/analytics/{broadcast.pk}/series.csv").status_code == 404
    client.force_login(streamer)
    bad = client.get(f"/dashboard/analytics/{broadcast.pk}/?resolution=7")
    assert bad.status_code == 400 and "resolution: one of 10, 60, 300" in bad.content.decode()
    assert client.get(f"/dashboard/analytics/{broadcast.pk}/?resolution=x").status_code == 400


@pytest.mark.django_db
def test_the_csv_has_a_row_per_sample(client, streamer, broadcast):
    fill(broadcast, 30)
    client.force_login(streamer)
    answer = client.get(f"/dashboard/analytics/{broadcast.pk}/series.csv")
    assert answer["Content-Type"].startswith("text/csv") and "attachment" in answer["Content-Disposition"]
    rows = answer.content.decode().strip().splitlines()
    assert rows[0].startswith("at,seconds,viewers,viewers_peak,chat_messages") and len(rows) == 31
    assert rows[1].endswith(",good") and "4500.00" in rows[1]


@pytest.mark.django_db
def test_the_page_query_count_does_not_grow_with_the_samples(client, streamer, broadcast):
    client.force_login(streamer)
    counts = []
    for samples in (10, 1000):
        StreamSample.objects.all().delete()
        StreamHealthSample.objects.all().delete()
        fill(broadcast, samples)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/dashboard/analytics/{broadcast.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
