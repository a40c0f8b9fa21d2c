"""HTTP and WebSocket entry point (Daphne).

Each app that speaks WebSocket exposes `websocket_urlpatterns` in its `routing.py`;
they are collected in `socialflow.routing`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")
# Django must be set up before anything imports models (consumers, middleware).
django_asgi_app = get_asgi_application()

from socialflow.lib import sandbox  # noqa: E402

# Its environment holds the platform's secrets: no other process of this user (an FFmpeg
# of a non-root worker) may read it through /proc (S-12).
sandbox.protect_self()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.middleware import JwtQueryAuthMiddleware  # noqa: E402
from socialflow.lib.microcache import AnonymousMicroCache  # noqa: E402
from socialflow.routing import websocket_urlpatterns  # noqa: E402

# The API's public reads, anonymous, answered from a shared cache before Django for
# STREAMS_API_CACHE_SECONDS (socialflow/lib/microcache.py).
PUBLIC_READS = r"^/api/v1/streams/(?:live/|[A-Za-z0-9]{12}/)$"

application = ProtocolTypeRouter(
    {
        "http": AnonymousMicroCache(django_asgi_app, paths=PUBLIC_READS),
        # Origin check, then the session user, then a mobile app's ?token= JWT.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(JwtQueryAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
