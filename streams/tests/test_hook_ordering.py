"""Hooks replayed 3 times and out of order leave the same state as one delivery."""

import pytest

from streams.models import Stream, StreamEvent
from streams.tests.helpers import srs

pytestmark = pytest.mark.faults


def state(channel):
    return list(
        Stream.objects.filter(channel=channel)
        .order_by("created_at")
        .values_list("status", "publisher_client_id", "end_reason")
    )


@pytest.mark.django_db
def test_publish_three_times_is_one_broadcast(nginx_hook, channel):
    for _ in range(3):
        assert nginx_hook("publish", channel.stream_key, clientid="5").status_code == 200
    assert state(channel) == [("live", "5", "")]
    assert StreamEvent.objects.filter(type="went_live").count() == 1


@pytest.mark.django_db
def test_unpublish_three_times_ends_once(nginx_hook, channel):
    nginx_hook("publish", channel.stream_key, clientid="5")
    for _ in range(3):
        assert nginx_hook("publish_done", channel.stream_key, clientid="5").status_code == 200
    assert state(channel) == [("ended", "5", "publisher_left")]
    assert StreamEvent.objects.filter(type="ended").count() == 1


@pytest.mark.django_db
def test_unpublish_before_publish_leaves_nothing_live(nginx_hook, channel):
    """The publish hook arrives late, after the connection already closed."""
    nginx_hook("publish_done", channel.stream_key, clientid="5")
    assert nginx_hook("publish", channel.stream_key, clientid="5").status_code == 403
    assert not Stream.objects.live().exists()
    for _ in range(2):  # and replays of either change nothing
        nginx_hook("publish_done", channel.stream_key, clientid="5")
        nginx_hook("publish", channel.stream_key, clientid="5")
    assert not Stream.objects.live().exists()


@pytest.mark.django_db
def test_late_unpublish_cannot_end_a_newer_broadcast(nginx_hook, channel):
    nginx_hook("publish", channel.stream_key, clientid="5")
    nginx_hook("publish_done", channel.stream_key, clientid="5")
    nginx_hook("publish", channel.stream_key, clientid="6")  # OBS reconnected
    nginx_hook("publish_done", channel.stream_key, clientid="5")  # a late replay of the old one
    assert state(channel) == [("ended", "5", "publisher_left"), ("live", "6", "")]


@pytest.mark.django_db
def test_second_connection_is_refused_while_live(nginx_hook, channel):
    nginx_hook("publish", channel.stream_key, clientid="5")
    response = nginx_hook("publish", channel.stream_key, clientid="9")
    assert response.status_code == 403
    assert response.content == b"The channel is already live from another connection."
    assert state(channel) == [("live", "5", "")]


@pytest.mark.django_db
def test_same_sequence_replayed_in_any_order_converges(nginx_hook, channel, followers_of):
    """publish(5), publish_done(5), publish(6) delivered as 6,5,done5 x3 each."""
    sequence = [("publish", "6"), ("publish", "5"), ("publish_done", "5")]
    for _ in range(3):
        for call, clientid in sequence:
            nginx_hook(call, channel.stream_key, clientid=clientid)
    assert (
        Stream.objects.live().filter(channel=channel).values_list("publisher_client_id", flat=True).get()
        == "6"
    )
    assert Stream.objects.filter(channel=channel).count() == 1


@pytest.mark.django_db
def test_srs_hooks_replayed_and_reordered_converge(client, channel):
    for _ in range(3):
        assert srs(client, "on_publish", channel.stream_key, client_id="b").content == b"0"
    for _ in range(3):
        # a late unpublish of an older connection
        assert srs(client, "on_unpublish", channel.stream_key, client_id="a").content == b"0"
    assert state(channel) == [("live", "b", "")]
    for _ in range(3):
        srs(client, "on_unpublish", channel.stream_key, client_id="b")
        srs(client, "on_publish", channel.stream_key, client_id="b")  # late replay after the end
    assert state(channel) == [("ended", "b", "publisher_left")]
    assert StreamEvent.objects.filter(type="went_live").count() == 1
