"""Project-wide middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from redis.exceptions import RedisError

from socialflow.lib.api import json_error

log = logging.getLogger(__name__)


class NoStoreWhenSignedIn:
    """Answers to a signed-in user (a session, or a token in `Authorization`) are theirs
    alone: no browser or proxy may store them (ASVS 14.3). The dashboard and the channel
    API carry the stream key. An answer that set its own Cache-Control keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = bool(user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META
        if signed_in and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
            response["Cache-Control"] += ", private"
        return response


class RedisAwayIsUnavailable:
    """A view that needed Redis while it is away answers 503 with a reason, not a 500:
    the site's sign-in and sign-up forms keep their rate limits in it (allauth), and refuse
    rather than let attempts through uncounted (review R-05: auth limits fail closed). Pages
    that can do without Redis guard their own reads (the home page) and never get here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, RedisError):
            return None
        log.warning("%s %s: Redis unavailable (%s); answered 503", request.method, request.path, exception)
        detail = "This is unavailable for a moment (a service it needs is down); try again in a minute."
        if request.path.startswith("/api/"):
            response: HttpResponse = json_error(503, detail, "unavailable")
        else:
            response = HttpResponse(render_to_string("503.html", {"detail": detail}), status=503)
        response["Retry-After"] = "30"
        return response
