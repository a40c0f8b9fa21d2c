"""JWTs that end when the password changes or the account is suspended.

Every token carries `pwd`, a keyed fingerprint of the user's password hash. Any password
change (reset, the settings page, the admin) changes the hash, so every token issued
before it is refused, access and refresh alike, without a token database.
"""

from __future__ import annotations

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
