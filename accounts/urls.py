from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/profile/", views.profile_edit, name="profile_edit"),
    path("notifications/", views.notifications, name="notifications"),
    path("dashboard/webhooks/", views.webhooks_page, name="webhooks"),
    path(
        "dashboard/webhooks/<int:webhook_id>/deliveries/", views.webhook_deliveries, name="webhook_deliveries"
    ),
    path("dashboard/webhooks/<int:webhook_id>/test/", views.webhook_test, name="webhook_test"),
    path("dashboard/webhooks/<int:webhook_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path("u/<username:username>/", views.profile, name="profile"),
    path("u/<username:username>/followers/", views.followers, name="followers"),
    path("u/<username:username>/following/", views.following, name="following"),
    path("u/<username:username>/follow/", views.follow_toggle, {"action": "follow"}, name="follow"),
    path("u/<username:username>/unfollow/", views.follow_toggle, {"action": "unfollow"}, name="unfollow"),
]
