"""The admin's front page shows staff the whole platform now: live broadcasts, viewers,
broadcasts today, the transcoders' load (the capacity ledger in Redis) and storage used."""

import re

import pytest

from streams import capacity
from streams.models import MediaSegment, Stream


@pytest.fixture
def ledger():
    worker = "transcode-test-admin@host"
    yield worker
    client = capacity._redis()
    client.delete(capacity._ledger_key(worker), capacity._budget_key(worker))


@pytest.mark.django_db
def test_the_admin_front_page_shows_the_platform_now(admin_client, live_stream, ledger):
    Stream.objects.filter(pk=live_stream.pk).update(viewer_count=3, record=False)
    capacity.hold(worker=ledger, stream_id=live_stream.pk, cost=0.84)
    capacity._redis().set(capacity._budget_key(ledger), 2.0)
    MediaSegment.objects.create(
        stream=live_stream,
        rendition="360p",
        position=0,
        run=1,
        started_at=live_stream.started_at,
        duration=2,
        name="x.ts",
        size_bytes=5 * 1024 * 1024,
    )
    page = admin_client.get("/admin/").content.decode()
    assert '<td id="admin-live">1</td>' in page
    assert '<td id="admin-viewers">3</td>' in page
    assert '<td id="admin-today">1</td>' in page
    assert f"{ledger}: 0.84 of 2.0 cores, 1 broadcast" in page
    assert re.search(r'<td id="admin-storage">5\.0(\s|&nbsp;|\xa0)MB</td>', page)


@pytest.mark.django_db
def test_the_front_page_works_with_redis_away(admin_client, settings, monkeypatch):
    def away():
        raise capacity.redis.exceptions.ConnectionError("away")

    monkeypatch.setattr(capacity, "workers_load", away)
    page = admin_client.get("/admin/")
    assert page.status_code == 200 and "unknown (Redis is unavailable)" in page.content.decode()
