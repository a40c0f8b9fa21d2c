"""Error pages: JSON `{detail, code}` under /api/ and /hooks/, HTML pages elsewhere."""

from django.views import defaults

from socialflow.lib.api import json_error

_JSON_PREFIXES = ("/api/", "/hooks/")


def _wants_json(request) -> bool:
    return request.path.startswith(_JSON_PREFIXES)


def bad_request(request, exception):
    if _wants_json(request):
        return json_error(400, "Bad request.", "bad_request")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if _wants_json(request):
        return json_error(403, "You do not have permission to perform this action.", "permission_denied")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if _wants_json(request):
        return json_error(404, "Not found.", "not_found")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _wants_json(request):
        return json_error(500, "Server error.", "server_error")
    return defaults.server_error(request)
