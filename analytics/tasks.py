"""Celery tasks for analytics (the `analytics` queue). Like every task module: tasks call
the services inside their bodies."""

from celery import shared_task


@shared_task(name="analytics.tasks.sample_live_streams_task", ignore_result=True)
def sample_live_streams_task() -> int:
    """Beat, every 10 s: one sample per live broadcast (analytics.series)."""
    from analytics import series

    return series.sample_live_streams()


@shared_task(name="analytics.tasks.downsample_task", ignore_result=True)
def downsample_task() -> int:
    """Beat, hourly: raw samples past ANALYTICS_RAW_RETENTION_DAYS become minute samples."""
    from analytics import series

    return series.downsample()
