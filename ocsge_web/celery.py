"""Celery application.

Tasks go to Redis when REDIS_URL is set and a server answers; otherwise settings turn on
eager execution so a laptop needs nothing but PostgreSQL. Inference tasks are routed to
queue `gpu` (one worker per GPU, prefetch 1, acks late).
"""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ocsge_web.settings")

app = Celery("ocsge_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _send_what_waited(sender=None, **kwargs):
    """Tasks kept while the broker was down go out as soon as a worker is up."""
    from apps.ops.dispatch import redispatch

    redispatch()
