from celery import shared_task

from chat import presence
from streams.models import Stream


@shared_task(name="chat.tasks.presence_push_task", ignore_result=True)
def presence_push_task(stream_id: str) -> int:
    """The viewer count after a REST join/leave (sockets push from their web process)."""
    return presence.push_sync(stream_id)


@shared_task(name="chat.tasks.presence_sweep_task", ignore_result=True)
def presence_sweep_task() -> int:
    """Recount every live broadcast: viewers of a web process that died expire here."""

    ids = list(Stream.objects.live().values_list("pk", flat=True))
    for stream_id in ids:
        presence.push_sync(stream_id)
    return len(ids)
