"""A micro-cache in front of Django for the API's public reads (the live directory, a
broadcast), as a CDN or nginx's `proxy_cache` would hold them for a second or two.

An anonymous GET of a cached address is answered from Redis without entering Django: no
middleware, no session, no query. What is stored is the whole answer Django gave an
anonymous caller (status 200, every header, the body), so the security headers, the
content type and the JSON are byte for byte the same; an answer that sets a cookie, or is
not 200, is never stored. Signed-in callers (an Authorization header or a session cookie)
always go to Django: their answers differ (a playback grant, the owner's ingest).

The answer is shared for STREAMS_API_CACHE_SECONDS by every web process. Past that it is
stale: the first caller starts one refresh in the background and, like everyone until it
lands, gets the stale answer at once, for at most STALE_SECONDS (2) more; a refresh that is
not 200 (the broadcast went private, or is gone) drops it. So a broadcast that ends leaves
the live list within STREAMS_API_CACHE_SECONDS + 2 s. The throttles count only the requests
that reach Django (a cached answer costs about what a static file does). Redis away: every
request goes to Django, which then answers afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Scope = dict[str, Any]
# A stale answer may be served this long past its freshness (while its refresh runs); then
# it is gone, and the next caller waits for Django.
STALE_SECONDS = 2
REFRESH_LOCK_SECONDS = 5


class AnonymousMicroCache:
    def __init__(self, app: Any, *, paths: str):
        self.app = app
        self.paths = re.compile(paths)
        self._redis: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()

    def _client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:  # one per event loop: Daphne has one
            self._redis = aioredis.Redis.from_url(
                settings.CACHES["default"]["LOCATION"], socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._loop = loop
        return self._redis

    def _key(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.paths.match(scope["path"]):
            return None
        if (
            not settings.STREAMS_API_CACHE_SECONDS
            or "redis" not in settings.CACHES["default"]["BACKEND"].lower()
        ):
            return None
        headers = dict(scope.get("headers") or [])
        if b"authorization" in headers:
            return None
        cookies = headers.get(b"cookie", b"").decode("latin-1")
        if re.search(rf"(?:^|;\s*){re.escape(settings.SESSION_COOKIE_NAME)}=", cookies):
            return None
        parts = [
            scope.get("scheme", "http"),
            headers.get(b"host", b"").decode("latin-1"),
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers.get(b"accept", b"").decode("latin-1"),
        ]
        return "microcache:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            cached = await self._client().get(key)
        except (RedisError, OSError) as exc:
            log.debug("micro-cache away: %s", exc)
            await self.app(scope, receive, send)
            return
        if cached is not None:
            stored = json.loads(cached)
            if stored["fresh_until"] < time.time():
                await self._refresh_in_background(key, scope)
            headers = [[name.encode("latin-1"), value.encode("latin-1")] for name, value in stored["headers"]]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": stored["body"].encode("latin-1")})
            return
        answer = _Answer()

        async def capture(message: dict[str, Any]) -> None:
            if answer.record(message):
                await self._store(key, answer.start, answer.body)
            await send(message)

        await self.app(scope, receive, capture)

    async def _refresh_in_background(self, key: str, scope: Scope) -> None:
        """Stale: one request (a Redis lock) asks Django afresh in the background while
        this one, and the others meanwhile, get the stale answer at once (nginx's
        proxy_cache_background_update). Without it, every address expiring together sent
        its callers into Django together."""
        try:
            if not await self._client().set(f"{key}:refreshing", 1, nx=True, ex=REFRESH_LOCK_SECONDS):
                return
        except (RedisError, OSError):
            return
        task = asyncio.get_running_loop().create_task(self._refresh(key, dict(scope)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key: str, scope: Scope) -> None:
        answer = _Answer()
        finished = asyncio.Event()
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await finished.wait()  # the "client" stays until the answer is complete
            return {"type": "http.disconnect"}

        async def capture(message: dict[str, Any]) -> None:
            if answer.record(message):
                finished.set()

        try:
            await self.app(scope, receive, capture)
            if answer.start.get("status") == 200:
                await self._store(key, answer.start, answer.body)
            else:  # gone, private now, an error: nobody gets the stale answer any more
                await self._client().delete(key)
        except Exception:
            log.exception("micro-cache refresh of %s failed", scope.get("path"))
        finally:
            finished.set()
            with contextlib.suppress(RedisError, OSError):
                await self._client().delete(f"{key}:refreshing")

    async def _store(self, key: str, start: dict[str, Any], body: bytes) -> None:
        headers = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in start.get("headers", [])
        ]
        if start.get("status") != 200 or any(name.lower() == "set-cookie" for name, _ in headers):
            return
        seconds = settings.STREAMS_API_CACHE_SECONDS
        stored = json.dumps(
            {"headers": headers, "body": body.decode("latin-1"), "fresh_until": time.time() + seconds}
        )
        try:
            # Kept a little past its freshness, to be served stale while it is refreshed.
            await self._client().set(key, stored, ex=seconds + STALE_SECONDS)
        except (RedisError, OSError) as exc:
            log.debug("micro-cache away: %s", exc)


class _Answer:
    """An ASGI answer as it is sent: its start message and its body, whole once complete."""

    def __init__(self) -> None:
        self.start: dict[str, Any] = {}
        self._body: list[bytes] = []

    @property
    def body(self) -> bytes:
        return b"".join(self._body)

    def record(self, message: dict[str, Any]) -> bool:
        """Keeps `message`; True once the answer is complete."""
        if message["type"] == "http.response.start":
            self.start.update(message)
        elif message["type"] == "http.response.body":
            self._body.append(message.get("body", b""))
            return not message.get("more_body", False)
        return False
