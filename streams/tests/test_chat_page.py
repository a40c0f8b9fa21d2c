"""The chat on its own page (/streams/<id>/chat/): the pop-out window and the OBS overlay."""

import pytest

from accounts.models import Follow
from chat.models import ChatMessage
from streams import services


def chat_page(client, stream, query=""):
    response = client.get(f"/streams/{stream.pk}/chat/{query}")
    return response.status_code, response.content.decode()


@pytest.mark.django_db
def test_the_pop_out_is_the_chat_panel_alone(client, go_live, carol):
    stream = go_live(title="Morning coffee")
    status, page = chat_page(client, stream)
    assert status == 200
    assert 'id="chat-panel"' in page and "js/chat.js" in page
    assert 'data-streamer="alice"' in page and 'data-viewer=""' in page
    assert 'data-overlay="false"' in page and 'data-can-moderate="false"' in page
    assert 'class="topbar"' not in page and "data-hls" not in page and "data-popout" not in page
    assert f'href="/accounts/login/?next=/streams/{stream.pk}/chat/"' in page  # anonymous: log in to chat
    client.force_login(carol)
    status, page = chat_page(client, stream)
    assert "<textarea" in page and 'data-viewer="carol"' in page and "data-chat-clear" not in page


@pytest.mark.django_db
def test_the_watch_page_links_to_the_pop_out_and_tells_the_chat_who_is_who(client, go_live, carol, bob):
    stream = go_live()
    client.force_login(carol)
    page = client.get(f"/streams/{stream.pk}/").content.decode()
    assert f'href="/streams/{stream.pk}/chat/"' in page and "data-popout" in page
    assert 'data-streamer="alice"' in page and 'data-viewer="carol"' in page
    assert 'data-can-moderate="false"' in page and "data-chat-clear" not in page
    client.force_login(bob)  # site moderator
    page = client.get(f"/streams/{stream.pk}/").content.decode()
    assert 'data-can-moderate="true"' in page and "data-chat-clear" in page
    assert "?overlay=1" not in page  # the overlay link is the streamer's
    client.force_login(stream.owner)
    page = client.get(f"/streams/{stream.pk}/chat/").content.decode()
    assert 'data-can-moderate="true"' in page and f'href="/streams/{stream.pk}/chat/?overlay=1"' in page


@pytest.mark.django_db
def test_followers_only_chat_is_hidden_from_strangers(client, go_live, carol):
    stream = go_live(visibility="followers")
    assert chat_page(client, stream)[0] == 404
    assert chat_page(client, stream, "?overlay=1")[0] == 404
    client.force_login(carol)
    assert chat_page(client, stream)[0] == 404
    assert client.get("/streams/nosuchstream/chat/").status_code == 404
    Follow.objects.create(follower=carol, followee=stream.owner)
    assert chat_page(client, stream)[0] == 200


@pytest.mark.django_db
def test_the_overlay_is_read_only_and_needs_no_login(client, go_live):
    stream = go_live()
    status, page = chat_page(client, stream, "?overlay=1")
    assert status == 200
    assert 'class="chat-window chat-overlay"' in page and 'data-overlay="true"' in page
    for absent in ("<form", "<textarea", "Log in", "/accounts/login/", "Pop out", "chat-more", "chat-notice"):
        assert absent not in page, absent
    client.force_login(stream.owner)  # even the streamer's own OBS gets no controls
    page = chat_page(client, stream, "?overlay=1")[1]
    assert 'data-can-moderate="false"' in page and "data-chat-clear" not in page and "<form" not in page


@pytest.mark.django_db
def test_nothing_from_the_chat_is_rendered_as_markup(client, go_live, carol):
    stream = go_live(title="<b>Bold</b> show")
    ChatMessage.objects.create(stream=stream, user=carol, content="<img src=x onerror=alert(1)>")
    for query in ("", "?overlay=1"):
        page = chat_page(client, stream, query)[1]
        assert "<img src=x" not in page and "<b>Bold</b>" not in page
        assert "&lt;b&gt;Bold&lt;/b&gt; show" in page  # the title, escaped


@pytest.mark.django_db
def test_an_ended_broadcast_shows_its_chat_closed(client, go_live, carol):
    stream = go_live()
    services.broadcast_unpublish(dialect="nginx-rtmp", key=stream.channel.stream_key, client_id="1")
    client.force_login(carol)
    status, page = chat_page(client, stream)
    assert status == 200 and "chat is closed" in page and "<textarea" not in page
