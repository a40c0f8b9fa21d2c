"""Every event sent to a stream's WebSocket group, and every frame type, in one place.

A stream's group carries chat, reactions, viewer counts and status changes, each as one
`stream.frame` event holding the encoded frame (chat/broadcast.py).
"""

# The one group event type: {"type": FRAME, "text": <the frame as JSON>, ...}
FRAME = "stream.frame"

# Server -> client
STREAM_STATUS = "stream.status"
CHAT_MESSAGE = "chat.message"
CHAT_HISTORY = "chat.history"
VIEWERS = "viewers"
CHAT_DELETED = "chat.deleted"
CHAT_PINNED = "chat.pinned"
CHAT_CLEARED = "chat.cleared"
REACTION = "reaction"
CHAT_MODE = "chat.mode"
ERROR = "error"

# Client -> server
CHAT_SEND = "chat.send"
REACTION_SEND = "reaction.send"
HEARTBEAT = "heartbeat"
# Moderator commands
CHAT_DELETE = "chat.delete"
CHAT_PIN = "chat.pin"
CHAT_TIMEOUT = "chat.timeout"
CHAT_BAN = "chat.ban"
CHAT_SETTINGS = "chat.settings"
CHAT_CLEAR = "chat.clear"
CLIENT_TYPES = {
    CHAT_SEND,
    REACTION_SEND,
    HEARTBEAT,
    CHAT_DELETE,
    CHAT_PIN,
    CHAT_TIMEOUT,
    CHAT_BAN,
    CHAT_SETTINGS,
    CHAT_CLEAR,
}


def stream_group(stream_id: str) -> str:
    return f"stream.{stream_id}"
