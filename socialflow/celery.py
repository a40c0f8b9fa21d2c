import logging
import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_ready, worker_shutting_down
from django.core.exceptions import ImproperlyConfigured

from socialflow.lib import sandbox

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")

log = logging.getLogger(__name__)

app = Celery("socialflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _protect(**kwargs):
    # Their environment holds the platform's secrets: a process of the same user (an FFmpeg
    # where the worker is not root) must not read it through /proc (S-12). Inherited by the
    # pool's forked children.
    sandbox.protect_self()


@worker_shutting_down.connect
def _stop_transcoders(sender=None, **kwargs):
    # A warm shutdown would wait for hours-long transcodes: ask them to stop cleanly, and
    # let another worker resume each broadcast (the task re-queues itself).
    # Imported here for app loading: this module loads with the settings, before Django's
    # apps (and so streams' models) are ready.
    from streams.transcoder import announce_worker_shutdown

    announce_worker_shutdown(hostname=str(sender))


@worker_ready.connect
def _worker_started(sender=None, **kwargs):
    # Imported here for app loading (see above).
    from streams.transcoder import clear_worker_shutdown, worker_calibrate, worker_check_encoder

    hostname = str(sender.hostname) if hasattr(sender, "hostname") else str(sender)
    clear_worker_shutdown(hostname=hostname)
    consumer = getattr(sender, "task_consumer", None)
    queues = {queue.name for queue in getattr(consumer, "queues", [])}
    try:
        sandbox.check()  # FFmpeg's confinement (S-12)
        if "transcode" in queues:
            worker_check_encoder(hostname=hostname)
    except ImproperlyConfigured as exc:
        # Celery logs what a signal handler raises and carries on; a worker that cannot
        # run FFmpeg safely, or encode, must not take tasks: SystemExit stops it before its first.
        log.critical("%s", exc)
        raise SystemExit(1) from exc
    if "transcode" in queues:
        worker_calibrate(hostname=hostname)
