"""WebSocket auth for mobile apps: `?token=<access JWT>` when there is no session."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from accounts.tokens import JWTAuthentication


@database_sync_to_async
def _user_for(raw_token: str):
    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(raw_token))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None


class JwtQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        token = parse_qs(scope.get("query_string", b"").decode()).get("token")
        user = scope.get("user")
        if token and (user is None or not user.is_authenticated):
            found = await _user_for(token[0])
            if found is not None:
                scope = {**scope, "user": found}
        return await super().__call__(scope, receive, send)
