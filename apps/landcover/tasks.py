"""Celery tasks of the landcover app (default queue)."""

from django.db import connections, transaction
from django.utils import timezone

from apps.ops.dispatch import dispatch
from ocsge_web.celery import app

from .models import ImportJob


def _progress_updater(job_id):
    """Progress written through the 'progress' alias: a separate connection, so it is visible
    while the import's own transaction is still open."""
    last = {"value": -1.0}

    def update(done, total):
        value = round(done / total, 3) if total else 0.0
        if value - last["value"] >= 0.01 or done == total:
            last["value"] = value
            ImportJob.objects.using("progress").filter(pk=job_id).update(progress=value)

    return update


@app.task(bind=True, acks_late=True, max_retries=0)
def run_import_job(self, job_id: int):
    job = ImportJob.objects.get(pk=job_id)
    if job.state == ImportJob.State.DONE:
        return job.state  # idempotent: a duplicate delivery does nothing
    # A job left RUNNING by a dead worker is simply run again: its transaction was rolled back.
    ImportJob.objects.filter(pk=job_id).update(state=ImportJob.State.RUNNING, progress=0.0)
    from .gpkg import ImportRefused, import_ocsge  # heavy (GDAL, scipy): the worker's, here

    try:
        vintage = import_ocsge(
            job.file.path,
            job.departement_code,
            job.rank,
            name=job.departement_name or None,
            reproject=job.reproject,
            repair=job.repair,
            progress=_progress_updater(job_id),
        )
    except ImportRefused as exc:
        ImportJob.objects.filter(pk=job_id).exclude(state=ImportJob.State.DONE).update(
            state=ImportJob.State.FAILED, message=str(exc), finished_at=timezone.now()
        )
        return ImportJob.State.FAILED
    except Exception as exc:
        ImportJob.objects.filter(pk=job_id).update(
            state=ImportJob.State.FAILED,
            message=f"Erreur inattendue : {exc}",
            finished_at=timezone.now(),
        )
        raise
    finally:
        connections["progress"].close()
    ImportJob.objects.filter(pk=job_id).update(
        state=ImportJob.State.DONE,
        progress=1.0,
        vintage=vintage,
        message=f"{vintage.polygon_count} polygones importés.",
        finished_at=timezone.now(),
    )
    dispatch(derived_products_task, vintage.departement_id)
    return ImportJob.State.DONE


@app.task(acks_late=True, max_retries=0)
def derived_products_task(departement_id: int) -> dict:
    """After an import of either vintage: everything derived from the polygons (the M1→M2
    change layer when both vintages are there, the indicators when the communes are
    loaded), through the one hook `derived.after_change`."""
    from apps.territories.models import Departement

    from .derived import after_change

    return after_change(Departement.objects.get(pk=departement_id))


@app.task(acks_late=True, max_retries=0)
def derived_after_correction(departement_id: int, polygon_ids: list[int]) -> dict:
    """After corrections are committed: the derived data of the polygons they wrote (the
    change layer's pieces touching them, then the indicators of the communes they meet)."""
    from apps.territories.models import Departement

    from .derived import after_change

    return after_change(Departement.objects.get(pk=departement_id), polygon_ids)


def enqueue_import(job: ImportJob):
    """Start the import once the job row is committed (eager when there is no broker)."""
    transaction.on_commit(lambda: dispatch(run_import_job, job.pk))


@app.task(acks_late=True, max_retries=0)
def refresh_tile(vintage_id: int, z: int, x: int, y: int) -> int:
    """Rebuild one low-zoom tile at its vintage's current revision (asked by a request that
    served it a revision behind). Returns its size in bytes."""
    from . import tiles

    return len(tiles.store_tile(vintage_id, z, x, y))


@app.task(acks_late=True, max_retries=0)
def warm_tiles_task(departement_id: int) -> dict:
    """After an import: every low-zoom tile of the département's vintages, built ahead."""
    from . import tiles
    from .models import Vintage

    return {
        vintage.rank: tiles.warm_tiles(vintage.pk)
        for vintage in Vintage.objects.filter(departement_id=departement_id)
    }
