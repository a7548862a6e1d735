"""Celery application.

Tasks go to Redis when REDIS_URL is set and a server answers; otherwise settings turn on
eager execution so a laptop needs nothing but PostgreSQL. Inference tasks are routed to
queue `gpu` (one worker per GPU, prefetch 1, acks late).

Imported by the task modules (`apps.*.tasks`, whose tasks are bound to this app) and by the
worker and beat (`celery -A ocsge_web` finds `ocsge_web.celery.app`); Django's start-up does
not import it.
"""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_ready
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ocsge_web.settings")

app = Celery("ocsge_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def beat_schedule(entries: dict) -> dict:
    """Settings' beat schedule with each {"crontab": {...}} made a celery crontab."""
    out = {}
    for name, entry in entries.items():
        schedule = entry["schedule"]
        if isinstance(schedule, dict):
            schedule = crontab(**schedule["crontab"])
        out[name] = {**entry, "schedule": schedule}
    return out


app.conf.beat_schedule = beat_schedule(settings.CELERY_BEAT_SCHEDULE)


@worker_ready.connect
def _send_what_waited(sender=None, **kwargs):
    """Tasks kept while the broker was down go out as soon as a worker is up."""
    from apps.ops.dispatch import redispatch

    redispatch()
