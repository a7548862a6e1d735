"""What the artif app does when the land cover changes (connected in `ArtifConfig.ready`;
Celery is imported only when a task is sent)."""


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

    from .tasks import update_indicators

    ids = list(polygon_ids)
    transaction.on_commit(lambda: dispatch(update_indicators, departement.pk, ids))
    return {"indicators": "scheduled"}
