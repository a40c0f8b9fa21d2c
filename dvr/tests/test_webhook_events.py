"""A recording that is ready and a clip that is made are told to the owner's webhooks."""

import pytest

from accounts import webhooks
from accounts.models import WebhookDelivery
from dvr import clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(settings, streamer):
    # Listed before `recorded` in the tests, so it exists before the recording is finished.
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    return webhooks.webhook_create(
        owner=streamer, url="http://127.0.0.1:9/", events=["recording.ready", "clip.created"]
    )


def test_a_ready_recording_and_a_made_clip_are_delivered(
    hook, recorded, bob, django_capture_on_commit_callbacks
):
    ready = WebhookDelivery.objects.get(event="recording.ready").payload
    assert ready["recording"]["id"] == recorded.recording.pk
    assert ready["recording"]["url"].endswith(f"/recordings/{recorded.recording.pk}/")
    assert ready["recording"]["duration_seconds"] > 5 and ready["stream"]["id"] == str(recorded.pk)

    with django_capture_on_commit_callbacks():
        clip = clips.clip_create(stream=recorded, by=bob, title="Nice", seconds=5)
    assert not WebhookDelivery.objects.filter(event="clip.created").exists()  # not made yet
    clips.clip_make(clip_id=clip.pk)
    made = WebhookDelivery.objects.get(event="clip.created").payload
    assert made["clip"]["id"] == clip.pk and made["clip"]["creator"]["username"] == "bob"
    assert made["clip"]["url"].endswith(f"/clips/{clip.pk}/") and made["clip"]["duration_seconds"] > 3
    assert made["channel"]["username"] == "alice"
