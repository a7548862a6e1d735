"""An inference run, end to end: inputs checked, the rasters split into blocks, each block
classified and vectorised by a task on queue `gpu`, the blocks' polygons merged across the
seams and copied into a new draft vintage.

- A block is idempotent: it replaces its own staged polygons in one transaction and counts
  itself done once (a conditional UPDATE), so a retried or duplicated delivery never
  duplicates polygons nor double-counts progress.
- A block that fails is retried (Celery, 2 more times); one that keeps failing marks the run
  failed, and `rerun_failed` sends the failed blocks again. A run can be cancelled: blocks not
  yet started then do nothing.
- The last block to finish starts the assembly (on the default queue): polygons joined across
  the seams, the built-up zones (ZONE_CONSTRUITE) drawn from the buildings of the whole
  département and stored with the vintage, and every polygon still under its minimum mapping
  unit against those zones merged into a neighbour.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.landcover.models import LandCoverPolygon, ModelClass, Vintage, ZoneConstruite
from ocsge.nomenclature import BUILDING, MMU_BUILDING_M2, MMU_BUILT_UP_M2, MMU_ELSEWHERE_M2

from .models import BlockPolygon, InferenceBlock, InferenceRun, ModelVersion

UNKNOWN_USE = "US6.6"  # the model says nothing of the use: "usage inconnu" until corrected
_MODELS: dict[tuple[str, str], tuple] = {}  # per worker process: (checkpoint, device) → model


class RunRefused(ValueError):
    """The run cannot start; the message says why."""


# PyTorch is imported where a model runs (workers), not when Django starts: web processes
# and management commands start 1.2 s faster without it.
def _sources(run):
    from .ml.predict import Sources

    return Sources(Path(run.rgb), Path(run.nir), Path(run.elevation))


def _model(run):
    from .ml.checkpoint import load_checkpoint
    from .ml.predict import pick_device

    device = str(pick_device(run.device))
    key = (run.checkpoint, device)
    if key not in _MODELS:
        class_ids = list(ModelClass.objects.values_list("id", flat=True))
        _MODELS[key] = load_checkpoint(run.checkpoint, expected_class_ids=class_ids, device=device)
    return _MODELS[key]


def check_run(run) -> dict:
    """Inputs readable and aligned, in the département's official CRS (Lambert-93, or the
    DROM's own), checkpoint for the nomenclature's classes, no vintage of that rank in the
    way. Returns the raster grid."""
    from .ml.checkpoint import CheckpointError
    from .ml.predict import InputError, check_sources

    try:
        grid = check_sources(_sources(run))
        _model(run)
    except (InputError, CheckpointError) as exc:
        raise RunRefused(str(exc)) from exc
    srid = run.departement.srid
    if grid["crs"].to_epsg() != srid:
        raise RunRefused(
            _(
                "Les rasters sont en %(crs)s ; EPSG:%(srid)d attendu (le système officiel du "
                "département %(code)s)."
            )
            % {"crs": grid["crs"], "srid": srid, "code": run.departement.code}
        )
    if Vintage.objects.filter(departement=run.departement, rank=run.rank).exists():
        raise RunRefused(
            _(
                "Le département %(code)s a déjà un millésime %(rank)s : supprimez-le d'abord "
                "(ou produisez l'autre rang)."
            )
            % {"code": run.departement.code, "rank": run.rank}
        )
    return grid


def mosaic_inputs(run: InferenceRun) -> list[str]:
    """Inputs given as folders of dalles (BD ORTHO, IRC, RGE ALTI) become aligned VRTs in
    DATA_DIR/inference/; the run then reads those. Returns what was assembled."""
    from django.conf import settings

    from . import mosaic

    if not any(Path(p).is_dir() for p in (run.rgb, run.nir, run.elevation)):
        return []
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    workdir = Path(settings.DATA_DIR) / "inference" / f"{run.departement.code}-{run.rank}-{stamp}"
    try:
        prepared = mosaic.prepare(Path(run.rgb), Path(run.nir), Path(run.elevation), workdir)
    except mosaic.MosaicError as exc:
        raise RunRefused(str(exc)) from exc
    run.rgb, run.nir, run.elevation = map(str, (prepared.rgb, prepared.nir, prepared.elevation))
    return prepared.report


def pick_model(run: InferenceRun) -> None:
    """The run's model: the checkpoint given (its registry entry noted when it has one), or
    the registry's current one for the département."""
    if run.checkpoint:
        from .registry import registered

        run.checkpoint = str(Path(run.checkpoint).resolve())
        run.model_version = registered(run.checkpoint)
        return
    version = ModelVersion.current_for(run.departement)
    if version is None:
        raise RunRefused(_("Aucun modèle retenu dans le registre : indiquez un checkpoint."))
    run.checkpoint, run.model_version = version.checkpoint, version


