"""Celery tasks for streams. Tasks take ids and call a service inside their body; the
services import these tasks at the top to enqueue them (HackSoft's direction, so there is
no import cycle to hide)."""

from celery import shared_task

from streams import media_servers


@shared_task(name="streams.tasks.stream_notify_followers_task", ignore_result=True)
def stream_notify_followers_task(stream_id: str) -> int:
    from streams import services

    return services.stream_notify_followers(stream_id=stream_id)


@shared_task(
    name="streams.tasks.media_drop_publisher_task",
    ignore_result=True,
    autoretry_for=(media_servers.MediaServerError,),
    retry_backoff=1,
    max_retries=5,
)
def media_drop_publisher_task(media_server: str, channel_id: int, client_id: str) -> bool:
    server = media_servers.get_media_server(media_server)
    return server.drop_publisher(channel_id=channel_id, client_id=client_id)


@shared_task(name="streams.tasks.stream_segments_purge_task", ignore_result=True)
def stream_segments_purge_task(stream_id: str) -> int:
    from streams import services

    return services.stream_segments_purge(stream_id=stream_id)


@shared_task(name="streams.tasks.stream_media_private_task", ignore_result=True)
def stream_media_private_task(stream_id: str) -> int:
    from streams import services

    return services.stream_media_move_private(stream_id=stream_id)


@shared_task(name="streams.tasks.broadcasts_reap_stale_task", ignore_result=True)
def broadcasts_reap_stale_task() -> int:
    from streams import services

    return services.broadcasts_reap_stale()


@shared_task(
    bind=True,
    name="streams.tasks.transcode_stream_task",
    ignore_result=True,
    # A broadcast runs for hours (Celery's default limits would kill it); the Redis lock
    # stops duplicates. Under a prefork pool, past a day the transcoder stops cleanly and
    # queues a fresh task (the threads pool of `make run` and compose applies no limit).
    time_limit=24 * 3600 + 120,
    soft_time_limit=24 * 3600,
)
def transcode_stream_task(self, stream_id: str) -> str:
    from streams import transcoder

    outcome = transcoder.transcode_broadcast(stream_id=stream_id, worker=self.request.hostname)
    if outcome in (transcoder.Outcome.WORKER_SHUTTING_DOWN, transcoder.Outcome.TIME_LIMIT):
        transcode_stream_task.apply_async(args=[stream_id], countdown=1)  # another worker resumes
    return outcome


@shared_task(name="streams.tasks.transcoders_ensure_task", ignore_result=True)
def transcoders_ensure_task() -> int:
    from streams import transcoder

    return transcoder.transcoders_ensure()
