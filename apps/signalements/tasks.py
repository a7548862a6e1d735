from celery import shared_task

from . import filing


@shared_task(acks_late=True)
def estimate_impact(signalement_id: int):
    """The artificialisation impact of a new signalement (queue and map show it)."""
    return filing.estimate_impact(signalement_id)


@shared_task(acks_late=True)
def propose_coherence(origin_id: int, corrected_id: int):
    """The M1↔M2 coherence proposals following an accepted signalement."""
    from .coherence import propose

    return propose(origin_id, corrected_id)
