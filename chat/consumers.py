"""The stream socket: /ws/streams/<id>/ carries one broadcast's chat, reactions, viewer
count and status changes (frame types in socialflow.lib.realtime, described in
docs/api.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.http import Http404
from rest_framework.exceptions import ValidationError

from accounts.models import User
from analytics.services import Client, viewer_session_end, viewer_session_start
from chat import moderation, playback, presence, schemas, selectors, services
from chat.errors import ChatError
from chat.hub import hub
from socialflow.lib import realtime
from socialflow.lib.addresses import scope_address
from socialflow.lib.api import validation_error_body
from streams.models import Stream
from streams.selectors import stream_get_visible

log = logging.getLogger(__name__)


REFERRER_RE = re.compile(r"^[a-z0-9.:-]{1,255}$")


def _client(scope: dict[str, Any], query: dict[str, list[str]]) -> Client:
    """Who this socket is, for analytics: the page's anonymous id (`vid`, kept in the
    browser's localStorage), the User-Agent, and where the viewer came from (`ref`, worked
    out by the page's server: a host, "internal" or nothing)."""
    headers = dict(scope.get("headers") or [])
    referrer = (query.get("ref") or [""])[0].lower()
    return Client(
        anonymous_id=(query.get("vid") or [""])[0][:128],
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        referrer=referrer if REFERRER_RE.match(referrer) else "",
    )


RECHECK_SECONDS = 5.0


def _recheck(stream_id: str, user: Any) -> tuple[Any, bool]:
    """(the user as the database has them now, whether they moderate), or (None, False)
    when they may no longer see the broadcast."""
    if user.is_authenticated:
        user = User.objects.filter(pk=user.pk, is_active=True).first()
        if user is None:
            return None, False
    stream = _visible_stream(stream_id, user)
    if stream is None:
        return None, False
    return user, selectors.chat_can_moderate(user=user, stream=stream)


def _visible_stream(stream_id: str, user: Any) -> Stream | None:
    try:
        return stream_get_visible(stream_id=stream_id, user=user)
    except Http404:
        return None


@dataclass
class FrameBudget:
    """A token bucket per socket (S-13): FRAME_BURST frames at once, FRAME_RATE a second
    after that. Chat has its own, slower limits; this one keeps a flooding client from
    costing the server a query per frame."""

    tokens: float = field(default_factory=lambda: float(settings.CHAT_FRAME_BURST))
    at: float = field(default_factory=time.monotonic)
    warned: float = 0.0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(
            float(settings.CHAT_FRAME_BURST), self.tokens + (now - self.at) * settings.CHAT_FRAME_RATE
        )
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def should_warn(self) -> bool:
        now = time.monotonic()
        if now - self.warned < 1:
            return False
        self.warned = now
        return True


@dataclass(frozen=True)
class Command:
    """A client command: the schema its frame must pass, and the service it calls with the
    broadcast, the sender (as `actor`) and the validated fields as keyword arguments."""

    schema: type[schemas.CommandInput] | None
    service: Callable[..., Any]
    actor: str = "by"

    def run(self, stream: Stream, user: Any, frame: dict[str, Any]) -> None:
        data: dict[str, Any] = {}
        if self.schema is not None:
            inputs = self.schema(data=frame)
            inputs.is_valid(raise_exception=True)
            data = dict(inputs.validated_data)
        self.service(stream=stream, **{self.actor: user}, **data)


