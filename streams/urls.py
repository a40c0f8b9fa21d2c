from django.urls import path

from streams import views

app_name = "streams"

urlpatterns = [
    path("", views.home, name="home"),
    path("following/", views.following, name="following"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
