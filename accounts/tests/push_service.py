"""A push service on 127.0.0.1, standing in for the browsers' (FCM, Mozilla's, Apple's), which
are the outside world: it takes pushes as they do, and the tests open them as a browser
would, with the subscription's private key and auth secret (http_ece, aes128gcm), and check
the VAPID signature against the site's public key."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid.jwt import decode as jwt_decode


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vapid_key_pair() -> tuple[str, str]:
    """(public, private) as the settings take them, as `make run` makes them."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64url(public), b64url(key.private_numbers().private_value.to_bytes(32, "big"))


@dataclass
class Browser:
    """One browser's subscription: what it hands the site, and the secrets it keeps."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def subscription_json(self) -> dict:
        """What `PushSubscription.toJSON()` gives in a browser."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }


@dataclass
class Push:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def open(self, browser: Browser) -> dict:
        """The payload, decrypted as the browser does."""
        plain = http_ece.decrypt(
            self.body, private_key=browser.private_key, auth_secret=browser.auth_secret, version="aes128gcm"
        )
        return json.loads(plain)

    def vapid_claims(self, public_key: str) -> dict:
        """The VAPID JWT's claims, once its ES256 signature checks out against `public_key`
        (`Authorization: vapid t=<jwt>,k=<public key>`, RFC 8292)."""
        scheme, _, params = self.headers["authorization"].partition(" ")
        assert scheme == "vapid", self.headers["authorization"]
        parts = dict(param.split("=", 1) for param in params.split(","))
        assert parts["k"] == public_key
        return jwt_decode(parts["t"], parts["k"])  # raises InvalidSignature if it does not verify


class LocalPushService:
    """Answers 201 to every push, unless told otherwise for a browser: a status (410, 500,
    a redirect), or "hang" (takes the push and never answers)."""

    def __init__(self) -> None:
        self.pushes: list[Push] = []
        self.answers: dict[str, int | str] = {}
        self.redirect_to = ""
        self._release = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                service.pushes.append(Push(self.path, headers, body))
                answer = service.answers.get(self.path.rsplit("/", 1)[-1], 201)
                if answer == "hang":
                    service._release.wait(30)
                    return
                self.send_response(int(answer))
                if answer in (301, 302, 307, 308):
                    self.send_header("Location", service.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def browser(self, name: str = "browser") -> Browser:
        return Browser(endpoint=f"{self.base}/push/{name}")

    def pushes_to(self, browser: Browser) -> list[Push]:
        return [push for push in self.pushes if browser.endpoint.endswith(push.path)]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Push]:
        deadline = time.monotonic() + timeout
        while len(self.pushes) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pushes

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
