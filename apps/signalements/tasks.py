from celery import shared_task

from . import filing


@shared_task(acks_late=True)
def estimate_impact(signalement_id: int):
    """The artificialisation impact of a new signalement (queue and map show it)."""
    return filing.estimate_impact(signalement_id)
