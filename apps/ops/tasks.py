from ocsge_web.celery import app

from .dispatch import redispatch


@app.task
def redispatch_deferred() -> int:
    """Send the tasks kept while the broker was down (beat, every minute)."""
    return redispatch()