def start(run: InferenceRun) -> InferenceRun:
    """Check, split into blocks, enqueue them (after commit). Raises RunRefused."""
    pick_model(run)
    assembled = mosaic_inputs(run)
    if assembled:
        run.message = "; ".join(assembled)
    grid = check_run(run)
    size = run.block_px
    with transaction.atomic():
        run.save()
        corners = [
            (r, c) for r in range(0, grid["height"], size) for c in range(0, grid["width"], size)
        ]
        blocks = [
            InferenceBlock(
                run=run,
                index=i,
                col_off=col,
                row_off=row,
                width=min(size, grid["width"] - col),
                height=min(size, grid["height"] - row),
            )
            for i, (row, col) in enumerate(corners)
        ]
        InferenceBlock.objects.bulk_create(blocks)
        InferenceRun.objects.filter(pk=run.pk).update(
            state=InferenceRun.State.RUNNING, blocks_total=len(blocks)
        )
        ids = list(run.blocks.values_list("pk", flat=True))
        transaction.on_commit(lambda: _enqueue(ids))
    run.refresh_from_db()
    return run


def _enqueue(block_ids):
    from apps.ops.dispatch import dispatch

    from .tasks import run_block

    for pk in block_ids:
        dispatch(run_block, pk)


def classify_block(block: InferenceBlock) -> tuple[np.ndarray, np.ndarray, object]:
    """Class and confidence arrays of a block, and its affine transform."""
    import rasterio  # here: rasterio and GDAL are the workers' (page starts stay light)
    from rasterio.windows import Window

    from .ml.predict import pick_device, predict_to_cog

    run = block.run
    model, meta = _model(run)
    window = Window(block.col_off, block.row_off, block.width, block.height)
    with tempfile.TemporaryDirectory(prefix="ocsge-block-") as tmp:
        out_class, out_conf = Path(tmp) / "class.tif", Path(tmp) / "conf.tif"
        predict_to_cog(
            model,
            meta,
            _sources(run),
            out_class,
            out_conf,
            area=window,
            device=pick_device(run.device),
        )
        with rasterio.open(out_class) as cls, rasterio.open(out_conf) as conf:
            return cls.read(1), conf.read(1), cls.transform


def run_block(block_id: int) -> str:
    """Classify and vectorise one block; stage its polygons (replacing any earlier try)."""
    from ocsge.vectorize import vectorize_classes

    with transaction.atomic():
        block = (
            InferenceBlock.objects.select_for_update()
            .select_related("run", "run__departement")
            .defer("run__departement__geom")
            .get(pk=block_id)
        )
        if block.run.state != InferenceRun.State.RUNNING or block.state == block.State.DONE:
            return "skipped"
        InferenceBlock.objects.filter(pk=block.pk).update(
            state=InferenceBlock.State.RUNNING, attempts=F("attempts") + 1
        )
    started = time.perf_counter()
    classes, confidence, transform = classify_block(block)
    polygons = vectorize_classes(classes, confidence, transform, building_classes=_buildings())
    rows = [
        BlockPolygon(
            block=block,
            model_class=int(v),
            confidence=float(c),
            geom=_geos(g, block.run.departement.srid),
        )
        for g, v, c in zip(polygons.geoms, polygons.values, polygons.confidence, strict=True)
        for g in _parts(g)
    ]
    with transaction.atomic():
        # The block's row lock serialises two deliveries finishing at once: the first stages
        # its polygons and counts the block; the second finds it done and leaves it.
        state = InferenceBlock.objects.select_for_update().values_list("state", flat=True)
        if state.get(pk=block.pk) == InferenceBlock.State.DONE:
            return "skipped"
        BlockPolygon.objects.filter(block=block).delete()
        BlockPolygon.objects.bulk_create(rows, batch_size=2000)
        InferenceBlock.objects.filter(pk=block.pk).update(
            state=InferenceBlock.State.DONE,
            polygons=len(rows),
            seconds=time.perf_counter() - started,
            message="",
        )
        InferenceRun.objects.filter(pk=block.run_id).update(blocks_done=F("blocks_done") + 1)
        run = InferenceRun.objects.get(pk=block.run_id)
        if run.blocks_done == run.blocks_total:
            transaction.on_commit(lambda: _assemble_later(run.pk))
    return "done"


