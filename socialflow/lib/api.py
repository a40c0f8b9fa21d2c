"""API conventions shared by every app: the error shape and pagination.

Every error is `{"detail": "...", "code": "..."}` with a 4xx status; validation errors
add `errors` with the per-field messages.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from socialflow.lib.errors import DomainError


class DomainAPIException(exceptions.APIException):
    def __init__(self, error: DomainError):
        self.status_code = error.status_code
        super().__init__(detail=error.message, code=error.code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        exc = DomainAPIException(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc)
    elif isinstance(exc, exceptions.APIException):  # DRF answers only these (and Http404 etc. above)
        codes = exc.get_codes()
        response.data = {
            "detail": str(exc.detail)
            if not isinstance(exc.detail, dict | list)
            else _first_message(exc.detail),
            "code": codes if isinstance(codes, str) else _first_code(codes),
        }
    return response


def validation_error_body(exc: exceptions.ValidationError) -> dict[str, Any]:
    """`{detail, code, errors}` for a validation error: the REST body, and the socket's
    error frame (chat.consumers)."""
    detail = exc.detail
    if isinstance(detail, dict):
        field, messages = next(iter(detail.items()))
        message = _first_message(messages)
        text = message if field in ("non_field_errors", "detail") else f"{field}: {message}"
    else:
        text = _first_message(detail)
    return {"detail": text, "code": _first_code(exc.get_codes()) or "invalid", "errors": detail}


def _first(value: Any, empty: str) -> str:
    """The first leaf of DRF's nested error details (or codes)."""
    while isinstance(value, list | dict):
        if not value:
            return empty
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    return str(value)


def _first_message(value: Any) -> str:
    return _first(value, "Invalid input.")


def _first_code(value: Any) -> str:
    return _first(value, "invalid")


def json_error(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100
