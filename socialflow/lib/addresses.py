"""A client's address, as the throttles see it, for HTTP requests and WebSocket scopes alike.

The rule is DRF's (SimpleRateThrottle.get_ident), so a socket and a request from one client
agree: with REST_FRAMEWORK["NUM_PROXIES"] = n > 0, the n-th address from the right of
X-Forwarded-For (what the nearest trusted proxy saw); with 0, the connection's own address,
and a forged X-Forwarded-For changes nothing (S-02).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def client_address(remote_addr: str | None, forwarded_for: str | None) -> str:
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    if proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return remote_addr or ""


def scope_address(scope: dict[str, Any]) -> str:
    """The address of a WebSocket (an ASGI scope)."""
    headers = dict(scope.get("headers") or [])
    peer = scope.get("client") or ("", 0)
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    return client_address(peer[0], forwarded)


def request_address(request: Any) -> str:
    """The address of an HTTP request."""
    return client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))
