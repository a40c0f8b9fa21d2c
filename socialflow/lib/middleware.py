"""Project-wide middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import is_valid_path
from django.utils.cache import add_never_cache_headers
from redis.exceptions import RedisError

from socialflow.lib.api import json_error

log = logging.getLogger(__name__)


class SyncChain:
    """Passes every request on. Listed last, it makes the whole chain synchronous under
    ASGI (Daphne), as under WSGI: Django runs a middleware that can be async as async only
    while everything below it is, and runs the hooks of an async MiddlewareMixin each in a
    thread of its own. With the middleware below ServiceAwayIsUnavailable async, a request
    went from the event loop to the sync thread and back several times (/healthz/ cost
    15-25% more CPU, bench/api.py); now it goes once, and once more for the view."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)


class NoStoreWhenSignedIn:
    """Answers to a signed-in user (a session, or a token in `Authorization`) are theirs
    alone: no browser or proxy may store them (ASVS 14.3). The dashboard and the channel
    API carry the stream key. An answer that set its own Cache-Control keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES or "HTTP_AUTHORIZATION" in request.META
        if not signed_in:
            user = getattr(request, "user", None)
            try:
                signed_in = bool(user is not None and user.is_authenticated)
            except (OperationalError, InterfaceError):  # the 503 of a database outage
                signed_in = True  # cannot tell: not stored
        if signed_in and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
            response["Cache-Control"] += ", private"
        return response


class ServiceAwayIsUnavailable:
    """A view that needed Redis or PostgreSQL while it is away answers 503 with a reason and
    Retry-After, not a 500. The site's sign-in and sign-up forms keep their rate limits in
    Redis (allauth), and refuse rather than let attempts through uncounted (review R-05:
    auth limits fail closed). Pages that can do without Redis guard their own reads (the
    home page) and never get here. A database restart fails the requests that come while it
    is down; the pool checks a connection before lending it, so none fails after."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RedisError):
            service = "Redis"
        elif isinstance(exception, OperationalError | InterfaceError):
            service = "the database"
        else:
            return None
        log.warning(
            "%s %s: %s unavailable (%s); answered 503", request.method, request.path, service, exception
        )
        detail = "This is unavailable for a moment (a service it needs is down); try again in a minute."
        if request.path.startswith("/api/"):
            response: HttpResponse = json_error(503, detail, "unavailable")
        else:
            response = HttpResponse(render_to_string("503.html", {"detail": detail}), status=503)
        response["Retry-After"] = "30"
        return response


class ApiAnswersJson:
    """Every error under /api/ (and a 404 or 405 under /hooks/) is JSON `{detail, code}`,
    with DEBUG on too: Django's debug 404 page, a 405 from a view, and a missing trailing
    slash (APPEND_SLASH would redirect, or under DEBUG fail a POST with a 500)."""

    prefixes = ("/api/", "/hooks/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(self.prefixes):
            return self.get_response(request)
        urlconf = getattr(request, "urlconf", None)
        if (
            not request.path.endswith("/")
            and not is_valid_path(request.path, urlconf)
            and is_valid_path(f"{request.path}/", urlconf)
        ):
            return json_error(404, f"Not found; the address ends with a slash: {request.path}/", "not_found")
        response = self.get_response(request)
        json_body = response.get("Content-Type", "").startswith("application/json")
        # A hook's refusal is the media server's: nginx-rtmp gets its reason as text.
        ours = request.path.startswith("/api/") or response.status_code in (404, 405)
        if response.status_code >= 400 and not json_body and ours:
            return json_error(response.status_code, _reason(response), _code(response.status_code))
        return response


def _reason(response: HttpResponse) -> str:
    reason = getattr(response, "reason_phrase", "") or "Error"
    return f"{reason}."


def _code(status: int) -> str:
    return {400: "bad_request", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed"}.get(
        status, "error"
    )
