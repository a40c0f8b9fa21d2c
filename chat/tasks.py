from asgiref.sync import async_to_sync
from celery import shared_task

from chat import presence
from streams.models import Stream


@shared_task(name="chat.tasks.presence_push_task", ignore_result=True)
def presence_push_task(stream_id: str) -> int:
    """The viewer count after a REST join/leave (sockets push from their web process)."""
    return async_to_sync(presence.push)(stream_id)


@shared_task(name="chat.tasks.presence_sweep_task", ignore_result=True)
def presence_sweep_task() -> int:
    """Recount every live broadcast: viewers of a web process that died expire here."""

    async def sweep(ids):
        for stream_id in ids:
            await presence.push(stream_id)

    ids = list(Stream.objects.live().values_list("pk", flat=True))
    async_to_sync(sweep)(ids)
    return len(ids)
