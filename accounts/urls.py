from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/profile/", views.profile_edit, name="profile_edit"),
    path("u/<str:username>/", views.profile, name="profile"),
    path("u/<str:username>/followers/", views.followers, name="followers"),
    path("u/<str:username>/following/", views.following, name="following"),
    path("u/<str:username>/follow/", views.follow_toggle, {"action": "follow"}, name="follow"),
    path("u/<str:username>/unfollow/", views.follow_toggle, {"action": "unfollow"}, name="unfollow"),
]
