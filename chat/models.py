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

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["stream", "id"], name="chat_message_stream_id_idx")]

    def __str__(self) -> str:
        return f"{self.user}: {self.content[:40]}"
