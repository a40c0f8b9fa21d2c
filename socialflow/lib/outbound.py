"""Requests the platform makes to addresses its users chose (webhooks): never to the inside.

A user-chosen URL is a way into the network the server sits in (SSRF): the cloud's metadata
service, Redis, the admin of a router. So a target is resolved once, every address it
resolves to must be public (`ipaddress`'s `is_global`), and the connection goes to the
address that was checked, not to a second lookup that could answer otherwise (DNS
rebinding). Redirects are not followed: a 3xx is the receiver's answer, recorded as such,
so a public URL cannot bounce the request inward. The whole exchange has one deadline, and
only the status and the first KiB of the body are read, so a receiver that hangs or
trickles costs at most `timeout` seconds.

Written here on urllib3 (already installed with botocore) rather than taken from a library:
the SSRF libraries for Python (advocate, for one) are unmaintained or pin old requests, and
what is needed is small: one lookup, one check, one pinned connection.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

MAX_URL_LENGTH = 2000
# What `parse` takes, as a JSON-schema pattern for the API's documentation: http(s), a host
# name or an IPv4 address (no IPv6 literal), a port up to 65535, no user name or password,
# and RFC 3986's characters after it (no spaces, no quotes or brackets).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?(?:[/?#][A-Za-z0-9._~!$&'()*+,;=:@/?#%-]*)?\Z"
BODY_EXCERPT_BYTES = 1024  # of an answer: what a log needs, whatever the receiver sends


class TargetRefused(Exception):
    """The URL may not be called: not http(s), malformed, or an address on the inside."""


class Unresolvable(TargetRefused):
    """The URL's host does not resolve (now): worth another try later, unlike the others."""


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused, timed out, connection failed)
    body: str  # the first BODY_EXCERPT_BYTES, decoded leniently
    error: str  # why there was no answer, or ""
    duration_ms: int


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any:
    ::ffff:127.0.0.1 is loopback."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)):
        ip = inner
    return ip.is_global and not ip.is_multicast


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or TargetRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"The URL is malformed: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Only http:// and https:// URLs can be called.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username or parts.password:
        raise TargetRefused("Put no user name or password in the URL; the signature authenticates.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise TargetRefused("The URL contains spaces or control characters.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(url: str, *, allow_private: bool) -> Target:
    """The URL's host, looked up once; refused when any of its addresses is not public
    (unless `allow_private`, for a developer's own receivers)."""
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable(f"The host {host} does not resolve.") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Unresolvable(f"The host {host} does not resolve.")
    if not allow_private:
        inside = [address for address in addresses if not is_public(address)]
        if inside:
            raise TargetRefused(
                f"The host {host} resolves to {inside[0]}, a private, loopback or link-local "
                "address: only public addresses can be called."
            )
    return Target(url=url, scheme=scheme, host=host, port=port, path=path, addresses=addresses)


def _pool(target: Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    # `total`: the connection and the wait for the answer's headers share one budget.
    budget = urllib3.Timeout(total=timeout)
    if target.scheme == "https":
        # Connect to the checked address; verify the certificate against the host name.
        return urllib3.HTTPSConnectionPool(
            address,
            port=target.port,
            timeout=budget,
            retries=False,
            maxsize=1,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(address, port=target.port, timeout=budget, retries=False, maxsize=1)


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to the resolved target's first address, within `timeout` seconds in all."""
    started = time.monotonic()
    deadline = started + timeout

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header = f"{host_header}:{target.port}"
    pool = _pool(target, target.addresses[0], timeout)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
    except Urllib3Error as exc:
        reason = (
            "timed out" if isinstance(exc, Urllib3Timeout) else f"connection failed ({type(exc).__name__})"
        )
        pool.close()
        return Answer(status=None, body="", error=reason, duration_ms=took())
    try:
        excerpt = b""
        while len(excerpt) < BODY_EXCERPT_BYTES and time.monotonic() < deadline:
            sock = getattr(response.connection, "sock", None)
            if sock is not None:  # each read waits only for what is left of the deadline
                sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = response.read(BODY_EXCERPT_BYTES - len(excerpt), decode_content=False)
            if not chunk:
                break
            excerpt += chunk
    except (Urllib3Error, OSError):
        excerpt = b""
    finally:
        response.release_conn()
        response.close()
        pool.close()
    return Answer(
        status=response.status, body=excerpt.decode("utf-8", "replace"), error="", duration_ms=took()
    )
