from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("dashboard/analytics/", views.channel, name="channel"),
    path("dashboard/analytics/<stream_id:stream_id>/", views.stream, name="stream"),
    path("dashboard/analytics/<stream_id:stream_id>/series.csv", views.stream_csv, name="stream_csv"),
]
