"""dvr's part of the broadcast lifecycle, told by streams' signals (streams cannot import dvr)."""

from django.dispatch import receiver

from dvr import services
from streams.models import Stream
from streams.signals import broadcast_ended, broadcast_started


@receiver(broadcast_started, sender=Stream, dispatch_uid="dvr.recording_start")
def _recording_start(sender, stream: Stream, **kwargs) -> None:
    services.recording_start(stream=stream)


@receiver(broadcast_ended, sender=Stream, dispatch_uid="dvr.recording_end")
def _recording_end(sender, stream: Stream, **kwargs) -> None:
    services.recording_end(stream=stream)
