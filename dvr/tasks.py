"""Celery tasks for recordings and clips (queue "default"). Tasks take ids and call a
service in their body; the services import these tasks at the top to enqueue them."""

from celery import shared_task

# How often the end-of-broadcast finalize looks again while the transcoder is still writing.
FINALIZE_RETRY_SECONDS = 3


@shared_task(name="dvr.tasks.recording_finalize_task", ignore_result=True)
def recording_finalize_task(stream_id: str, waited: float = 0) -> str:
    from dvr import services

    outcome = services.recording_finalize_for_stream(stream_id=stream_id, waited=waited)
    if outcome == "wait":
        recording_finalize_task.apply_async(
            args=[stream_id, waited + FINALIZE_RETRY_SECONDS], countdown=FINALIZE_RETRY_SECONDS
        )
    return outcome


@shared_task(name="dvr.tasks.recordings_recover_task", ignore_result=True)
def recordings_recover_task() -> int:
    from dvr import services

    return services.recordings_recover()


@shared_task(name="dvr.tasks.recordings_expire_task", ignore_result=True)
def recordings_expire_task() -> int:
    from dvr import services

    return services.recordings_expire()


@shared_task(name="dvr.tasks.clip_make_task", ignore_result=True)
def clip_make_task(clip_id: int) -> str:
    from dvr import clips

    clip = clips.clip_make(clip_id=clip_id)
    return clip.status if clip else "gone"