def block_failed(block_id: int, error: str, final: bool):
    """A block raised: back to pending for the retry, or failed (and its run) at the end."""
    state = InferenceBlock.State.FAILED if final else InferenceBlock.State.PENDING
    InferenceBlock.objects.filter(pk=block_id).update(state=state, message=error[:2000])
    if final:
        block = InferenceBlock.objects.get(pk=block_id)
        InferenceRun.objects.filter(pk=block.run_id, state=InferenceRun.State.RUNNING).update(
            state=InferenceRun.State.FAILED,
            message=f"block {block.index} failed: {error[:500]}",
            finished_at=timezone.now(),
        )


def rerun_failed(run: InferenceRun) -> int:
    """Send the failed blocks of a failed run again; the run goes back to running. Refused
    for any other run (a cancelled one stays cancelled; a done one has nothing to redo, and
    would be left « running » for ever)."""
    with transaction.atomic():
        run = InferenceRun.objects.select_for_update().get(pk=run.pk)
        if run.state != InferenceRun.State.FAILED:
            raise RunRefused(
                _("Seule une inférence en échec se relance (celle-ci est « %(state)s »).")
                % {"state": run.get_state_display()}
            )
        ids = list(
            run.blocks.filter(state=InferenceBlock.State.FAILED).values_list("pk", flat=True)
        )
        InferenceBlock.objects.filter(pk__in=ids).update(state=InferenceBlock.State.PENDING)
        InferenceRun.objects.filter(pk=run.pk).update(
            state=InferenceRun.State.RUNNING, message="", finished_at=None
        )
        transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)


def cancel(run: InferenceRun):
    InferenceRun.objects.filter(pk=run.pk).exclude(state__in=InferenceRun.FINISHED).update(
        state=InferenceRun.State.CANCELLED, finished_at=timezone.now()
    )


def _assemble_later(run_id):
    from apps.ops.dispatch import dispatch

    from .tasks import assemble_run

    dispatch(assemble_run, run_id)


def _geos(geom, srid: int):
    from django.contrib.gis.geos import GEOSGeometry

    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=srid)


def _parts(geom):
    return [p for p in shapely.get_parts(geom) if not p.is_empty]


def _buildings() -> tuple[int, ...]:
    """The model classes mapped to buildings (the admin's class ↔ CS mapping)."""
    return tuple(ModelClass.objects.filter(cover_id=BUILDING).values_list("id", flat=True))


def _extent(run):
    """The box of the photos, in the département's CRS."""
    import rasterio

    with rasterio.open(run.rgb) as ds:
        return shapely.box(*ds.bounds)


def _seams(run):
    """The lines where blocks meet, in the département's CRS, as one multi-line."""
    import rasterio

    first = run.blocks.order_by("index").first()
    with rasterio.open(run.rgb) as ds:
        t = ds.transform
    blocks = list(run.blocks.all())
    right = max(b.col_off + b.width for b in blocks)
    bottom = max(b.row_off + b.height for b in blocks)
    cols = sorted({b.col_off for b in blocks} - {first.col_off})
    rows = sorted({b.row_off for b in blocks} - {first.row_off})
    lines = [shapely.LineString([t * (c, 0), t * (c, bottom)]) for c in cols]
    lines += [shapely.LineString([t * (0, r), t * (right, r)]) for r in rows]
    return shapely.MultiLineString(lines)


