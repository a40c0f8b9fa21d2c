"""The broadcast lifecycle as services see it: prepare, go live, end, rotate, reap, notify."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import timezone

from accounts.models import Follow, Notification, User
from accounts.services import user_ban
from accounts.tests.factories import UserFactory
from streams import services
from streams.errors import StreamError
from streams.models import Stream, StreamEvent
from streams.tests.factories import CategoryFactory


@pytest.mark.django_db
def test_publish_activates_the_prepared_stream(channel, streamer, go_live):
    music = CategoryFactory(slug="music", name="Music")
    prepared = services.stream_create(
        owner=streamer, title="Friday jam", category=music, tags=["Jazz", "#live"]
    )
    assert go_live().pk == prepared.pk
    prepared.refresh_from_db()
    assert prepared.status == "live" and prepared.title == "Friday jam" and prepared.tags == ["jazz", "live"]


@pytest.mark.django_db
def test_publish_without_a_prepared_stream_uses_channel_defaults(channel, streamer, go_live):
    services.channel_update_defaults(
        channel=channel, default_title="Always on", default_visibility="followers"
    )
    stream = go_live()
    assert (stream.title, stream.visibility, stream.status) == ("Always on", "followers", "live")


@pytest.mark.django_db
def test_scheduled_stream_goes_live_when_obs_connects_early(channel, streamer, go_live):
    scheduled = services.stream_create(
        owner=streamer, title="Later", scheduled_for=timezone.now() + timedelta(hours=2)
    )
    assert scheduled.status == "scheduled"
    assert go_live().pk == scheduled.pk


@pytest.mark.django_db
def test_eligibility_is_checked_again_at_publish(channel, streamer):
    Follow.objects.filter(followee=streamer).first().delete()  # one follower left; 2 are needed
    result = services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip="127.0.0.1"
    )
    assert not result.allowed
    assert result.reason == "You need 2 followers to go live; you have 1."
    event = StreamEvent.objects.get(type="publish_refused")
    assert event.channel == channel and event.details["reason"] == result.reason


@pytest.mark.django_db
def test_suspended_streamer_is_refused(channel, streamer, bob):
    user_ban(user=streamer, by=bob)
    result = services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip="127.0.0.1"
    )
    assert result.reason == "The account is suspended."


@pytest.mark.django_db
def test_create_refused_below_threshold(alice):
    with pytest.raises(StreamError) as exc:
        services.stream_create(owner=alice, title="Too soon")
    assert exc.value.code == "not_eligible" and exc.value.status_code == 403
    assert exc.value.message == "You need 2 followers to go live; you have 0."


@pytest.mark.django_db
def test_schedule_in_the_past_is_refused(streamer):
    with pytest.raises(StreamError, match="future"):
        services.stream_create(owner=streamer, scheduled_for=timezone.now() - timedelta(minutes=1))


@pytest.mark.django_db
@pytest.mark.parametrize("tags", [["a" * 26], ["no spaces"], [f"t{i}" for i in range(11)]])
def test_bad_tags_are_refused(streamer, tags):
    with pytest.raises(StreamError, match="tags"):
        services.stream_create(owner=streamer, tags=tags)


@pytest.mark.django_db
def test_rotating_the_key_ends_the_live_broadcast_and_drops_the_publisher(
    channel, streamer, celery_queue, django_capture_on_commit_callbacks, go_live
):
    old_key = channel.stream_key
    go_live(client_id="42")
    with django_capture_on_commit_callbacks(execute=True):
        services.channel_rotate_key(channel=channel, by=streamer)
    stream = Stream.objects.get(channel=channel)
    assert stream.status == "ended" and stream.end_reason == "key_rotated"
    assert ("streams.tasks.media_drop_publisher_task", ["nginx-rtmp", channel.pk, "42"]) in celery_queue()
    channel.refresh_from_db()
    assert channel.stream_key != old_key
    assert (
        services.broadcast_publish(dialect="nginx-rtmp", key=old_key, client_id="43", ip=None).allowed
        is False
    )
    assert go_live(client_id="44").is_live  # with the new key


@pytest.mark.django_db
def test_owner_and_moderator_end(
    channel, streamer, bob, celery_queue, django_capture_on_commit_callbacks, go_live
):
    stream = go_live(client_id="1")
    with django_capture_on_commit_callbacks(execute=True):
        services.stream_end(stream=stream, by=bob)
    stream.refresh_from_db()
    assert stream.end_reason == "moderator_ended"
    assert celery_queue() == [
        ("dvr.tasks.recording_finalize_task", [stream.pk]),  # record is on by default
        ("streams.tasks.media_drop_publisher_task", ["nginx-rtmp", channel.pk, "1"]),
    ]
    # ending again changes nothing
    services.stream_end(stream=stream, by=streamer)
    stream.refresh_from_db()
    assert stream.end_reason == "moderator_ended"


@pytest.mark.django_db
def test_ending_a_prepared_stream_cancels_it(streamer):
    stream = services.stream_create(owner=streamer, title="Maybe")
    services.stream_end(stream=stream, by=streamer)
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == ("ended", "cancelled")
    with pytest.raises(StreamError) as exc:
        services.stream_update(stream=stream, title="x")
    assert exc.value.status_code == 409


@pytest.mark.django_db
def test_reaper_ends_broadcasts_whose_publisher_vanished(channel, settings, go_live):
    settings.MEDIA_SERVER_API_URL = "http://127.0.0.1:9"  # no media server: nobody is publishing
    fresh_channel_stream = go_live()
    Stream.objects.filter(pk=fresh_channel_stream.pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=5)
    )
    assert services.broadcasts_reap_stale() == 1
    fresh_channel_stream.refresh_from_db()
    assert fresh_channel_stream.end_reason == "reaped"
    assert services.broadcasts_reap_stale() == 0


@pytest.mark.django_db
def test_reaper_leaves_broadcasts_with_a_recent_heartbeat(channel, go_live):
    go_live()
    assert services.broadcasts_reap_stale() == 0
    assert Stream.objects.live().count() == 1


@pytest.mark.django_db
def test_going_live_notifies_followers_in_app_and_by_email(channel, streamer, go_live):
    quiet = UserFactory(username="quiet", email_notifications=False)
    Follow.objects.create(follower=quiet, followee=streamer)
    unverified = UserFactory(username="claimed", email="victim@example.com")
    Follow.objects.create(follower=unverified, followee=streamer)
    EmailAddress.objects.create(user=unverified, email=unverified.email, primary=True, verified=False)
    for follower in User.objects.filter(following_set__followee=streamer).exclude(
        pk__in=[quiet.pk, unverified.pk]
    ):
        EmailAddress.objects.get_or_create(user=follower, email=follower.email, primary=True, verified=True)
    stream = go_live()
    notified = services.stream_notify_followers(stream_id=stream.pk)
    assert notified == 4
    assert Notification.objects.filter(kind="went_live", actor=streamer).count() == 4
    recipients = sorted(address for message in mail.outbox for address in message.to)
    # Neither the follower who wants no e-mail nor an address nobody verified (S-15).
    assert (
        len(recipients) == 2
        and "quiet@example.com" not in recipients
        and "victim@example.com" not in recipients
    )
    assert "Alice Streams is live" in mail.outbox[0].subject
    assert channel.stream_key not in mail.outbox[0].body


@pytest.mark.django_db
def test_going_live_enqueues_the_notification(
    channel, celery_queue, django_capture_on_commit_callbacks, go_live
):
    with django_capture_on_commit_callbacks(execute=True):
        stream = go_live()
    assert ("streams.tasks.stream_notify_followers_task", [stream.pk]) in celery_queue()


@pytest.mark.django_db
def test_no_notification_for_a_broadcast_that_already_ended(channel, go_live):
    stream = go_live()
    services.broadcast_unpublish(dialect="nginx-rtmp", key=channel.stream_key, client_id="1")
    assert services.stream_notify_followers(stream_id=stream.pk) == 0
