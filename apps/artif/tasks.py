from ocsge_web.celery import app


@app.task(acks_late=True)
def update_indicators(departement_id: int, polygon_ids: list[int]) -> dict:
    """After corrections: the indicators of the communes the changed polygons meet. The
    derived-data task now does this itself (`receivers.follow_polygons`); kept for the tasks
    an earlier version queued before an upgrade."""
    from apps.territories.models import Departement

    from .compute import update_after_correction

    result = update_after_correction(Departement.objects.get(pk=departement_id), polygon_ids)
    return {"communes": result["communes"], "seconds": result["seconds"]}
