"""Players' playback reports (socket and REST) and the analytics API: who may read it, what
it refuses, and a query count that does not grow with the samples."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.models import PlaybackReport, StreamSample, ViewerSession
from chat.tests.helpers import ORIGIN, connected, next_frame, socket
from streams.models import Stream, StreamHealthSample

REPORT = {"startup_ms": 1800, "rebuffer_ms": 500, "played_ms": 29500, "rung": "720p", "dropped_frames": 2}


@pytest.mark.django_db(transaction=True)
def test_a_socket_reports_playback_and_absurd_reports_are_refused(live_stream, carol, settings):
    settings.PLAYBACK_REPORT_MIN_SECONDS = 10
    ua = [(b"user-agent", b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148")]

    async def scenario():
        s = socket(live_stream, carol, headers=ORIGIN + ua)
        s.scope["query_string"] += b"&vid=browser-7&ref=x.com"
        await connected(s)
        answers = []
        for frame in (
            {**REPORT, "played_ms": -1},
            {**REPORT, "startup_ms": 10**9},
            {**REPORT, "played_ms": "29500"},
            {**REPORT, "rung": "<script>"},
            {k: v for k, v in REPORT.items() if k != "rung"},
        ):
            await s.send_json_to({"type": "playback.report", **frame})
            answers.append(await next_frame(s))
        await s.send_json_to({"type": "playback.report", **REPORT})
        await s.send_json_to({"type": "playback.report", **REPORT})  # too soon after the last
        answers.append(await next_frame(s))
        await s.disconnect()
        return answers

    answers = async_to_sync(scenario)()
    assert [a["type"] for a in answers] == ["error"] * 6
    assert [a["code"] for a in answers[:5]] == ["invalid"] * 5
    assert answers[5]["code"] == "rate_limited"
    report = PlaybackReport.objects.get()
    assert (report.startup_ms, report.rebuffer_ms, report.played_ms, report.rung) == (
        1800,
        500,
        29500,
        "720p",
    )
    session = ViewerSession.objects.get()
    assert report.session == session
    assert (session.user, session.device, session.referrer) == (carol, "mobile", "x.com")


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_socket_keeps_its_hashed_browser_id(live_stream):
    async def scenario():
        for _ in range(2):  # two tabs
            s = socket(live_stream)
            s.scope["query_string"] = b"vid=browser-9&ref=%3Cbad%3E"
            await connected(s)
            await s.disconnect()

    async_to_sync(scenario)()
    ids = list(ViewerSession.objects.values_list("anonymous_id", "referrer"))
    assert len(ids) == 2 and ids[0] == ids[1] and ids[0][0] not in ("", "browser-9") and ids[0][1] == ""


@pytest.mark.django_db
def test_native_players_report_over_rest(live_stream, api):
    url = f"/api/v1/streams/{live_stream.pk}"
    joined = api.post(
        f"{url}/join/", {"anonymous_id": "app-install-1"}, format="json", HTTP_USER_AGENT="SFApp"
    )
    session = joined.json()["session"]
    first = api.post(f"{url}/playback/", {**REPORT, "session": session}, format="json")
    assert first.status_code == 204, first.content
    again = api.post(f"{url}/playback/", {**REPORT, "session": session}, format="json")
    assert again.status_code == 429 and again.json()["code"] == "rate_limited"
    bad = api.post(f"{url}/playback/", {**REPORT, "session": session, "dropped_frames": -5}, format="json")
    assert (
        bad.status_code == 400
        and bad.json()["code"] == "invalid"
        and "dropped_frames" in bad.json()["errors"]
    )
    forged = api.post(f"{url}/playback/", {**REPORT, "session": session[:-2] + "xx"}, format="json")
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_session"
    report = PlaybackReport.objects.get()
    assert report.session.via == "api" and report.session.anonymous_id and report.startup_ms == 1800


START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def fill(stream: Stream, samples: int) -> None:
    StreamSample.objects.bulk_create(
        StreamSample(
            stream=stream,
            at=START + timedelta(seconds=10 * (i + 1)),
            viewers=i % 7,
            viewers_peak=i % 7,
            chat_messages=i % 3,
        )
        for i in range(samples)
    )
    StreamHealthSample.objects.bulk_create(
        StreamHealthSample(stream=stream, at=START + timedelta(seconds=5 * (i + 1)), fps=30, speed=1.0)
        for i in range(2 * samples)
    )


@pytest.mark.django_db
def test_the_api_gives_the_owner_the_summary_series_health_and_highlights(live_stream, api_as, streamer):
    Stream.objects.filter(pk=live_stream.pk).update(started_at=START)
    fill(live_stream, 30)
    body = api_as(streamer).get(f"/api/v1/streams/{live_stream.pk}/analytics/?resolution=60").json()
    assert body["resolution"] == 60 and len(body["series"]) == 5 and len(body["health"]) == 5
    assert body["series"][0]["at"] == (START + timedelta(minutes=1)).isoformat()
    assert {"summary", "highlights", "warnings", "stream"} <= body.keys()
    assert body["summary"]["peak_viewers"] == 6


@pytest.mark.django_db
def test_the_api_query_count_does_not_grow_with_the_samples(live_stream, api_as, streamer):
    Stream.objects.filter(pk=live_stream.pk).update(started_at=START)
    client = api_as(streamer)
    counts = []
    for samples in (10, 1000):
        StreamSample.objects.all().delete()
        StreamHealthSample.objects.all().delete()
        fill(live_stream, samples)
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(f"/api/v1/streams/{live_stream.pk}/analytics/?resolution=10")
        assert answer.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


@pytest.mark.django_db
def test_strangers_get_404_and_bad_queries_get_400(live_stream, api_as, streamer, carol):
    url = f"/api/v1/streams/{live_stream.pk}/analytics/"
    stranger = api_as(carol).get(url)
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    owner = api_as(streamer)
    for query, code in (
        ("?from=2026-12-02T10:00:00Z&to=2026-12-01T10:00:00Z", "invalid_range"),
        ("?from=yesterday", "invalid"),
        ("?resolution=7", "invalid_choice"),  # the schema lists 10, 60 and 300
        ("?resolution=ten", "invalid_choice"),
        ("?resolution=10&resolution=60", "repeated"),
        ("?from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z", "range_too_long"),
    ):
        answer = owner.get(url + query)
        assert answer.status_code == 400, (query, answer.content)
        assert answer.json()["code"] == code and answer.json()["detail"], query
    assert owner.get("/api/v1/channel/analytics/?days=5").json()["code"] == "invalid_choice"
    channel = owner.get("/api/v1/channel/analytics/?days=7")
    assert channel.status_code == 200 and channel.json()["broadcasts"] == 1
    assert api_as(carol).get("/api/v1/channel/analytics/").json()["broadcasts"] == 0  # their own
