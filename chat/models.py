"""Chat messages of a broadcast. Persisted before they are broadcast; ids only grow, so a
client that reconnects asks for everything after the last id it saw."""

from django.conf import settings
from django.db import models

MAX_MESSAGE_LENGTH = 500


class ChatMessage(models.Model):
    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="chat_messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    content = models.CharField(max_length=MAX_MESSAGE_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    pinned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["stream", "id"], name="chat_message_stream_id_idx")]

    def __str__(self) -> str:
        return f"{self.user}: {self.content[:40]}"


class ChannelModerator(models.Model):
    """A user the streamer trusts to moderate their chat."""

    channel = models.ForeignKey("streams.Channel", on_delete=models.CASCADE, related_name="moderators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderates")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "user"], name="chat_moderator_unique")]

    def __str__(self) -> str:
        return f"{self.user} moderates {self.channel}"


class ChatBan(models.Model):
    """A user kept out of a channel's chat: until a time (a timeout) or for good (a ban)."""

    channel = models.ForeignKey("streams.Channel", on_delete=models.CASCADE, related_name="chat_bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_bans")
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: banned until lifted.")
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "user"], name="chat_ban_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.channel} until {self.until or 'lifted'}"


class ModerationAction(models.Model):
    """Who did what, when: every moderation action, for the admin."""

    class Kind(models.TextChoices):
        DELETE = "delete", "Deleted a message"
        PIN = "pin", "Pinned a message"
        TIMEOUT = "timeout", "Timed a user out"
        BAN = "ban", "Banned a user from the chat"
        UNBAN = "unban", "Lifted a ban"
        CLEAR = "clear", "Cleared the chat"

    stream = models.ForeignKey("streams.Stream", null=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.ForeignKey(
        "streams.Channel", on_delete=models.CASCADE, related_name="moderation_actions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        ChatMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.actor} {self.get_kind_display().lower()}"


class Reaction(models.TextChoices):
    LIKE = "like", "👍"
    LOVE = "love", "❤️"
    FIRE = "fire", "🔥"
    CLAP = "clap", "👏"
    WOW = "wow", "😮"


class ReactionCount(models.Model):
    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="reaction_counts")
    type = models.CharField(max_length=8, choices=Reaction)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "type"], name="chat_reaction_count_unique")]

    def __str__(self) -> str:
        return f"{self.stream_id} {self.type}: {self.count}"


class ChatSettings(models.Model):
    """A channel's chat rules, kept from one broadcast to the next."""

    channel = models.OneToOneField("streams.Channel", on_delete=models.CASCADE, related_name="chat_settings")
    slow_mode_seconds = models.PositiveIntegerField(
        default=0, help_text="One message per this many seconds; 0: off."
    )
    followers_only = models.BooleanField(default=False)
    follow_min_minutes = models.PositiveIntegerField(
        default=0, help_text="With followers-only: minimum follow age."
    )
    blocked_terms = models.TextField(
        blank=True, help_text="One word or phrase per line; messages with them are refused."
    )
    emote_only = models.BooleanField(default=False, help_text="Messages may hold only emoji.")

    def __str__(self) -> str:
        return f"chat settings of {self.channel}"

    def blocked(self) -> list[str]:
        return [term.strip().lower() for term in self.blocked_terms.splitlines() if term.strip()]
