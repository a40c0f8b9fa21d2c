import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")

app = Celery("socialflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Queues by kind of work: long FFmpeg jobs never wait behind (or block) quick ones.
app.conf.task_queues = (Queue("default"), Queue("transcode"), Queue("analytics"))
app.autodiscover_tasks()
