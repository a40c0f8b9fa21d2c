"""The textbook Django Channels chat, as the baseline of bench/chat.py (bench only).

One `AsyncJsonWebsocketConsumer` per socket at the same path as the real stream socket
(/ws/streams/<id>/): on connect it joins the broadcast's group and sends a first frame (in
place of the real chat.history); a {"type": "chat.send", "content": ...} frame is passed to
`group_send` as a chat.message event of the real frame's shape, which `chat_message` then
sends to each member with `send_json`. No auth, no database, no project app loaded: Django
is configured with nothing but the project's CHANNEL_LAYERS (socialflow.settings, so
CHANNEL_LAYER=pubsub|core and REDIS_URL pick the same layer as the real run).

    daphne --fd N bench.bare_channels:application   (see start_bare_channels in bench/hooks.py)
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime
from typing import Any

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")
if not settings.configured:
    from socialflow import settings as project

    settings.configure(
        DEBUG=False,
        SECRET_KEY=project.SECRET_KEY,
        INSTALLED_APPS=[],
        CHANNEL_LAYERS=project.CHANNEL_LAYERS,
    )
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

_ids = itertools.count(1)  # per process; the client does not read ids


class BareChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.group = f"bare-chat.{self.scope['url_route']['kwargs']['stream_id']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "chat.history", "messages": [], "pinned": None})

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs) -> None:
        if not isinstance(content, dict) or content.get("type") != "chat.send":
            return
        await self.channel_layer.group_send(
            self.group,
            {
                "type": "chat.message",
                "id": next(_ids),
                "user": {"username": "bench", "display_name": "bench"},
                "content": str(content.get("content", "")),
                "created_at": datetime.now(UTC).isoformat(),
            },
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send_json(event)


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/streams/<str:stream_id>/", BareChatConsumer.as_asgi())])}
)
