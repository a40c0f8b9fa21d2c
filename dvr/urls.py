from django.urls import path

from dvr import views

app_name = "dvr"

urlpatterns = [
    path("recordings/<int:recording_id>/", views.recording, name="recording"),
    path("recordings/<int:recording_id>/edit/", views.recording_edit, name="recording_edit"),
    path("recordings/<int:recording_id>/keep/", views.recording_keep, name="recording_keep"),
    path("recordings/<int:recording_id>/delete/", views.recording_delete, name="recording_delete"),
    path("recordings/<int:recording_id>/master.m3u8", views.recording_master, name="recording_master"),
    path(
        "recordings/<int:recording_id>/<str:rendition>.m3u8",
        views.recording_variant,
        name="recording_variant",
    ),
    path("clips/new/<stream_id:stream_id>/", views.clip_create, name="clip_create"),
    path("clips/<int:clip_id>/", views.clip, name="clip"),
    path("clips/<int:clip_id>/delete/", views.clip_delete, name="clip_delete"),
]
