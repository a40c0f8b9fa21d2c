"""Celery tasks for chat. Like every task module: tasks take ids and call the services
inside their bodies (the services import the tasks at the top to enqueue them)."""

from celery import shared_task


@shared_task(name="chat.tasks.presence_push_task", ignore_result=True)
def presence_push_task(stream_id: str) -> int:
    """The viewer count after a REST join/leave (sockets push from their web process)."""
    from chat import presence

    return presence.push_sync(stream_id)


@shared_task(name="chat.tasks.presence_sweep_task", ignore_result=True)
def presence_sweep_task() -> int:
    """Recount every live broadcast: viewers of a web process that died expire here."""
    from chat import presence

    return presence.sweep_sync()
