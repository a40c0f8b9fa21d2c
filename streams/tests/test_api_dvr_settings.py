"""The rewind and recording settings in the API: per channel (clips, retention) and per
broadcast (the DVR window), and what cannot change while live."""

import pytest

from socialflow.tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_a_channel_turns_clips_off_and_sets_its_retention(api_as, channel):
    client = api_as(channel.user)
    body = client.patch(
        "/api/v1/channel/", {"clips_enabled": False, "recording_retention_days": 7}, format="json"
    )
    assert body.status_code == 200
    assert (body.json()["clips_enabled"], body.json()["recording_retention_days"]) == (False, 7)
    back = client.patch("/api/v1/channel/", {"recording_retention_days": None}, format="json").json()
    assert back["recording_retention_days"] is None  # the site's default again
    assert (
        client.patch("/api/v1/channel/", {"recording_retention_days": 0}, format="json").json()[
            "recording_retention_days"
        ]
        == 0
    )  # forever
    assert_error(
        client.patch("/api/v1/channel/", {"recording_retention_days": -1}, format="json"), 400, "min_value"
    )
    assert_error(
        client.patch("/api/v1/channel/", {"recording_retention_days": 99999}, format="json"), 400, "max_value"
    )


def test_a_broadcast_asks_for_its_own_rewind_window(api_as, streamer, settings):
    client = api_as(streamer)
    created = client.post(
        "/api/v1/streams/", {"title": "Short rewind", "dvr_window_seconds": 120}, format="json"
    )
    assert created.status_code == 201 and created.json()["dvr_window_seconds"] == 120
    stream_id = created.json()["id"]
    too_long = client.patch(
        f"/api/v1/streams/{stream_id}/",
        {"dvr_window_seconds": settings.DVR_WINDOW_SECONDS + 1},
        format="json",
    )
    assert "dvr_window_seconds" in assert_error(too_long, 400, "invalid")["detail"]
    assert_error(client.post("/api/v1/streams/", {"dvr_window_seconds": 5}, format="json"), 400, "invalid")
    off = client.patch(f"/api/v1/streams/{stream_id}/", {"dvr_enabled": False}, format="json")
    assert off.json()["dvr_window_seconds"] == 0


def test_recording_and_rewind_are_fixed_while_live(api_as, go_live, streamer):
    stream = go_live()
    client = api_as(streamer)
    refused = client.patch(f"/api/v1/streams/{stream.pk}/", {"record": False}, format="json")
    assert "while the broadcast is live" in assert_error(refused, 409, "live_setting")["detail"]
    same = client.patch(
        f"/api/v1/streams/{stream.pk}/", {"record": True, "title": "Still live"}, format="json"
    )
    assert same.status_code == 200 and same.json()["title"] == "Still live"


def test_the_dashboard_form_keeps_the_live_settings_as_they_were(client, go_live, streamer):
    stream = go_live()
    client.force_login(streamer)
    page = client.get("/dashboard/").content.decode()
    assert "Fixed while live" in page
    client.post("/dashboard/stream/", {"title": "Renamed", "visibility": "public"})  # no checkboxes sent
    stream.refresh_from_db()
    assert (stream.title, stream.record, stream.dvr_enabled) == ("Renamed", True, True)


def test_the_dashboard_sets_clips_and_retention(client, channel):
    client.force_login(channel.user)
    response = client.post("/dashboard/channel/media/", {"recording_retention_days": "14"})  # clips unticked
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.clips_enabled, channel.recording_retention_days) == (False, 14)
    client.post("/dashboard/channel/media/", {"clips_enabled": "on", "recording_retention_days": ""})
    channel.refresh_from_db()
    assert (channel.clips_enabled, channel.recording_retention_days) == (True, None)
    bad = client.post("/dashboard/channel/media/", {"recording_retention_days": "-3"})
    assert bad.status_code == 400 and "greater than or equal to 0" in bad.content.decode()
    channel.refresh_from_db()
    assert channel.recording_retention_days is None
