from django.urls import path

from streams import embeds, views

app_name = "streams"

urlpatterns = [
    path("", views.home, name="home"),
    path("following/", views.following, name="following"),
    path("categories/", views.categories, name="categories"),
    path("categories/<slug:slug>/", views.category, name="category"),
    path("search/", views.search, name="search"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/status/", views.dashboard_status, name="dashboard_status"),
    path("dashboard/rotate-key/", views.dashboard_rotate_key, name="dashboard_rotate_key"),
    path("dashboard/stream/", views.dashboard_stream_save, name="dashboard_stream_save"),
    path("dashboard/channel/media/", views.dashboard_channel_media_save, name="dashboard_channel_media_save"),
    path(
        "dashboard/stream/<stream_id:stream_id>/end/", views.dashboard_stream_end, name="dashboard_stream_end"
    ),
    path("streams/<stream_id:stream_id>/", views.watch, name="watch"),
    path("streams/<stream_id:stream_id>/chat/", views.stream_chat, name="chat"),
    path("streams/<stream_id:stream_id>/live.m3u8", views.stream_hls, name="hls"),
    path("streams/<stream_id:stream_id>/<str:rung>/index.m3u8", views.stream_hls_variant, name="hls_variant"),
    path("streams/<stream_id:stream_id>/dvr.m3u8", views.stream_dvr_master, name="dvr"),
    path("streams/<stream_id:stream_id>/dvr/<str:rung>.m3u8", views.stream_dvr_variant, name="dvr_variant"),
    path("embed/<username:username>/", embeds.embed_player, name="embed"),
    path("embed/<username:username>/chat/", embeds.embed_chat, name="embed_chat"),
    path("oembed", embeds.oembed, name="oembed"),
]
