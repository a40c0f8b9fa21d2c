from django.urls import path

from dvr import apis

urlpatterns = [
    path(
        "streams/<stream_id:stream_id>/recordings/",
        apis.StreamRecordingsApi.as_view(),
        name="api-stream-recordings",
    ),
    path("streams/<stream_id:stream_id>/clips/", apis.StreamClipsApi.as_view(), name="api-stream-clips"),
    path("recordings/<int:recording_id>/", apis.RecordingDetailApi.as_view(), name="api-recording"),
    path("recordings/<int:recording_id>/keep/", apis.RecordingKeepApi.as_view(), name="api-recording-keep"),
    path("recordings/<int:recording_id>/chat/", apis.RecordingChatApi.as_view(), name="api-recording-chat"),
    path("clips/<int:clip_id>/", apis.ClipDetailApi.as_view(), name="api-clip"),
    path("users/<username:username>/clips/", apis.UserClipsApi.as_view(), name="api-user-clips"),
]
