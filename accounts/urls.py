from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/profile/", views.profile_edit, name="profile_edit"),
    path("notifications/", views.notifications, name="notifications"),
    path("u/<username:username>/", views.profile, name="profile"),
    path("u/<username:username>/followers/", views.followers, name="followers"),
    path("u/<username:username>/following/", views.following, name="following"),
    path("u/<username:username>/follow/", views.follow_toggle, {"action": "follow"}, name="follow"),
    path("u/<username:username>/unfollow/", views.follow_toggle, {"action": "unfollow"}, name="unfollow"),
]
