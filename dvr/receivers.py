"""dvr's part of the broadcast lifecycle, told by streams' signals (streams cannot import dvr)."""

from django.dispatch import receiver

from dvr import services
from streams.models import Stream
from streams.signals import broadcast_ended, broadcast_started, media_moved_private


@receiver(broadcast_started, sender=Stream, dispatch_uid="dvr.recording_start")
def _recording_start(sender, stream: Stream, **kwargs) -> None:
    services.recording_start(stream=stream)


@receiver(broadcast_ended, sender=Stream, dispatch_uid="dvr.recording_end")
def _recording_end(sender, stream: Stream, **kwargs) -> None:
    services.recording_end(stream=stream)


@receiver(media_moved_private, sender=Stream, dispatch_uid="dvr.recording_paths_follow")
def _recording_paths_follow(sender, stream: Stream, public: str, private: str, **kwargs) -> None:
    services.recording_paths_follow(stream=stream, public=public, private=private)
