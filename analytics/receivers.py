"""analytics' part of the broadcast lifecycle, told by streams' signals."""

from django.db import transaction
from django.dispatch import receiver

from analytics.tasks import summary_finalize_task
from streams.models import Stream
from streams.signals import broadcast_ended


@receiver(broadcast_ended, sender=Stream, dispatch_uid="analytics.summary_finalize")
def _summary_finalize(sender, stream: Stream, **kwargs) -> None:
    stream_id = stream.pk
    transaction.on_commit(lambda: summary_finalize_task.delay(stream_id), robust=True)
