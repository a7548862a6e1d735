from celery import shared_task


@shared_task(acks_late=True)
def update_indicators(departement_id: int, polygon_ids: list[int]) -> dict:
    """After corrections: the indicators of the communes the changed polygons meet."""
    from apps.territories.models import Departement

    from .compute import update_after_correction

    result = update_after_correction(Departement.objects.get(pk=departement_id), polygon_ids)
    return {"communes": result["communes"], "seconds": result["seconds"]}


def follow_polygons(sender, departement, polygon_ids, **kwargs) -> dict:
    """`landcover.derived.polygons_changed`: after an import (all polygons), the département's
    indicators at once (this already runs in a task); after corrections, those of the
    communes they meet, in a task once the decision is committed (under a second per
    commune on a million-polygon département, not worth the wait)."""
    if polygon_ids is None:
        if not departement.communes.exists():
            return {"indicators": False}
        from .compute import compute_departement

        compute_departement(departement)
        return {"indicators": True}
    from django.db import transaction

    from apps.ops.dispatch import dispatch

    ids = list(polygon_ids)
    transaction.on_commit(lambda: dispatch(update_indicators, departement.pk, ids))
    return {"indicators": "scheduled"}
