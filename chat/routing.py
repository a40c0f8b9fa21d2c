from django.urls import path

from chat.consumers import StreamConsumer

websocket_urlpatterns = [
    path("ws/streams/<stream_id:stream_id>/", StreamConsumer.as_asgi()),
]
