"""The one hook after any change to a département's polygons — an import, a correction, an
undo: everything derived from them follows from here.

* the M1→M2 change layer (this app): rebuilt after an import, its pieces touching the
  changed polygons replaced after a correction;
* the low-zoom vector tiles (this app): all built ahead by a worker after an import; after a
  correction, each is rebuilt when next requested (`tiles.low_zoom_tile`: every change
  bumps the vintage's revision);
* the département page's table per CS code (`CoverSummary`);
* what other apps derive subscribe to `polygons_changed` (the artificialisation indicators:
  `apps.artif.apps`), so that this app imports none of them.
"""

from django.db import connection, transaction
from django.dispatch import Signal

from apps.ops.dispatch import dispatch

from .difference import compute_difference
from .models import CoverSummary, LandCoverPolygon, Vintage

# Sent after the change layer is up to date. Arguments: departement, polygon_ids (None after
# an import: everything).
polygons_changed = Signal()


def summarise(vintage_ids) -> None:
    """The département page's table (`CoverSummary`) of these vintages, rebuilt set-based."""
    ids = list(vintage_ids)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"DELETE FROM {CoverSummary._meta.db_table} WHERE vintage_id = ANY(%s)", [ids])
        cur.execute(
            f"INSERT INTO {CoverSummary._meta.db_table} (vintage_id, code_cs, polygons, area) "
            f"SELECT vintage_id, code_cs, count(*), coalesce(sum(area), 0) "
            f"FROM {LandCoverPolygon._meta.db_table} WHERE vintage_id = ANY(%s) "
            "GROUP BY vintage_id, code_cs",
            [ids],
        )


def after_change(departement, polygon_ids=None) -> dict:
    """Bring the derived data of `departement` up to date after its polygons changed (all of
    them when `polygon_ids` is None). Returns what each part reported."""
    pieces = compute_difference(departement, None if polygon_ids is None else list(polygon_ids))
    vintages = Vintage.objects.filter(departement=departement)
    if polygon_ids is not None:  # the vintages of the polygons changed only
        vintages = vintages.filter(
            pk__in=LandCoverPolygon.objects.filter(pk__in=list(polygon_ids)).values("vintage_id")
        )
    summarise(vintages.values_list("pk", flat=True))
    report = {"pieces": pieces}
    if polygon_ids is None:
        from .tasks import warm_tiles_task

        departement_id = departement.pk
        transaction.on_commit(lambda: dispatch(warm_tiles_task, departement_id))
    for _receiver, answer in polygons_changed.send(
        sender=after_change, departement=departement, polygon_ids=polygon_ids
    ):
        if isinstance(answer, dict):
            report.update(answer)
    return report