# Every command a client may send; heartbeats are the consumer's own.
COMMANDS: dict[str, Command] = {
    realtime.CHAT_SEND: Command(schemas.ChatSendInput, services.message_send, actor="user"),
    realtime.REACTION_SEND: Command(schemas.ReactionSendInput, services.reaction_send, actor="user"),
    realtime.CHAT_DELETE: Command(schemas.MessageRefInput, moderation.message_delete),
    realtime.CHAT_PIN: Command(schemas.MessageRefInput, moderation.message_pin),
    realtime.CHAT_TIMEOUT: Command(schemas.ChatTimeoutInput, moderation.user_timeout),
    realtime.CHAT_BAN: Command(schemas.ChatBanInput, moderation.user_timeout),
    realtime.CHAT_SETTINGS: Command(schemas.ChatSettingsInput, moderation.chat_settings_update),
    realtime.CHAT_CLEAR: Command(None, moderation.chat_clear),
}


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

    async def connect(self) -> None:
        stream_id = self.scope["url_route"]["kwargs"]["stream_id"]
        stream = await database_sync_to_async(_visible_stream)(stream_id, self.scope["user"])
        if stream is None:  # unknown, or not for this viewer
            # Accepted first: a close before the handshake reaches browsers as 1006, and the
            # client must see the code that tells it not to retry.
            await self.accept()
            await self.close(code=realtime.CLOSE_NOT_FOUND)
            return
        self.stream = stream
        self.token = presence.new_token()
        self.presence_id = presence.member_id(None, self.token)
        self.query = query = parse_qs(self.scope.get("query_string", b"").decode())
        # An OBS overlay (or another read-only embed) is not a viewer.
        self.counted = query.get("overlay") != ["1"]
        # A logged-out viewer is counted within its address's cap (S-10).
        self.address = None if self.scope["user"].is_authenticated else scope_address(self.scope)
        self.viewing = False  # counted: a presence entry and an analytics session
        self.session_id: int | None = None
        self.reported = False  # a playback report came: later ones carry no start-up time
        self.last_id: int | None = None  # until the history is sent, events wait in `pending`
        self.pending: list[dict[str, Any]] = []
        self.staff = False  # the streamer or a moderator: gets the staff-only frames (health)
        self.delivery = asyncio.Lock()  # one delivery at a time: frames keep their order
        self.frames = FrameBudget()
        self.checked_at = time.monotonic()
        await self.accept()
        try:
            await hub().join(self.stream.pk, self)
        except Exception as exc:  # Redis away: the client retries with backoff
            log.warning("stream %s: cannot subscribe a new socket: %s", self.stream.pk, exc)
            return await self.close(code=realtime.CLOSE_TRY_AGAIN)
        self.joined = True
        user = self.scope["user"]
        self.staff = await database_sync_to_async(selectors.chat_can_moderate)(user=user, stream=self.stream)
        if self.counted:
            await self.start_viewing()
        history, last_id = await database_sync_to_async(selectors.chat_history)(stream=self.stream)
        await self.send_json(history)
        async with self.delivery:
            self.last_id = last_id
            pending, self.pending = self.pending, []
            for event in pending:
                await self.deliver(event)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            hub().discard(self.stream.pk, self)
        if getattr(self, "viewing", False):
            await self.presence(presence.leave)
            if self.address is not None:
                await self.presence(self.release)
            if self.session_id:
                await database_sync_to_async(viewer_session_end)(session_id=self.session_id)

    async def start_viewing(self) -> None:
        """Count this socket (an analytics session and a presence entry). A logged-out one
        past its address's PRESENCE_MAX_PER_ADDRESS watches uncounted and asks again at each
        heartbeat (S-10)."""
        if not await self.admitted():
            return
        user = self.scope["user"]
        self.session_id = await database_sync_to_async(viewer_session_start)(
            stream_id=self.stream.pk,
            user_id=user.pk if user.is_authenticated else None,
            client=_client(self.scope, self.query),
        )
        self.presence_id = presence.member_id(self.session_id, self.token)
        self.viewing = True
        await self.presence(presence.join)

    async def release(self, stream_id: str, member: str) -> None:
        """Gives its place under its address's cap back (`presence` passes the member)."""
        await presence.release(stream_id, self.address or "", self.token)

    async def admitted(self) -> bool:
        """Whether this socket may count (always, for a logged-in viewer); for a logged-out
        one, also keeps its place under its address's cap."""
        if self.address is None:
            return True
        try:
            return await presence.admit(self.stream.pk, self.address, self.token)
        except Exception as exc:  # Redis away: counted as before (presence itself fails open)
            log.warning("presence admit failed for %s: %s", self.stream.pk, exc)
            return not self.viewing

    async def still_allowed(self) -> bool:
        """Whether this user may still be here (S-09): an account banned, an unfollow from a
        followers-only broadcast, a change of visibility, or a moderator no longer one, take
        effect on the socket's next frame (heartbeats come every 15 s), at most
        RECHECK_SECONDS late. The fresh user replaces the one read at connect."""
        now = time.monotonic()
        if now - self.checked_at < RECHECK_SECONDS:
            return True
        self.checked_at = now
        user, staff = await database_sync_to_async(_recheck)(self.stream.pk, self.scope["user"])
        if user is None:
            return False
        self.scope["user"], self.staff = user, staff
        return True

    async def presence(self, action: Callable[[str, str], Awaitable[None]]) -> None:
        """Presence is best effort: with Redis away, chat goes on and the count catches up
        with the next heartbeats."""
        if not self.viewing:
            return
        try:
            await action(self.stream.pk, self.presence_id)
        except Exception as exc:
            log.warning("presence %s failed for %s: %s", action.__name__, self.stream.pk, exc)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if getattr(self, "last_id", None) is None:
            return  # not (or no longer) connected: a frame that raced the close
        # Before any work (a frame may cost database queries): a socket sending faster than
        # a person or a player could is answered once a second with an error and ignored.
        if not self.frames.take():
            if self.frames.should_warn():
                await self.error("rate_limited", "Too many frames; slow down.")
            return
        if not await self.still_allowed():
            await self.close(code=realtime.CLOSE_NOT_FOUND)
            return
        try:
            await self.handle_frame(text_data)
        except Exception:  # a bug or the database away: say so, keep the socket
            log.exception("stream %s: frame failed", self.stream.pk)
            await self.error("server_error", "That did not work; please try again in a moment.")

    async def handle_frame(self, text_data: str | None) -> None:
        """Every frame is checked before anything else sees it; bad ones get an error frame
        and the socket stays up."""
        if text_data is None:
            return await self.error("bad_frame", "Send JSON text frames.")
        if len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
            return await self.error(
                "frame_too_large", f"Frames are limited to {settings.CHAT_MAX_FRAME_BYTES} bytes."
            )
        try:
            frame = json.loads(text_data)
        except ValueError:
            return await self.error("bad_json", "That frame is not JSON.")
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return await self.error("bad_frame", "Expected a JSON object with a string `type`.")
        if frame["type"] not in realtime.CLIENT_TYPES:
            return await self.error("unknown_type", f"Unknown frame type '{frame['type'][:40]}'.")
        if frame["type"] == realtime.HEARTBEAT:
            return await self.heartbeat()
        try:
            if frame["type"] == realtime.PLAYBACK_REPORT:
                return await database_sync_to_async(self.playback_report)(frame)
            await database_sync_to_async(COMMANDS[frame["type"]].run)(self.stream, self.scope["user"], frame)
        except ValidationError as exc:
            body = validation_error_body(exc)
            await self.error(body["code"], body["detail"])
        except ChatError as exc:
            await self.error(exc.code, exc.message)

    # --- commands ---------------------------------------------------------------------

    async def heartbeat(self) -> None:
        if self.counted and not self.viewing:
            await self.start_viewing()  # room under its address's cap now?
        elif self.viewing and self.address is not None:
            await self.admitted()  # keeps its place under the cap (it expires otherwise)
        await self.presence(presence.beat)
        # A quiet broadcast has no next message to reveal a gap; the heartbeat does.
        latest = await hub().latest_id(self.stream.pk)
        async with self.delivery:
            if latest > self.last_id:
                await self.catch_up(before=latest + 1)
        await self.send_json({"type": realtime.HEARTBEAT})

    def playback_report(self, frame: dict[str, Any]) -> None:
        """What this socket's player saw since its last report (analytics)."""
        inputs = schemas.PlaybackReportInput(data=frame)
        inputs.is_valid(raise_exception=True)
        playback.playback_report(
            stream=self.stream,
            reporter=self.presence_id,
            session_id=self.session_id,
            first=not self.reported,
            **inputs.validated_data,
        )
        self.reported = True

    async def error(self, code: str, detail: str) -> None:
        await self.send_json({"type": realtime.ERROR, "code": code, "detail": detail})

    # --- group events (this runs once per socket per event: keep it tiny) --------------

    async def stream_frame(self, event: dict[str, Any]) -> None:
        """Called by the hub for every event of the broadcast; no database, no decoding."""
        if self.last_id is None:
            if len(self.pending) < self.MAX_PENDING:
                self.pending.append(event)
            return
        async with self.delivery:  # not contended, unless this socket is catching up
            await self.deliver(event)

    async def deliver(self, event: dict[str, Any]) -> None:
        if event.get("staff") and not self.staff:
            return  # the streamer's health and warnings: not for viewers
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
