"""The stream socket: /ws/streams/<id>/ carries chat (and, as they arrive, reactions,
viewer counts and status changes) for one broadcast."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http import Http404

from analytics.services import viewer_session_end, viewer_session_start
from chat import events, presence, selectors, services
from chat.errors import ChatError
from streams.models import Stream
from streams.selectors import stream_get_visible

CLOSE_NOT_FOUND = 4404


def _visible_stream(stream_id: str, user) -> Stream | None:
    try:
        return stream_get_visible(stream_id=stream_id, user=user)
    except Http404:
        return None


def _history(stream: Stream) -> list[dict]:
    return [services.message_payload(m) for m in selectors.messages_after(stream=stream)]


class StreamConsumer(AsyncJsonWebsocketConsumer):
    # --- socket handlers -------------------------------------------------------------

    async def connect(self):
        stream_id = self.scope["url_route"]["kwargs"]["stream_id"]
        self.stream = await database_sync_to_async(_visible_stream)(stream_id, self.scope["user"])
        if self.stream is None:
            await self.close(code=CLOSE_NOT_FOUND)  # unknown, or not for this viewer
            return
        self.group = events.stream_group(self.stream.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        user = self.scope["user"]
        self.session_id = await database_sync_to_async(viewer_session_start)(
            stream_id=self.stream.pk, user_id=user.pk if user.is_authenticated else None
        )
        await presence.join(self.stream.pk, self.channel_name)
        history = await database_sync_to_async(_history)(self.stream)
        await self.send_json({"type": events.CHAT_HISTORY, "messages": history})

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if getattr(self, "session_id", None):
            await presence.leave(self.stream.pk, self.channel_name)
            await database_sync_to_async(viewer_session_end)(session_id=self.session_id)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
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
            await presence.beat(self.stream.pk, self.channel_name)
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

    # --- group handlers (one call per socket) ---------------------------------------

    async def chat_message(self, event):
        await self.send_json(event)

    async def stream_status(self, event):
        await self.send_json(event)

    async def viewers(self, event):
        await self.send_json(event)

    async def reaction(self, event):
        await self.send_json(event)

    async def chat_mode(self, event):
        await self.send_json(event)

    async def chat_deleted(self, event):
        await self.send_json(event)

    async def chat_pinned(self, event):
        await self.send_json(event)

    async def chat_cleared(self, event):
        await self.send_json(event)
