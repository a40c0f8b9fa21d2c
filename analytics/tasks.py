"""Celery tasks for analytics (the `analytics` queue). Like every task module: tasks call
the services inside their bodies."""

from celery import shared_task


@shared_task(name="analytics.tasks.sample_live_streams_task", ignore_result=True)
def sample_live_streams_task() -> int:
    """Beat, every 10 s: one sample per live broadcast (analytics.series), viewer sessions
    no longer seen closed, and the live summaries refreshed once a minute."""
    from analytics import series, services, summaries

    written = series.sample_live_streams()
    services.viewer_sessions_close_stale()
    summaries.summaries_refresh_live()
    return written


@shared_task(name="analytics.tasks.downsample_task", ignore_result=True)
def downsample_task() -> int:
    """Beat, hourly: raw samples past ANALYTICS_RAW_RETENTION_DAYS become minute samples."""
    from analytics import series

    return series.downsample()


@shared_task(
    name="analytics.tasks.summary_finalize_task",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    max_retries=5,
)
def summary_finalize_task(stream_id: str) -> None:
    """A broadcast ended: its last sample, its sessions closed, its final summary."""
    from analytics import summaries

    summaries.summary_finalize(stream_id=stream_id)
