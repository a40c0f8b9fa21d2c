"""The stream socket: /ws/streams/<id>/ carries chat (and, as they arrive, reactions,
viewer counts and status changes) for one broadcast."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http import Http404

from analytics.services import viewer_session_end, viewer_session_start
from chat import broadcast, events, presence, selectors, services
from chat.errors import ChatError
from chat.hub import hub
from streams.models import Stream
from streams.selectors import stream_get_visible

CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN = 1013
log = logging.getLogger(__name__)


def _visible_stream(stream_id: str, user) -> Stream | None:
    try:
        return stream_get_visible(stream_id=stream_id, user=user)
    except Http404:
        return None


def _history(stream: Stream) -> tuple[list[dict], dict, int]:
    """The last messages, the pinned one and the chat modes, and the id this socket has
    seen up to (deleted ones included)."""
    # The id first: a message committed after it comes as an event, not in the history.
    last_id = selectors.latest_message_id(stream_id=stream.pk)
    messages = [services.message_payload(m) for m in selectors.messages_after(stream=stream, upto=last_id)]
    pinned = selectors.pinned_message(stream=stream)
    extra = {
        "pinned": pinned and services.message_payload(pinned),
        "modes": services.chat_modes(services.chat_settings_for(stream)),
    }
    return messages, extra, last_id


def missed_frames_sync(stream_id: str, after: int, before: int) -> list[tuple[int, str]]:
    return [
        (m.pk, broadcast.encode({"type": events.CHAT_MESSAGE, **services.message_payload(m)}))
        for m in selectors.messages_between(stream_id=stream_id, after=after, before=before)
    ]


class StreamConsumer(AsyncJsonWebsocketConsumer):
    # No channel-layer channel per socket: the process's hub (chat/hub.py) holds the one
    # subscription per broadcast and hands events to `stream_frame`.
    channel_layer_alias = "__no_channel_per_socket__"

    MAX_PENDING = 500  # events held while connecting; chat ones beyond it are caught up by id

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when a handler raised or Daphne cancelled us: never a ghost member
            if getattr(self, "joined", False):
                hub().discard(self.stream.pk, self)

    # --- socket handlers -------------------------------------------------------------

    async def connect(self):
        stream_id = self.scope["url_route"]["kwargs"]["stream_id"]
        self.stream = await database_sync_to_async(_visible_stream)(stream_id, self.scope["user"])
        if self.stream is None:
            await self.close(code=CLOSE_NOT_FOUND)  # unknown, or not for this viewer
            return
        self.presence_id = uuid.uuid4().hex
        # An OBS overlay (or another read-only embed) is not a viewer.
        self.counted = parse_qs(self.scope.get("query_string", b"").decode()).get("overlay") != ["1"]
        self.last_id = None  # until the history is sent, events wait in `pending`
        self.pending: list[dict] = []
        self.delivery = asyncio.Lock()  # one delivery at a time: frames keep their order
        await self.accept()
        try:
            await hub().join(self.stream.pk, self)
        except Exception as exc:  # Redis away: the client retries with backoff
            log.warning("stream %s: cannot subscribe a new socket: %s", self.stream.pk, exc)
            return await self.close(code=CLOSE_TRY_AGAIN)
        self.joined = True
        user = self.scope["user"]
        if self.counted:
            self.session_id = await database_sync_to_async(viewer_session_start)(
                stream_id=self.stream.pk, user_id=user.pk if user.is_authenticated else None
            )
        await self.presence(presence.join)
        history, extra, last_id = await database_sync_to_async(_history)(self.stream)
        await self.send_json({"type": events.CHAT_HISTORY, "messages": history, **extra})
        async with self.delivery:
            self.last_id = last_id
            pending, self.pending = self.pending, []
            for event in pending:
                await self.deliver(event)

    async def disconnect(self, code):
        if getattr(self, "joined", False):
            hub().discard(self.stream.pk, self)
        if getattr(self, "session_id", None):
            await self.presence(presence.leave)
            await database_sync_to_async(viewer_session_end)(session_id=self.session_id)

    async def presence(self, action) -> None:
        """Presence is best effort: with Redis away, chat goes on and the count catches up
        with the next heartbeats."""
        if not self.counted:
            return
        try:
            await action(self.stream.pk, self.presence_id)
        except Exception as exc:
            log.warning("presence %s failed for %s: %s", action.__name__, self.stream.pk, exc)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if getattr(self, "last_id", None) is None:
            return  # not (or no longer) connected: a frame that raced the close
        try:
            await self.handle_frame(text_data)
        except Exception:  # a bug or the database away: say so, keep the socket
            log.exception("stream %s: frame failed", self.stream.pk)
            await self.error("server_error", "That did not work; please try again in a moment.")

    async def handle_frame(self, text_data):
        """Every frame is checked before anything else sees it; bad ones get an error frame
        and the socket stays up."""
        if text_data is None:
            return await self.error("bad_frame", "Send JSON text frames.")
        if len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
            return await self.error(
                "frame_too_large", f"Frames are limited to {settings.CHAT_MAX_FRAME_BYTES} bytes."
            )
        try:
            content = json.loads(text_data)
        except ValueError:
            return await self.error("bad_json", "That frame is not JSON.")
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            return await self.error("bad_frame", "Expected a JSON object with a string `type`.")
        if content["type"] not in events.CLIENT_TYPES:
            return await self.error("unknown_type", f"Unknown frame type '{content['type'][:40]}'.")
        if content["type"] == events.CHAT_SEND:
            return await self.chat_send(content)
        if content["type"] == events.REACTION_SEND:
            return await self.reaction_send(content)
        if content["type"] in self.moderation:
            return await self.moderate(content)
        if content["type"] == events.HEARTBEAT:
            await self.presence(presence.beat)
            # A quiet broadcast has no next message to reveal a gap; the heartbeat does.
            latest = await hub().latest_id(self.stream.pk)
            async with self.delivery:
                if latest > self.last_id:
                    await self.catch_up(before=latest + 1)
            return await self.send_json({"type": events.HEARTBEAT})

    # --- commands ---------------------------------------------------------------------

    async def chat_send(self, content: dict):
        try:
            await database_sync_to_async(services.message_send)(
                stream=self.stream, user=self.scope["user"], content=content.get("content")
            )
        except ChatError as exc:
            await self.error(exc.code, exc.message)

    moderation = {
        events.CHAT_DELETE: lambda stream, user, frame: services.message_delete(
            stream=stream, by=user, message_id=frame.get("id")
        ),
        events.CHAT_PIN: lambda stream, user, frame: services.message_pin(
            stream=stream, by=user, message_id=frame.get("id")
        ),
        events.CHAT_TIMEOUT: lambda stream, user, frame: services.user_timeout(
            stream=stream, by=user, username=frame.get("username"), seconds=frame.get("seconds", 600)
        ),
        events.CHAT_BAN: lambda stream, user, frame: services.user_timeout(
            stream=stream, by=user, username=frame.get("username"), seconds=None
        ),
        events.CHAT_SETTINGS: lambda stream, user, frame: services.chat_settings_update(
            stream=stream, by=user, **{k: v for k, v in frame.items() if k != "type"}
        ),
        events.CHAT_CLEAR: lambda stream, user, frame: services.chat_clear(stream=stream, by=user),
    }

    async def moderate(self, content: dict):
        command = self.moderation[content["type"]]
        try:
            await database_sync_to_async(command)(self.stream, self.scope["user"], content)
        except ChatError as exc:
            await self.error(exc.code, exc.message)

    async def reaction_send(self, content: dict):
        try:
            await database_sync_to_async(services.reaction_send)(
                stream=self.stream, user=self.scope["user"], type=content.get("reaction", content.get("kind"))
            )
        except ChatError as exc:
            await self.error(exc.code, exc.message)

    async def error(self, code: str, detail: str):
        await self.send_json({"type": events.ERROR, "code": code, "detail": detail})

    # --- group events (this runs once per socket per event: keep it tiny) --------------

    async def stream_frame(self, event):
        """Called by the hub for every event of the broadcast; no database, no decoding."""
        if self.last_id is None:
            if len(self.pending) < self.MAX_PENDING:
                self.pending.append(event)
            return
        async with self.delivery:  # not contended, unless this socket is catching up
            await self.deliver(event)

    async def deliver(self, event):
        message_id = event.get("id")
        if message_id is not None:  # a chat message: in id order, without gaps
            if message_id <= self.last_id:
                return  # sent already, while catching up
            if event["prev"] > self.last_id:
                await self.catch_up(before=message_id)
            self.last_id = message_id
        await self.send(text_data=event["text"])

    async def catch_up(self, *, before: int) -> None:
        """Send the messages this socket missed (the pub/sub layer drops what is published
        while Redis is away; they were persisted first)."""
        for message_id, text in await hub().missed(self.stream.pk, self.last_id, before):
            if message_id > self.last_id:
                self.last_id = message_id
                await self.send(text_data=text)
        self.last_id = max(self.last_id, before - 1)