def assemble(run_id: int) -> str:
    """Merge the blocks' polygons across the seams and copy them into a draft vintage."""
    from ocsge.vectorize import merge_across_seams

    with transaction.atomic():
        run = (
            InferenceRun.objects.select_for_update()
            .select_related("departement")
            .defer("departement__geom")
            .get(pk=run_id)
        )
        if run.state != InferenceRun.State.RUNNING or run.blocks_done < run.blocks_total:
            return run.state
        InferenceRun.objects.filter(pk=run.pk).update(state=InferenceRun.State.ASSEMBLING)
    try:
        staged = BlockPolygon.objects.filter(block__run=run).order_by("pk")
        rows = list(staged.values_list("geom", "model_class", "confidence"))
        geoms = np.array([shapely.from_wkb(bytes(g.wkb)) for g, _, _ in rows], dtype=object)
        values = np.array([v for _, v, _ in rows])
        conf = np.array([c for _, _, c in rows])
        merged, merged_values, group = merge_across_seams(geoms, values, _seams(run))
        joined = len(merged)
        merged, merged_values, zones, regroup = within_mapping_units(
            merged, merged_values, _buildings(), _extent(run)
        )
        group = regroup[group]
        # Confidence of a merged polygon: the area-weighted mean of its parts.
        areas = shapely.area(geoms)
        weights = np.bincount(group, weights=areas, minlength=len(merged))
        confidence = np.bincount(group, weights=areas * conf, minlength=len(merged)) / np.maximum(
            weights, 1e-9
        )
        vintage = _copy_into_vintage(run, merged, merged_values, confidence, zones)
    except Exception as exc:
        InferenceRun.objects.filter(pk=run.pk).update(
            state=InferenceRun.State.FAILED,
            message=f"assembly failed: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        raise
    BlockPolygon.objects.filter(block__run=run).delete()
    InferenceRun.objects.filter(pk=run.pk).update(
        state=InferenceRun.State.DONE,
        vintage=vintage,
        finished_at=timezone.now(),
        message=f"{vintage.polygon_count} polygons, {len(zones)} built-up zones "
        f"({joined - len(merged)} polygons under their unit merged into a neighbour)",
    )
    from apps.landcover.tasks import derived_products_task
    from apps.ops.dispatch import dispatch

    transaction.on_commit(lambda: dispatch(derived_products_task, run.departement_id))
    return InferenceRun.State.DONE


def within_mapping_units(geoms, values, buildings, extent):
    """The built-up zones of the assembled polygons, and the polygons with every one under its
    minimum mapping unit merged into a neighbour: buildings under 200 m² first (the zones are
    drawn from the buildings that remain), then the rest under 500 m² where they meet a zone,
    2,500 m² elsewhere (the platform's reading, `signalements.filing.minimum_mapping_unit`).
    Returns (geoms, values, zones cut to `extent`, group)."""
    from ocsge import builtup
    from ocsge.vectorize import absorb_small

    def building(members):
        return values[members[0]] in buildings

    geoms, values, first = absorb_small(
        geoms, values, lambda ms: MMU_BUILDING_M2 if building(ms) else 0.0
    )
    is_building = np.isin(values, buildings)
    zones = builtup.zones(geoms[is_building])
    zones = zones[shapely.intersects(zones, extent)]
    crossing = ~shapely.contains(extent, zones)
    zones[crossing] = shapely.intersection(zones[crossing], extent)
    zones = shapely.get_parts(zones)
    zones = zones[(shapely.get_type_id(zones) == 3) & (shapely.area(zones) > 0)]
    meets = np.zeros(len(geoms), dtype=bool)
    if len(zones):
        meets[np.unique(shapely.STRtree(zones).query(geoms, predicate="intersects")[0])] = True

    def unit(members):
        if building(members):
            return MMU_BUILDING_M2
        return MMU_BUILT_UP_M2 if meets[members].any() else MMU_ELSEWHERE_M2

    geoms, values, second = absorb_small(geoms, values, unit)
    return geoms, values, zones, second[first]


def _copy_into_vintage(run, geoms, values, confidence, zones=()) -> Vintage:
    cover = dict(ModelClass.objects.values_list("id", "cover_id"))
    with transaction.atomic():
        if Vintage.objects.filter(departement=run.departement, rank=run.rank).exists():
            raise RunRefused(
                _("Un millésime %(rank)s est apparu entre-temps.") % {"rank": run.rank}
            )
        vintage = Vintage.objects.create(
            departement=run.departement,
            rank=run.rank,
            millesime=run.millesime,
            state=Vintage.State.DRAFT,
            source=Vintage.Source.INFERENCE,
        )
        parts, index = shapely.get_parts(geoms, return_index=True)
        multi = shapely.multipolygons(parts, indices=index)
        hexes = shapely.to_wkb(
            shapely.set_srid(multi, run.departement.srid), hex=True, include_srid=True
        )
        buffer = io.StringIO()
        for i, (wkb, value, conf) in enumerate(zip(hexes, values, confidence, strict=True)):
            buffer.write(
                f"{vintage.pk}\tOCSGE-IA-{run.pk}-{i + 1:09d}\t{cover.get(int(value)) or ''}\t"
                f"{UNKNOWN_USE}\t{run.millesime}\tinférence {run.pk}\t\t\t{wkb}\t{int(value)}\t"
                f"{conf / 100:.4f}\t1\n"
            )
        table = LandCoverPolygon._meta.db_table
        with connection.cursor() as cur:
            sql = (
                f"COPY {table} (vintage_id, ocsge_id, code_cs, code_us, millesime, source, "
                "id_origine, code_or, geom, model_class, confidence, revision) FROM STDIN"
            )
            with cur.cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())
        zone_rows = [
            ZoneConstruite(
                vintage=vintage,
                ocsge_id=f"ZC-IA-{run.pk}-{i + 1:07d}",
                millesime=run.millesime,
                geom=_geos(shapely.multipolygons([zone]), run.departement.srid),
            )
            for i, zone in enumerate(zones)
        ]
        ZoneConstruite.objects.bulk_create(zone_rows, batch_size=2000)
        Vintage.objects.filter(pk=vintage.pk).update(polygon_count=len(hexes))
        vintage.refresh_from_db()
    return vintage
