from django.urls import path

from accounts import apis

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="api-register"),
    path("auth/token/", apis.TokenApi.as_view(), name="api-token"),
    path("auth/token/refresh/", apis.TokenRefreshApi.as_view(), name="api-token-refresh"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="api-logout"),
    path("auth/ws-ticket/", apis.WsTicketApi.as_view(), name="api-ws-ticket"),
    path("me/avatar/", apis.MeAvatarApi.as_view(), name="api-me-avatar"),
    path("notifications/", apis.NotificationsApi.as_view(), name="api-notifications"),
    path("notifications/read/", apis.NotificationsReadApi.as_view(), name="api-notifications-read"),
    path("webhooks/", apis.WebhooksApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:webhook_id>/", apis.WebhookDetailApi.as_view(), name="api-webhook"),
    path("webhooks/<int:webhook_id>/test/", apis.WebhookTestApi.as_view(), name="api-webhook-test"),
    path(
        "webhooks/<int:webhook_id>/deliveries/",
        apis.WebhookDeliveriesApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path("push/key/", apis.PushKeyApi.as_view(), name="api-push-key"),
    path("push/subscriptions/", apis.PushSubscriptionsApi.as_view(), name="api-push-subscriptions"),
    # me/ and users/<username>/ are routed by streams.api_urls (they add the live state).
    path("users/<username:username>/follow/", apis.UserFollowApi.as_view(), name="api-user-follow"),
    path("users/<username:username>/followers/", apis.UserFollowersApi.as_view(), name="api-user-followers"),
    path("users/<username:username>/following/", apis.UserFollowingApi.as_view(), name="api-user-following"),
]
