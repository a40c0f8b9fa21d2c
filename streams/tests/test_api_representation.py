"""StreamSerializer builds its answer by hand (for speed): it must be the answer DRF's own
walk over the declared fields gives, key for key and in order, in every state a broadcast
can be in, for every kind of caller."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers

from streams import services
from streams.apis import OwnerStreamSerializer, StreamSerializer
from streams.tests.factories import CategoryFactory


@pytest.fixture
def broadcasts(go_live, streamer, carol):
    now = timezone.now()
    streamer.avatar = "avatars/alice.png"
    streamer.save(update_fields=["avatar"])
    live = go_live(
        title="Speedrun",
        category=CategoryFactory(slug="games"),
        tags=["retro", "any"],
        viewer_count=12,
        peak_viewer_count=40,
        hls_ready_at=now,
        thumbnail_updated_at=now,
        dvr_window_seconds=600,
    )
    private = go_live(
        "dora", visibility="followers", hls_ready_at=now, media_private=True, thumbnail_updated_at=now
    )
    services.stream_end(stream=go_live("erin", record=False, dvr_enabled=False), by=carol)
    ended = services.stream_end(stream=go_live("fay", low_latency=True), by=carol)
    scheduled = services.stream_create(owner=streamer, title="Later", scheduled_for=now + timedelta(days=1))
    idle = services.stream_create(owner=streamer, title="", description="No category, no tags")
    return [live, private, ended, scheduled, idle]


@pytest.mark.django_db
def test_the_hand_built_answer_is_drfs(broadcasts, carol):
    factory = RequestFactory()
    with time_machine.travel(timezone.now(), tick=False):  # signed URLs and grants carry the time
        for user in (AnonymousUser(), carol, broadcasts[0].owner):
            for secure in (False, True):
                request = factory.get("/api/v1/streams/live/", secure=secure)
                request.user = user
                for stream in broadcasts:
                    for serializer_class in (StreamSerializer, OwnerStreamSerializer):
                        serializer = serializer_class(context={"request": request})
                        by_hand = serializer.to_representation(stream)
                        by_drf = serializers.Serializer.to_representation(serializer, stream)
                        assert json.dumps(by_hand) == json.dumps(by_drf), (serializer_class, stream, user)
