"""OpenAPI schema generation (drf-spectacular).

Kept apart from socialflow.lib.api: DRF imports the pagination class from there while
drf-spectacular's openapi module imports DRF's generics, a cycle.
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class AutoSchema(openapi.AutoSchema):
    """Names nested `InputSerializer`/`OutputSerializer` after their view (`MeApi` -> `MeOutput`)."""

    def get_serializer_name(self, serializer: Any, direction: Literal["request", "response"]) -> str:
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, name = cls.__qualname__.rpartition(".")
        if outer:
            return outer.rsplit(".", 1)[-1].removesuffix("Api") + name
        return super().get_serializer_name(serializer, direction)


class PasswordBoundJWTScheme(SimpleJWTScheme):
    """Documents accounts.tokens.JWTAuthentication as the bearer scheme it is."""

    target_class = "accounts.tokens.JWTAuthentication"
