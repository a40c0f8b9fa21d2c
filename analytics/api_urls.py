from django.urls import path

from analytics import apis

urlpatterns = [
    path(
        "streams/<stream_id:stream_id>/analytics/",
        apis.StreamAnalyticsApi.as_view(),
        name="api-stream-analytics",
    ),
    path("channel/analytics/", apis.ChannelAnalyticsApi.as_view(), name="api-channel-analytics"),
]
