"""Media-server hooks: one domain service behind two dialects.

SRS posts JSON and allows on HTTP 200 with body `0`; anything else refuses.
nginx-rtmp posts forms and allows on 2xx; 403 refuses (and, for `update`, drops the
publisher). Both put the shared secret in the hook URL. Hooks only touch the database
and enqueue; they never wait on FFmpeg.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import re
import time
import urllib.parse

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from socialflow.lib import latency
from socialflow.lib.api import json_error
from streams import services

log = logging.getLogger(__name__)

NGINX = "nginx-rtmp"
SRS = "srs"
APP = "live"


def _secret_ok(request: HttpRequest) -> bool:
    """The hook secret in the URL; or, with no secret given, a media server at an address of
    MEDIA_HOOK_ALLOWED_IPS (the connection's own address: hooks come straight from it)."""
    expected = settings.MEDIA_HOOK_SECRET
    if "secret" in request.GET:
        given = request.GET["secret"]
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.MEDIA_HOOK_ALLOWED_NETWORKS)


def _forbidden() -> HttpResponse:
    return json_error(403, "Missing or wrong hook secret.", "bad_hook_secret")


class BadHook(ValueError):
    pass


def _text(value, *, max_length: int, required: bool = True) -> str:
    """A hook field as text, refusing what the database could not store."""
    text = "" if value is None else str(value)
    if (required and not text) or len(text) > max_length or "\x00" in text:
        raise BadHook
    return text


def _key_argument(param: str) -> str | None:
    """The `key` argument of SRS's `param` (`?key=<secret>`), or None without one.

    SRS 6, and SRS 7 before 7.0.156, send the query twice for OBS's stream key
    (`?key=<secret>?key=<secret>`, SRS issue #4622): SRS parses the request on connect and
    again once the stream is known, and appends the query it already has. Both `?` and `&`
    separate arguments here, a repeated equal value is that value, and differing values are
    no secret at all (an empty one, which matches no channel)."""
    values = []
    for argument in re.split(r"[?&]", param or ""):
        name, has_value, value = argument.partition("=")
        if has_value and urllib.parse.unquote_plus(name) == "key":
            values.append(urllib.parse.unquote_plus(value))
    if not values:
        return None
    return values[0] if all(value == values[0] for value in values) else ""


def _ip(value) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).split("%")[0])) if value else None
    except ValueError:
        return None  # the address is informational; a malformed one is dropped, not fatal


# --- SRS ---------------------------------------------------------------------------


def _srs_allow() -> HttpResponse:
    return HttpResponse("0", content_type="text/plain")


def _srs_refuse(reason: str) -> HttpResponse:
    # HTTP 200 with a non-zero code: SRS refuses, and the reason lands in its log.
    return JsonResponse({"code": 403, "reason": reason})


_ACTIONS = {
    SRS: {"on_publish", "on_unpublish", "on_play", "on_stop", "on_connect", "on_close", "on_dvr", "on_hls"},
    NGINX: {"publish", "publish_done", "update_publish", "update_play", "play", "play_done", "record_done"},
}


def _action(dialect: str, request: HttpRequest) -> str:
    if dialect == NGINX:
        action = request.POST.get("call", "")
    else:
        try:
            data = json.loads(request.body)
            action = data.get("action", "") if isinstance(data, dict) else ""
        except ValueError:
            action = ""
    return action if action in _ACTIONS[dialect] else "other"


def _timed(dialect: str):
    """The hook's answer time, for /metrics (`socialflow_hook_seconds`, a histogram by media
    server and action): what OBS waits for on a publish."""

    def wrap(view):
        @functools.wraps(view)
        def timed(request: HttpRequest) -> HttpResponse:
            started = time.perf_counter()
            response = view(request)
            latency.observe("hook", (dialect, _action(dialect, request)), time.perf_counter() - started)
            return response

        return timed

    return wrap


