from __future__ import annotations

import uuid
from pathlib import PurePosixPath

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models.functions import Lower

from accounts.validators import username_validators

BIO_MAX_LENGTH = 500
DISPLAY_NAME_MAX_LENGTH = 50


def avatar_upload_to(instance: User, filename: str) -> str:
    # A fresh name per upload: no overwrites, no cache staleness, no user-chosen paths.
    suffix = PurePosixPath(filename).suffix.lower()[:8]
    return f"avatars/{instance.pk or 'new'}/{uuid.uuid4().hex}{suffix}"


class User(AbstractUser):
    username = models.CharField(
        "username",
        max_length=30,
        unique=True,
        validators=[MinLengthValidator(3), *username_validators],
        help_text="3-30 letters, digits or underscores.",
        error_messages={"unique": "A user with that username already exists."},
    )
    email = models.EmailField("email address", blank=True)
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX_LENGTH, blank=True)
    bio = models.TextField(max_length=BIO_MAX_LENGTH, blank=True)
    avatar = models.ImageField(upload_to=avatar_upload_to, blank=True)
    go_live_exempt = models.BooleanField(
        "exempt from the follower threshold",
        default=False,
        help_text="Lets this user go live with fewer followers than GO_LIVE_MIN_FOLLOWERS.",
    )
    email_notifications = models.BooleanField(
        default=True, help_text="E-mail me when a channel I follow goes live."
    )
    ban_reason = models.CharField(max_length=200, blank=True)
    banned_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="accounts_user_email_ci_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def avatar_url(self) -> str:
        return self.avatar.url if self.avatar else ""


class FollowQuerySet(models.QuerySet):
    def followee_ids_of(self, user: User) -> models.QuerySet:
        """A subquery of the ids `user` follows (for filters such as followers-only streams)."""
        return self.filter(follower=user).values("followee")


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FollowQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="accounts_follow_unique"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="accounts_follow_not_self"
            ),
        ]
        indexes = [
            # Newest-first follower/following lists and counts.
            models.Index(fields=["followee", "-created_at"], name="accounts_follow_followee_idx"),
            models.Index(fields=["follower", "-created_at"], name="accounts_follow_follower_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.follower} -> {self.followee}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        WENT_LIVE = "went_live", "Went live"

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind)
    message = models.CharField(max_length=200)
    url = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="accounts_notif_recipient_idx"),
            models.Index(
                fields=["recipient"],
                condition=models.Q(read_at__isnull=True),
                name="accounts_notif_unread_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.message


class WebhookEvent(models.TextChoices):
    """What a webhook can be told of (the `X-SocialFlow-Event` header). `ping` is the test
    delivery, sent whatever the webhook's events."""

    STREAM_STARTED = "stream.started", "A broadcast went live"
    STREAM_ENDED = "stream.ended", "A broadcast ended"
    FOLLOWER_NEW = "follower.new", "A new follower"
    CHAT_MESSAGE = "chat.message", "A chat message"
    RECORDING_READY = "recording.ready", "A recording is ready"
    CLIP_CREATED = "clip.created", "A clip is ready"


class Webhook(models.Model):
    """A URL a streamer registered to be told of their channel's events, signed with `secret`."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)  # WebhookEvent values; JSON so SQLite (make run) works
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner"], name="accounts_webhook_owner_idx")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook, with what its receiver answered."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # queued, or waiting for its next try
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # every try failed, or the target was refused

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.CharField(max_length=1024, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["webhook", "-created_at"], name="accounts_delivery_hook_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "delivered", "failed"]),
                name="accounts_delivery_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook_id} ({self.status})"


class PushSubscription(models.Model):
    """One browser's Web Push subscription (the PushSubscription JSON it hands over): it
    gets a push when a channel its user follows goes live (accounts.push)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=100, help_text="the browser's P-256 public key, base64url")
    auth = models.CharField(max_length=50, help_text="the browser's 16-byte auth secret, base64url")
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="failed pushes in a row")

    def __str__(self) -> str:
        return f"{self.user}: {self.endpoint[:60]}"

    def as_subscription_info(self) -> dict:
        """The PushSubscription JSON, as pywebpush takes it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
