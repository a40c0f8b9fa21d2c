"""A bare Django REST framework view, the baseline of bench/api.py (bench only).

One `APIView` at /api/v1/bare/ that answers a fixed small JSON object with DRF's
`Response` and `JSONRenderer`: no middleware, no authentication, no throttle, no database,
no project app loaded. Served by the same Daphne launch as the real web tier (the launcher's
Daphne on a shared socket), it is the floor under any DRF endpoint on this machine.

    daphne --fd N bench.bare_api:application   (see start_bare_channels in bench/hooks.py)
"""

from __future__ import annotations

import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")
if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ["SECRET_KEY"],
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["rest_framework"],
        MIDDLEWARE=[],
        USE_TZ=True,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": [],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "UNAUTHENTICATED_USER": None,
        },
    )
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

BODY = {"id": "bare", "title": "A fixed answer", "status": "live", "viewer_count": 0}


class BareApi(APIView):
    def get(self, request):
        return Response(BODY)


urlpatterns = [path("api/v1/bare/", BareApi.as_view())]
application = get_asgi_application()