@csrf_exempt
@require_POST
@_timed(SRS)
def srs_hook(request: HttpRequest) -> HttpResponse:
    if not _secret_ok(request):
        return _forbidden()
    try:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise TypeError
        action = _text(data.get("action"), max_length=40)
        client_id = _text(data.get("client_id"), max_length=64)
        name = _text(data.get("stream"), max_length=200, required=False)
        # OBS's `live_<channel>?key=<secret>` arrives as stream + param ("?key=...").
        param = _text(data.get("param"), max_length=400, required=False)
    except (ValueError, TypeError):
        return json_error(400, "Expected an SRS http_hooks JSON body with action and client_id.", "bad_hook")
    ip = _ip(data.get("ip"))

    if action in ("on_publish", "on_play") and data.get("app") != APP:
        return _srs_refuse(f"Unknown application '{str(data.get('app'))[:40]}'; publish to /{APP}/.")
    key = services.stream_key_from_hook(name, _key_argument(param))
    if action == "on_publish":
        result = services.broadcast_publish(dialect=SRS, key=key, client_id=client_id, ip=ip)
        return _srs_allow() if result.allowed else _srs_refuse(result.reason)
    if action == "on_unpublish":
        services.broadcast_unpublish(dialect=SRS, key=key, client_id=client_id)
        return _srs_allow()
    if action == "on_play":
        result = services.raw_feed_play_authorize(name=name, ip=ip, client_id=client_id)
        return _srs_allow() if result.allowed else _srs_refuse(result.reason)
    if action in ("on_stop", "on_connect", "on_close", "on_dvr", "on_hls", "on_hls_notify"):
        log.debug("srs %s for client %s", action, client_id)
        return _srs_allow()
    return json_error(400, f"Unknown SRS hook action '{action[:40]}'.", "bad_hook")


# --- nginx-rtmp --------------------------------------------------------------------


def _nginx_allow() -> HttpResponse:
    return HttpResponse("OK", content_type="text/plain")


def _nginx_refuse(reason: str) -> HttpResponse:
    return HttpResponse(reason, status=403, content_type="text/plain")


@csrf_exempt
@require_POST
@_timed(NGINX)
def nginx_rtmp_hook(request: HttpRequest) -> HttpResponse:
    if not _secret_ok(request):
        return _forbidden()
    try:
        call = _text(request.POST.get("call"), max_length=40)
        client_id = _text(request.POST.get("clientid"), max_length=64)
        name = _text(request.POST.get("name"), max_length=200, required=False)
        # OBS's `live_<channel>?key=<secret>` arrives as name=live_<channel> and a `key` field.
        secret = _text(request.POST.get("key"), max_length=200, required=False)
    except BadHook:
        return json_error(400, "Expected an nginx-rtmp callback with call and clientid.", "bad_hook")
    ip = _ip(request.POST.get("addr"))

    if call in ("publish", "play") and request.POST.get("app") != APP:
        return _nginx_refuse(f"Unknown application; publish to /{APP}/.")
    key = services.stream_key_from_hook(name, secret if "key" in request.POST else None)
    if call == "publish":
        result = services.broadcast_publish(dialect=NGINX, key=key, client_id=client_id, ip=ip)
        return _nginx_allow() if result.allowed else _nginx_refuse(result.reason)
    if call == "publish_done":
        services.broadcast_unpublish(dialect=NGINX, key=key, client_id=client_id)
        return _nginx_allow()
    # The heartbeat (on_update) comes as update_publish / update_play; a non-2xx drops it.
    if call == "update_publish":
        alive = services.broadcast_heartbeat(dialect=NGINX, key=key, client_id=client_id)
        return _nginx_allow() if alive else _nginx_refuse("No live broadcast for this connection.")
    if call == "update_play":
        alive = services.broadcast_is_live(name=name)
        return _nginx_allow() if alive else _nginx_refuse("The broadcast has ended.")
    if call == "play":
        result = services.raw_feed_play_authorize(name=name, ip=ip, client_id=client_id)
        return _nginx_allow() if result.allowed else _nginx_refuse(result.reason)
    if call in ("play_done", "record_done", "done", "connect", "disconnect"):
        return _nginx_allow()
    return json_error(400, f"Unknown nginx-rtmp call '{call[:40]}'.", "bad_hook")
