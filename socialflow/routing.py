"""Every app's WebSocket routes, in one list for asgi.py."""

from importlib import import_module

from django.apps import apps

websocket_urlpatterns = []
for app_config in apps.get_app_configs():
    if app_config.name in {"accounts", "streams", "chat", "analytics", "dvr"}:
        try:
            routing = import_module(f"{app_config.name}.routing")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_config.name}.routing":
                raise
            continue
        websocket_urlpatterns += routing.websocket_urlpatterns
