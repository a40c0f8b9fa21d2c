"""Failed sign-ins are limited per account and per address (security review S-03): the
site's form (allauth), `/admin/login/` and the token API all sign in through Django's
`authenticate()`, where django-axes counts failures and refuses a locked account or address.

Why axes and not allauth's own limit: allauth limits only its own forms, and keeps its
counts in the cache (Redis). Axes keeps them in PostgreSQL, so the limit holds when Redis is
away (it cannot fail open), and it sees every caller of `authenticate()`.

Settings: LOGIN_FAILURE_LIMIT failures (default 10) lock the account, and the address, for
LOGIN_LOCKOUT_MINUTES (default 15) from the last failure. The address is the connection's
(REMOTE_ADDR: Daphne sets it from X-Forwarded-For only behind a proxy it was told of), so a
forged header cannot dodge it. Staff unlock from the admin (Axes: access attempts) or with
`manage.py axes_reset_username <name>`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework import exceptions, status

from accounts.models import User


def username_of(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a sign-in names, whether by username or by e-mail address (allauth
    accepts both): one account, one count, however it is named."""
    credentials = credentials or {}
    named = str(credentials.get("username") or credentials.get("email") or "").strip().lower()
    if not named:
        return None
    if "@" in named:
        username = User.objects.filter(email__iexact=named).values_list("username", flat=True).first()
        return (username or named).lower()
    return named


def locked_out(request: Any) -> bool:
    """Was this request's sign-in refused for the lockout (set by axes on the request it was
    given: the DRF request, for the token API)?"""
    return bool(getattr(request, "axes_locked_out", False))


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"
    default_detail = "Too many failed sign-ins for this account or from this address: try again later."
