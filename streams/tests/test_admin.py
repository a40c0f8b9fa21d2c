import asyncio
import json
from html.parser import HTMLParser

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from socialflow.lib.realtime import stream_group
from streams.models import Category, Stream, StreamEvent


@pytest.mark.django_db
def test_moderator_ends_a_broadcast_from_the_admin(
    client, bob, channel, nginx_hook, celery_queue, django_capture_on_commit_callbacks
):
    nginx_hook("publish", channel.stream_key, clientid="8")
    stream = Stream.objects.get()
    client.force_login(bob)
    page = client.get("/admin/streams/stream/?status__exact=live").content.decode()
    assert stream.title in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/streams/stream/", {"action": "end_broadcast", "_selected_action": [stream.pk]})
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == ("ended", "moderator_ended")
    assert ("streams.tasks.media_drop_publisher_task", ["nginx-rtmp", channel.pk, "8"]) in celery_queue()


@pytest.mark.django_db
def test_moderator_rotates_a_key_from_the_admin(client, bob, channel):
    old = channel.stream_key
    client.force_login(bob)
    client.post("/admin/streams/channel/", {"action": "rotate_key", "_selected_action": [channel.pk]})
    channel.refresh_from_db()
    assert channel.stream_key != old


@pytest.mark.django_db
def test_stream_page_in_the_admin_shows_its_events(client, bob, channel, nginx_hook):
    nginx_hook("publish", channel.stream_key, clientid="8")
    client.force_login(bob)
    page = client.get(f"/admin/streams/stream/{Stream.objects.get().pk}/change/").content.decode()
    assert "Went live." in page


@pytest.mark.django_db
def test_strangers_cannot_reach_stream_admin(client, carol):
    client.force_login(carol)
    assert client.get("/admin/streams/stream/").status_code == 302


@pytest.mark.django_db
def test_categories_are_managed_by_moderators(client, bob):
    client.force_login(bob)
    client.post(
        "/admin/streams/category/add/",
        {
            "name": "Just Chatting",
            "slug": "just-chatting",
            "position": 1,
            "is_active": "on",
            "description": "",
        },
    )
    assert Category.objects.filter(slug="just-chatting").exists()


class _FormFields(HTMLParser):
    """What a browser would post from a Django admin change form."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") != "checkbox" or "checked" in attrs:
                self.data[name] = attrs.get("value") or ("on" if attrs.get("type") == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n")


@pytest.mark.django_db(transaction=True)
def test_an_admin_edit_goes_through_the_service_and_reaches_viewers(client, bob, channel, nginx_hook):
    nginx_hook("publish", channel.stream_key, clientid="8")
    stream = Stream.objects.get()
    client.force_login(bob)
    url = f"/admin/streams/stream/{stream.pk}/change/"
    form = _FormFields()
    form.feed(client.get(url).content.decode())
    form.data["title"] = "Renamed by a moderator"

    async def scenario():
        layer = get_channel_layer()
        inbox = await layer.new_channel()
        await layer.group_add(stream_group(stream.pk), inbox)
        try:
            response = await sync_to_async(client.post)(url, form.data)
            event = await asyncio.wait_for(layer.receive(inbox), timeout=5)
            return response, json.loads(event["text"])
        finally:
            await layer.group_discard(stream_group(stream.pk), inbox)

    response, frame = async_to_sync(scenario)()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (frame["type"], frame["title"], frame["status"]) == (
        "stream.status",
        "Renamed by a moderator",
        "live",
    )
    event = StreamEvent.objects.filter(stream=stream, type=StreamEvent.Type.UPDATED).get()
    assert event.details == {"fields": ["title"]}
