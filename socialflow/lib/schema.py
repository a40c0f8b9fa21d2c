"""OpenAPI schema generation (drf-spectacular).

Kept apart from socialflow.lib.api: DRF imports the pagination class from there while
drf-spectacular's openapi module imports DRF's generics, a cycle.
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.validators import RegexValidator
from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers


class AutoSchema(openapi.AutoSchema):
    """Names nested `InputSerializer`/`OutputSerializer` after their view (`MeApi` -> `MeOutput`)."""

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # What DRF refuses in any text field and the schema should say: a NUL character, and
        # (trimming before checking it is not blank) nothing but spaces.
        if (
            direction == "request"
            and isinstance(field, serializers.CharField | serializers.SlugRelatedField)
            and not any(isinstance(v, RegexValidator) for v in field.validators)  # theirs come later
            and isinstance(schema, dict)
            and schema.get("type") == "string"
            and "pattern" not in schema
            and "format" not in schema
            and "enum" not in schema
        ):
            if isinstance(field, serializers.SlugRelatedField):
                schema["pattern"] = r"^[^\u0000]+$"
            elif field.trim_whitespace and not field.allow_blank:
                schema["pattern"] = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
            else:
                schema["pattern"] = r"^[^\u0000]*$"
        return schema

    def get_serializer_name(self, serializer: Any, direction: Literal["request", "response"]) -> str:
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, name = cls.__qualname__.rpartition(".")
        if outer:
            return outer.rsplit(".", 1)[-1].removesuffix("Api") + name
        return super().get_serializer_name(serializer, direction)


class PasswordBoundJWTScheme(SimpleJWTScheme):
    """Documents accounts.tokens.JWTAuthentication as the bearer scheme it is."""

    target_class = "accounts.tokens.JWTAuthentication"


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every refusal of the API (socialflow.lib.api.exception_handler).",
    "properties": {
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "code": {
            "type": "string",
            "description": "a stable machine code: not_found, throttled, invalid, ...",
        },
        "errors": {"description": "validation errors only: the messages of each field, as DRF gives them"},
    },
    "required": ["detail", "code"],
}
ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "The request is malformed or a value is refused; `errors` says which field.",
        {
            "detail": "title: This field may not be blank.",
            "code": "blank",
            "errors": {"title": ["This field may not be blank."]},
        },
    ),
    401: (
        "Not signed in, or the token is invalid or expired.",
        {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
    ),
    403: (
        "Signed in, but not allowed to do this (not the owner, banned, a missing CSRF token with a session).",
        {"detail": "You do not have permission to perform this action.", "code": "permission_denied"},
    ),
    404: ("No such object, or not one you may see.", {"detail": "Not found.", "code": "not_found"}),
    409: (
        "The object's state does not allow it now (already live, already ended, a limit reached).",
        {"detail": "The broadcast is live; end it instead.", "code": "stream_live"},
    ),
    415: (
        "The body is not JSON, a form or multipart.",
        {"detail": 'Unsupported media type "text/plain" in request.', "code": "unsupported_media_type"},
    ),
    429: (
        "Too many requests; `Retry-After` says when to try again.",
        {"detail": "Request was throttled. Expected available in 12 seconds.", "code": "throttled"},
    ),
    503: (
        "A service it needs (the database, Redis) is down for a moment; try again.",
        {
            "detail": "This is unavailable for a moment (a service it needs is down); try again in a minute.",
            "code": "unavailable",
        },
    ),
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: every operation documents every status it can
    answer besides its success, each with the error body and an example.

    - 400 where it takes input (a body, query parameters, or an unsafe method's JSON);
    - 401 and 403 where it authenticates (a bad token is 401 even where anonymous may call);
    - 404 where the path names an object; 409 and 415 for writes;
    - 429 and 503 everywhere (throttles; the database or Redis away).
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method.upper() not in {"GET", "HEAD", *UNSAFE}:
                continue
            params = operation.get("parameters", [])
            codes = {429, 503}
            if method.upper() in UNSAFE or any(p.get("in") == "query" for p in params):
                codes.add(400)
            if any(scheme for scheme in operation.get("security", [])) or operation.get("x-authenticates"):
                codes |= {401, 403}
            if "{" in path or any(p.get("name") == "page" for p in params) or "requestBody" in operation:
                codes.add(404)  # no such object; a page past the end; a reference to nothing
            if operation.pop("x-body-required", False):
                operation["requestBody"]["required"] = True
            codes |= set(operation.pop("x-error-statuses", []))
            if method.upper() in UNSAFE:
                codes.add(409)
                if "requestBody" in operation:
                    codes.add(415)
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                description, example = ERRORS[code]
                responses.setdefault(
                    str(code),
                    {
                        "description": description,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Error"},
                                "example": example,
                            }
                        },
                    },
                )
    return result


# Lists an APIView paginates by hand (socialflow.lib.api.PageNumberPagination), documented
# as the generic list views are: `page`, `page_size`, and {count, next, previous, results}.
PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="1 to the last page"),
    OpenApiParameter(
        "page_size", {"type": "integer", "minimum": 1, "maximum": 100}, description="default 20"
    ),
]


def page_of(serializer_class: type[serializers.Serializer], name: str) -> serializers.Serializer:
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )
