"""A webhook receiver on loopback for the tests: it records what it gets and answers by script."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived


@dataclass
class Receiver:
    url: str
    # What to answer, one entry per request, then the last one again: a status code, or
    # ("hang", seconds), or ("redirect", location).
    script: list = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait(self, count: int = 1, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the receiver got {len(self.received)} of {count} requests")
            self.arrived.wait(min(left, 0.2))
            self.arrived.clear()
        return self.received


@contextmanager
def webhook_receiver(script: list | None = None, host: str = "127.0.0.1") -> Iterator[Receiver]:
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver: Receiver = state["receiver"]
            index = len(receiver.received)
            receiver.received.append(
                Received(path=self.path, headers=dict(self.headers.items()), body=body, at=time.time())
            )
            receiver.arrived.set()
            answer = receiver.script[min(index, len(receiver.script) - 1)]
            with contextlib.suppress(OSError):  # the platform hung up first (it cuts a hanging receiver)
                self._answer(answer)

        def _answer(self, answer) -> None:
            if isinstance(answer, tuple) and answer[0] == "hang":
                time.sleep(answer[1])
                answer = 200
            if isinstance(answer, tuple) and answer[0] == "redirect":
                self.send_response(302)
                self.send_header("Location", answer[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            text = b"ok" if 200 <= answer < 300 else b"nope"
            self.send_response(answer)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(url=f"http://{host}:{server.server_address[1]}/hook", script=script or [200])
    state["receiver"] = receiver
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
