from ocsge_web.celery import app

from . import filing


@app.task(acks_late=True)
def estimate_impact(signalement_id: int):
    """The artificialisation impact of a new signalement (queue and map show it)."""
    return filing.estimate_impact(signalement_id)


@app.task(acks_late=True)
def propose_coherence(origin_id: int, corrected_id: int):
    """The M1↔M2 coherence proposals following an accepted signalement."""
    from .coherence import propose

    return propose(origin_id, corrected_id)


@app.task(acks_late=True)
def model_proposals_task(vintage_id: int) -> dict:
    """The retained model's disagreements with a vintage, filed as proposals (queue `gpu`)."""
    from apps.inference.ml.predict import pick_device
    from apps.landcover.models import Vintage

    from .model_proposals import propose

    vintage = Vintage.objects.select_related("departement").get(pk=vintage_id)
    summary = propose(vintage, device=str(pick_device("auto")))
    return {"windows": summary.windows, "filed": len(summary.filed)}


@app.task(acks_late=True)
def file_batch(job_id: int) -> str:
    """Check and file the rows of a file of proposals (`batch.run`), counting them."""
    from .batch import run

    return run(job_id)
