from django.urls import path

from streams import hooks

urlpatterns = [
    path("srs/", hooks.srs_hook, name="hook-srs"),
    path("nginx-rtmp/", hooks.nginx_rtmp_hook, name="hook-nginx-rtmp"),
]
