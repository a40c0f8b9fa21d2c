import logging
import os

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")

log = logging.getLogger(__name__)

app = Celery("socialflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
    if "transcode" in queues:
        try:
            worker_check_encoder(hostname=hostname)
        except ImproperlyConfigured as exc:
            # Celery logs what a signal handler raises and carries on; a worker that cannot
            # encode must not take broadcasts: SystemExit stops it before its first task.
            log.critical("%s", exc)
            raise SystemExit(1) from exc
        worker_calibrate(hostname=hostname)
