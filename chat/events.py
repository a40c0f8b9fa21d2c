"""Every event sent to a stream's WebSocket group, declared in one place.

A stream's group carries chat, reactions, viewer counts and status changes; a group
handler named after the type (`stream.status` -> `stream_status`) sends it to the socket.
"""

STREAM_STATUS = "stream.status"


def stream_group(stream_id: str) -> str:
    return f"stream.{stream_id}"
