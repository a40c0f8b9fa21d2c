from django.urls import re_path

from chat.consumers import StreamConsumer

websocket_urlpatterns = [
    re_path(r"^ws/streams/(?P<stream_id>[A-Za-z0-9]{12})/$", StreamConsumer.as_asgi()),
]
