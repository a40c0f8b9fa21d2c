"""WebSocket auth for mobile apps when there is no session: `?ticket=<ticket>`, one use
within WS_TICKET_SECONDS, from POST /api/v1/auth/ws-ticket/ (S-20); or, still accepted,
`?token=<access JWT>`, which a proxy's access log would keep."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from accounts.tokens import JWTAuthentication, ws_ticket_redeem


@database_sync_to_async
def _user_for(raw_token: str):
    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(raw_token))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None


class JwtQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        query = parse_qs(scope.get("query_string", b"").decode())
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            found = None
            if query.get("ticket"):
                found = await database_sync_to_async(ws_ticket_redeem)(query["ticket"][0])
            elif query.get("token"):
                found = await _user_for(query["token"][0])
            if found is not None:
                scope = {**scope, "user": found}
        return await super().__call__(scope, receive, send)
