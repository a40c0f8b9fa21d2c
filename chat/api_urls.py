from django.urls import path

from chat import apis

urlpatterns = [
    path("streams/<stream_id:stream_id>/chat/", apis.StreamChatApi.as_view(), name="api-stream-chat"),
]
