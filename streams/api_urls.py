from django.urls import path

from streams import apis

urlpatterns = [
    # Profiles with their live state (accounts.apis serves them without it).
    path("me/", apis.MeApi.as_view(), name="api-me"),
    path("users/<username:username>/", apis.UserDetailApi.as_view(), name="api-user"),
    path("channel/", apis.ChannelApi.as_view(), name="api-channel"),
    path("channel/rotate-key/", apis.ChannelRotateKeyApi.as_view(), name="api-channel-rotate-key"),
    path("streams/", apis.StreamListCreateApi.as_view(), name="api-streams"),
    path("streams/eligibility/", apis.StreamEligibilityApi.as_view(), name="api-stream-eligibility"),
    path("streams/live/", apis.StreamLiveListApi.as_view(), name="api-streams-live"),
    path("streams/<stream_id:stream_id>/", apis.StreamDetailApi.as_view(), name="api-stream"),
    path("streams/<stream_id:stream_id>/start/", apis.StreamStartApi.as_view(), name="api-stream-start"),
    path("streams/<stream_id:stream_id>/end/", apis.StreamEndApi.as_view(), name="api-stream-end"),
    path("streams/<stream_id:stream_id>/events/", apis.StreamEventsApi.as_view(), name="api-stream-events"),
]
