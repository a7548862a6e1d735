"""The model proposes, people decide: a re-run of the (fine-tuned) model over the windows of a
vintage where its confidence was low or corrections cluster files each disagreement with the
current vintage as a signalement of kind « proposition du modèle ».

- Windows (`WINDOW` px of the photos) meeting a polygon of confidence under `LOW_CONFIDENCE`
  or a corrected polygon are classified again.
- A polygon disagrees when at least `MIN_SHARE` of its pixels seen (and at least half of the
  polygon seen) read as one class whose CS (the admin's class ↔ CS mapping) is not the
  polygon's.
- Never a polygon an operator corrected (a correction or an accepted signalement), nor one
  with an open signalement already (a re-run files nothing twice); the use is kept when the
  nomenclature allows the pair, else no proposal.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.contrib.gis.db.models.functions import PointOnSurface
from django.db import connection, transaction
from django.utils.translation import gettext as _

from apps.inference.models import ModelVersion
from apps.inference.training import Photos, class_rules, photos_of
from apps.landcover.models import (
    CoverUsePair,
    LandCoverPolygon,
    ModelClass,
    PolygonRevision,
    Vintage,
)

from .coherence import file_as_platform, platform_author
from .map import touch_feedback
from .models import Signalement
from .transitions import OPEN

WINDOW = 512
LOW_CONFIDENCE = 0.5
MIN_SHARE = 0.6


class ProposalsRefused(ValueError):
    """The model cannot propose here; the message says why."""


@dataclass
class Summary:
    windows: int = 0
    polygons_compared: int = 0
    disagreements: int = 0
    skipped_corrected: int = 0
    skipped_open: int = 0
    filed: list[int] = field(default_factory=list)


def _corrected_ids(vintage) -> set[int]:
    return set(
        PolygonRevision.objects.filter(polygon__vintage=vintage)
        .exclude(cause=PolygonRevision.Cause.INFERENCE)
        .values_list("polygon_id", flat=True)
    )


def _windows(vintage, transform, width, height, window, low, corrected) -> list[tuple[int, int]]:
    """(row, col) of the windows meeting a low-confidence or corrected polygon."""
    table = LandCoverPolygon._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
                FROM {table} WHERE vintage_id = %s
                  AND (confidence < %s OR id = ANY(%s))""",
            [vintage.pk, low, list(corrected)],
        )
        boxes = cur.fetchall()
    inverse = ~transform
    rows, cols = -(-height // window), -(-width // window)
    found = set()
    for x0, y0, x1, y1 in boxes:
        c0, r0 = inverse * (x0, y1)
        c1, r1 = inverse * (x1, y0)
        for r in range(max(0, int(r0 // window)), min(rows - 1, int(r1 // window)) + 1):
            for c in range(max(0, int(c0 // window)), min(cols - 1, int(c1 // window)) + 1):
                found.add((r, c))
    return sorted(found)


def _polygons_in(vintage, box):
    table = LandCoverPolygon._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH b AS (SELECT ST_MakeEnvelope(%s, %s, %s, %s, %s) AS g)
                SELECT p.id, ST_AsBinary(ST_ClipByBox2D(p.geom, b.g)) FROM {table} p, b
                WHERE p.vintage_id = %s AND p.geom && b.g""",
            [*box, vintage.departement.srid, vintage.pk],
        )
        return cur.fetchall()


def predict(model, meta, bands, transform):
    """The model's classes and confidence (0–100) on a window whose top-left pixel is at
    `transform` (a hook for the tests)."""
    from apps.inference.ml.predict import predict_array

    return predict_array(model, meta, bands)


def propose(
    vintage: Vintage,
    version: ModelVersion | None = None,
    photos: Photos | None = None,
    *,
    window: int = WINDOW,
    low: float = LOW_CONFIDENCE,
    share: float = MIN_SHARE,
    device: str = "cpu",
    log=lambda *_: None,
) -> Summary:
    import rasterio
    import rasterio.features
    import shapely
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    from apps.inference.ml.checkpoint import load_checkpoint

    if vintage.state == Vintage.State.PUBLISHED:
        raise ProposalsRefused(_("ce millésime est publié : il ne change plus"))
    version = version or ModelVersion.current_for(vintage.departement)
    if version is None:
        raise ProposalsRefused(_("aucun modèle retenu dans le registre"))
    photos = photos or photos_of(vintage)
    if photos is None:
        raise ProposalsRefused(_("les photos de ce millésime ne sont pas connues"))
    model, meta = load_checkpoint(version.checkpoint, device=device)
    cover_of, _class_of = class_rules()
    corrected = _corrected_ids(vintage)
    seen = defaultdict(lambda: np.zeros(256, dtype=np.int64))
    conf_sum = defaultdict(float)
    summary = Summary()
    with (
        rasterio.open(photos.rgb) as rgb,
        rasterio.open(photos.nir) as nir,
        rasterio.open(photos.elevation) as dem,
    ):
        pixel_area = abs(rgb.transform.a * rgb.transform.e)
        windows = _windows(vintage, rgb.transform, rgb.width, rgb.height, window, low, corrected)
        for k, (r, c) in enumerate(windows, start=1):
            win = Window(
                c * window,
                r * window,
                min(window, rgb.width - c * window),
                min(window, rgb.height - r * window),
            )
            h, w = int(win.height), int(win.width)
            ph, pw = -(-h // 32) * 32, -(-w // 32) * 32  # the network wants multiples of 32
            bands = np.zeros((5, ph, pw), dtype=np.float32)
            bands[:, :h, :w] = np.concatenate(
                [
                    rgb.read([1, 2, 3], window=win),
                    nir.read([1], window=win),
                    dem.read([1], window=win),
                ]
            )
            t = window_transform(win, rgb.transform)
            classes, confidence = predict(model, meta, bands, t)
            classes, confidence = classes[:h, :w], confidence[:h, :w]
            x0, y1 = t * (0, 0)
            x1, y0 = t * (w, h)
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            rows = [row for row in _polygons_in(vintage, box) if row[1] is not None]
            ids = [pk for pk, _wkb in rows]
            shapes = [(shapely.from_wkb(bytes(wkb)), i + 1) for i, (_pk, wkb) in enumerate(rows)]
            index = (
                rasterio.features.rasterize(
                    shapes, out_shape=(h, w), transform=t, fill=0, dtype="uint32"
                )
                if shapes
                else np.zeros((h, w), dtype=np.uint32)
            )
            for i, pk in enumerate(ids, start=1):
                mask = index == i
                if mask.any():
                    seen[pk] += np.bincount(classes[mask], minlength=256)
                    conf_sum[pk] += float(confidence[mask].sum())
            summary.windows = k
            log(f"window {k}/{len(windows)}")
    polygons = {
        p.pk: p
        for p in LandCoverPolygon.objects.filter(pk__in=list(seen)).defer("geom", "geom_3857")
    }
    open_on = set(
        Signalement.objects.filter(polygon_id__in=list(seen), status__in=OPEN).values_list(
            "polygon_id", flat=True
        )
    )
    pairs = set(CoverUsePair.objects.values_list("cover_id", "use_id"))
    labels = dict(ModelClass.objects.values_list("id", "label"))
    wanted = []
    for pk, counts in seen.items():
        polygon = polygons.get(pk)
        total = int(counts.sum())
        if polygon is None or total * pixel_area < 0.5 * (polygon.area or 0):
            continue
        summary.polygons_compared += 1
        top = int(counts.argmax())
        cs = cover_of.get(top, "")
        if counts[top] < share * total or not cs or cs == polygon.code_cs:
            continue
        summary.disagreements += 1
        if pk in corrected:
            summary.skipped_corrected += 1
            continue
        if pk in open_on:
            summary.skipped_open += 1
            continue
        if (cs, polygon.code_us) not in pairs:
            continue
        wanted.append((polygon, top, cs, counts[top] / total, conf_sum[pk] / total / 100))
    if not wanted:
        return summary
    author, organisation = platform_author()
    # Where each marker stands: one statement, the outlines staying in the database.
    points = dict(
        LandCoverPolygon.objects.filter(pk__in=[w[0].pk for w in wanted])
        .annotate(inner=PointOnSurface("geom"))
        .values_list("pk", "inner")
    )
    with transaction.atomic():
        for polygon, top, cs, part, conf in wanted:
            comment = _(
                "Proposé par le modèle « %(model)s » : il lit ici « %(label)s » (%(cs)s) sur "
                "%(share).0f %% du polygone, confiance moyenne %(conf).0f %%. À vérifier."
            ) % {
                "model": version.name,
                "label": labels.get(top, top),
                "cs": cs,
                "share": part * 100,
                "conf": conf * 100,
            }
            s = file_as_platform(
                author,
                kind=Signalement.Kind.MODEL,
                vintage=vintage,
                polygon=polygon,
                location=points[polygon.pk],
                code_cs_current=polygon.code_cs,
                code_us_current=polygon.code_us,
                code_cs_proposed=cs,
                code_us_proposed=polygon.code_us,
                comment=comment,
                organisation=organisation,
                area=polygon.area or 0.0,
                model_confidence=conf,
            )
            summary.filed.append(s.pk)
        touch_feedback(vintage.pk)
    return summary
