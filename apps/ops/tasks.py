from celery import shared_task

from .dispatch import redispatch


@shared_task
def redispatch_deferred() -> int:
    """Send the tasks kept while the broker was down (beat, every minute)."""
    return redispatch()
