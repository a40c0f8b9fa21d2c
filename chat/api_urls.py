from django.urls import path

from chat import apis

urlpatterns = [
    path("streams/<stream_id:stream_id>/chat/", apis.StreamChatApi.as_view(), name="api-stream-chat"),
    path(
        "streams/<stream_id:stream_id>/chat/clear/",
        apis.StreamChatClearApi.as_view(),
        name="api-stream-chat-clear",
    ),
    path(
        "streams/<stream_id:stream_id>/chat/<int:message_id>/",
        apis.StreamChatMessageApi.as_view(),
        name="api-stream-chat-message",
    ),
    path(
        "streams/<stream_id:stream_id>/reactions/",
        apis.StreamReactionApi.as_view(),
        name="api-stream-reactions",
    ),
    path("streams/<stream_id:stream_id>/join/", apis.StreamJoinApi.as_view(), name="api-stream-join"),
    path(
        "streams/<stream_id:stream_id>/playback/",
        apis.StreamPlaybackApi.as_view(),
        name="api-stream-playback",
    ),
    path("streams/<stream_id:stream_id>/leave/", apis.StreamLeaveApi.as_view(), name="api-stream-leave"),
    path(
        "streams/<stream_id:stream_id>/viewers/", apis.StreamViewersApi.as_view(), name="api-stream-viewers"
    ),
    path(
        "streams/<stream_id:stream_id>/chat/<int:message_id>/pin/",
        apis.StreamChatPinApi.as_view(),
        name="api-stream-chat-pin",
    ),
]
