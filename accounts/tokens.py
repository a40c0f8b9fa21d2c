"""JWTs that end when the password changes or the account is suspended.

Every token carries `pwd`, a keyed fingerprint of the user's password hash. Any password
change (reset, the settings page, the admin) changes the hash, so every token issued
before it is refused, access and refresh alike, without a token database.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework_simplejwt import authentication, serializers
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User

CLAIM = "pwd"


def password_fingerprint(user: User) -> str:
    return salted_hmac("accounts.tokens.password", user.password).hexdigest()[:20]


def _still_valid(token, user: User | None) -> bool:
    return (
        user is not None
        and user.is_active
        and constant_time_compare(str(token.get(CLAIM, "")), password_fingerprint(user))
    )


class TokenObtainPairSerializer(serializers.TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token[CLAIM] = password_fingerprint(user)  # copied into every access token it mints
        return token


class TokenRefreshSerializer(serializers.TokenRefreshSerializer):
    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])
        user = User.objects.filter(pk=refresh.get(api_settings.USER_ID_CLAIM)).first()
        if not _still_valid(refresh, user):
            raise InvalidToken("Token is no longer valid; log in again.")
        return super().validate(attrs)


class JWTAuthentication(authentication.JWTAuthentication):
    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not _still_valid(validated_token, user):
            raise InvalidToken("Token is no longer valid; log in again.")
        return user


# --- WebSocket tickets (S-20) ---------------------------------------------------------------
#
# A socket cannot send an Authorization header, and a `?token=<access JWT>` in its URL lands
# in every proxy's and CDN's access log, good for 15 minutes of the account. A ticket is
# what goes in the URL instead: random, for one connection, gone after WS_TICKET_SECONDS.
# Only a hash of it is stored.


def _ticket_key(ticket: str) -> str:
    return "accounts:ws-ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def ws_ticket_issue(*, user: User) -> str:
    ticket = secrets.token_urlsafe(32)
    cache.set(_ticket_key(ticket), user.pk, timeout=settings.WS_TICKET_SECONDS)
    return ticket


def ws_ticket_redeem(ticket: str) -> User | None:
    """The user a ticket was issued to, once: a second use, an expired or a made-up ticket
    is None (the socket is then anonymous)."""
    if not ticket or len(ticket) > 100:
        return None
    key = _ticket_key(ticket)
    user_id = cache.get(key)
    if user_id is None or not cache.delete(key):  # another connection redeemed it first
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()
