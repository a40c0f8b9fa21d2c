"""API conventions shared by every app: the error shape and pagination.

Every error is `{"detail": "...", "code": "..."}` with a 4xx status; validation errors
add `errors` with the per-field messages.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse, QueryDict
from rest_framework import exceptions, pagination, serializers
from rest_framework.fields import empty
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
        if _leaves(exc.get_codes()) == {"does_not_exist"}:
            # A well-formed reference to nothing (an unknown category slug): 404, as a path
            # naming nothing is; 400 stays for what is malformed.
            response.status_code = 404
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


def _leaves(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_leaves(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_leaves(item) for item in value))
    return {str(value)}


def _first_message(value: Any) -> str:
    return _first(value, "Invalid input.")


def _first_code(value: Any) -> str:
    return _first(value, "invalid")


def json_error(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


class PageNumberPagination(pagination.PageNumberPagination):
    """Pages of `page_size` (1-100, default PAGE_SIZE). `page` and `page_size` are single
    whole numbers in range, or the answer is 400 `invalid_page` (DRF would quietly use the
    default); a page past the end is 404 `not_found`, as DRF answers."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def _number(self, request: Any, name: str, maximum: int | None) -> int | None:
        values = request.query_params.getlist(name)
        if not values:
            return None
        text = values[0]
        whole = text.isascii() and text.isdigit()
        if len(values) > 1 or not whole or int(text) < 1 or (maximum is not None and int(text) > maximum):
            limit = f"1 to {maximum}" if maximum else "at least 1"
            raise exceptions.ValidationError({name: [f"A whole number, {limit}, once."]}, code="invalid_page")
        return int(values[0])

    def get_page_size(self, request: Any) -> int:
        return self._number(request, self.page_size_query_param, self.max_page_size) or int(
            self.page_size or 20
        )

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        self._number(request, self.page_query_param, None)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters


def _typed(field_class: type[serializers.Field] | type[serializers.RelatedField], accepts: Any) -> None:
    original = field_class.to_internal_value

    def to_internal_value(self: serializers.Field, data: Any) -> Any:
        initial = getattr(self.root, "initial_data", None)
        if isinstance(initial, dict) and not isinstance(initial, QueryDict) and not accepts(data):
            self.fail("invalid")
        return original(self, data)

    field_class.to_internal_value = to_internal_value  # type: ignore[method-assign]


def strict_json_types() -> None:
    """A JSON body is typed as the schema says: a string field takes a string, a number a
    number, a boolean true or false. DRF also takes 0 for "0", "5" for 5 and "yes" for true,
    which the schema does not promise and a client should not rely on. Query strings, forms
    and multipart (a QueryDict: text only) keep DRF's parsing. Called once at start-up
    (accounts.apps); it applies to the WebSocket frames validated by serializers too."""
    if getattr(serializers.CharField, "_strict_json", False):
        return
    _typed(serializers.CharField, lambda data: isinstance(data, str))
    _typed(serializers.IntegerField, lambda data: isinstance(data, int) and not isinstance(data, bool))
    _typed(serializers.FloatField, lambda data: isinstance(data, int | float) and not isinstance(data, bool))
    _typed(serializers.BooleanField, lambda data: isinstance(data, bool))
    _typed(serializers.SlugRelatedField, lambda data: isinstance(data, str) and "\x00" not in data)
    # A related field turns "" into null before it looks: in JSON, null is null and "" is no slug.
    original = serializers.RelatedField.run_validation

    def run_validation(self: serializers.RelatedField, data: Any = empty) -> Any:
        initial = getattr(self.root, "initial_data", None)
        if data == "" and isinstance(initial, dict) and not isinstance(initial, QueryDict):
            raise exceptions.ValidationError("A value, or null.", code="invalid")
        return original(self, data)

    serializers.RelatedField.run_validation = run_validation  # type: ignore[method-assign,assignment]
    serializers.CharField._strict_json = True  # type: ignore[attr-defined]


class QuerySerializer(serializers.Serializer):
    """A view's query parameters, each given at most once and not empty: `?days=7&days=30` is
    400 `repeated` and `?days=` 400 `blank`, where a QueryDict would quietly take the last, or
    take an empty one for none. Pass the class to extend_schema's
    `parameters` and the schema documents each with its bounds."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, QueryDict):
            repeated = [str(name) for name in self.fields if len(data.getlist(str(name))) > 1]
            if repeated:
                raise exceptions.ValidationError({repeated[0]: ["Give it once."]}, code="repeated")
            # `?unread=` is not `unread` left out: a value the field does not take.
            empty = [
                str(name)
                for name, field in self.fields.items()
                if data.get(str(name)) == "" and not getattr(field, "allow_blank", False)
            ]
            if empty:
                raise exceptions.ValidationError(
                    {empty[0]: ["Give it a value, or leave it out."]}, code="blank"
                )
        return super().to_internal_value(data)
