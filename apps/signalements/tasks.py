from celery import shared_task

from . import services


@shared_task(acks_late=True)
def estimate_impact(signalement_id: int):
    """The artificialisation impact of a new signalement (queue and map show it)."""
    return services.estimate_impact(signalement_id)
