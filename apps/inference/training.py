"""Open training data from the corrections: a corrected vintage and its photos as a training
set in FLAIR-1's layout.

    aerial/D<dep>_<millesime>/Z<n>/img/IMG_<k>.tif   the 5 input bands (R, G, B, NIR,
                                                     elevation), 512 × 512 px at the
                                                     photos' resolution, float32
    labels/D<dep>_<millesime>/Z<n>/msk/MSK_<k>.tif   the model's 17 classes, uint8 (0: no
                                                     label — a cover no class maps to)
    metadata.json                                    per patch (keyed IMG_<k>): domain,
                                                     zone, centroid x/y/z, département,
                                                     millésime, CRS, the share of its
                                                     pixels labelled by each source
    classes.json, README.txt                         the classes and their CS; the licence

A zone is a square of 16 × 16 patches (8,192 px, an inference block by default), numbered
1000 × its row + its column + 1 (Z1, Z2 … along the first row, Z1001 … the second). Each
polygon's class: the model's own where no one corrected the polygon; otherwise the class of
the corrected CS through the admin's class ↔ CS mapping (the model's class when it maps to
that CS, else the lowest class that does). Where each label comes from — the model, an
operator's correction, an accepted signalement, or IGN's delivery (an imported vintage) — is
told per patch, and `only_corrected` keeps the patches holding corrected labels only (the
fine-tuning's input). Patches overrunning the photos' edge, or with no labelled pixel, are
left out.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.db import connection

from apps.landcover.models import LandCoverPolygon, ModelClass, PolygonRevision, Vintage
from ocsge.licence import LICENCE, LICENCE_URL

from .models import InferenceRun

PATCH = 512
ZONE_PATCHES = 16
# Label sources, as stored in a patch's source raster (0: no label).
SOURCES = {1: "model", 2: "correction", 3: "signalement", 4: "delivery"}
CAUSE_SOURCE = {
    PolygonRevision.Cause.CORRECTION: 2,
    PolygonRevision.Cause.SIGNALEMENT: 3,
}


class TrainingRefused(ValueError):
    """The training set cannot be built; the message says why."""


@dataclass
class Photos:
    rgb: Path
    nir: Path
    elevation: Path


def photos_of(vintage: Vintage) -> Photos | None:
    """The photos the model read for `vintage`, when a finished inference run produced it and
    they are still there."""
    run = (
        InferenceRun.objects.filter(vintage=vintage, state=InferenceRun.State.DONE)
        .order_by("-pk")
        .first()
    )
    if run is None:
        return None
    photos = Photos(Path(run.rgb), Path(run.nir), Path(run.elevation))
    if not all(p.is_file() for p in (photos.rgb, photos.nir, photos.elevation)):
        return None
    return photos


def class_rules() -> tuple[dict[int, str], dict[str, int]]:
    """(cover of each model class, lowest class of each cover) from the admin's mapping."""
    cover_of = {pk: cs or "" for pk, cs in ModelClass.objects.values_list("id", "cover_id")}
    class_of: dict[str, int] = {}
    for pk in sorted(cover_of):
        if cover_of[pk]:
            class_of.setdefault(cover_of[pk], pk)
    return cover_of, class_of


def _polygons(vintage: Vintage, box: tuple[float, float, float, float]):
    """(WKB cut to the box, CS, model class, label source) of the polygons meeting `box`."""
    table = LandCoverPolygon._meta.db_table
    revisions = PolygonRevision._meta.db_table
    sql = f"""
        WITH box AS (SELECT ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, %(srid)s) AS g)
        SELECT ST_AsBinary(ST_ClipByBox2D(p.geom, box.g)), p.code_cs, p.model_class,
               (SELECT r.cause FROM {revisions} r
                WHERE r.polygon_id = p.id AND r.cause <> %(inference)s
                ORDER BY r.revision DESC LIMIT 1)
        FROM {table} p, box
        WHERE p.vintage_id = %(v)s AND p.geom && box.g
    """
    with connection.cursor() as cur:
        cur.execute(
            sql,
            {
                "x0": box[0],
                "y0": box[1],
                "x1": box[2],
                "y1": box[3],
                "srid": vintage.departement.srid,
                "v": vintage.pk,
                "inference": PolygonRevision.Cause.INFERENCE,
            },
        )
        return cur.fetchall()


def label_patch(rows, transform, cover_of, class_of, inferred: bool, patch: int = PATCH):
    """The class and source rasters of one patch from its polygons."""
    import rasterio.features
    import shapely

    shapes, classes, sources = [], [0], [0]
    for wkb, cs, model_class, cause in rows:
        if wkb is None:  # PostGIS clips to nothing (a piece only touching the box)
            continue
        geom = shapely.from_wkb(bytes(wkb))
        if geom is None or geom.is_empty:
            continue
        if cause is None:
            value = model_class if inferred and model_class else class_of.get(cs, 0)
            source = 1 if inferred and model_class else 4
        else:
            value = model_class if model_class and cover_of.get(model_class) == cs else None
            value = value or class_of.get(cs, 0)
            source = CAUSE_SOURCE.get(cause, 2)
        shapes.append((geom, len(classes)))
        classes.append(value)
        sources.append(source)
    index = rasterio.features.rasterize(
        shapes, out_shape=(patch, patch), transform=transform, fill=0, dtype="uint32"
    )
    classes = np.array(classes, dtype=np.uint8)[index]
    sources = np.array(sources, dtype=np.uint8)[index]
    sources[classes == 0] = 0
    return classes, sources


def build_training_set(
    vintage: Vintage,
    photos: Photos,
    out_dir: Path,
    *,
    only_corrected: bool = False,
    progress=None,
    patch: int = PATCH,
) -> dict:
    """Write the training set of `vintage` under `out_dir` (replaced); returns its summary."""
    dep = vintage.departement
    final = Path(out_dir)
    # Written beside, then moved into place: a failure leaves nothing half-written.
    out_dir = final.with_name(final.name + ".part")
    shutil.rmtree(out_dir, ignore_errors=True)
    try:
        summary = _write(vintage, dep, photos, out_dir, only_corrected, progress, patch)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    out_dir.replace(final)
    return summary


@dataclass(eq=False)  # compared by identity: two vintages' patches may share a grid cell
class Patch:
    """One patch of a vintage: where it lies, its labels and their sources, its 5 bands."""

    row: int
    col: int
    transform: object
    box: tuple[float, float, float, float]
    labels: np.ndarray  # (p, p) uint8, 0 = no label
    sources: np.ndarray  # (p, p) uint8, SOURCES
    shares: dict[str, float]
    bands: np.ndarray  # (5, p, p) float32: R, G, B, NIR, elevation

    @property
    def corrected(self) -> bool:
        return bool(self.shares["correction"] or self.shares["signalement"])


def iter_patches(
    vintage: Vintage, photos: Photos, *, patch=PATCH, only_corrected=False, progress=None
):
    """The patches of `vintage` holding a label (corrected ones only when asked), row by row;
    the photos are read only for the patches kept."""
    import rasterio
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    srid = vintage.departement.srid
    cover_of, class_of = class_rules()
    inferred = vintage.source == Vintage.Source.INFERENCE
    with (
        rasterio.open(photos.rgb) as rgb,
        rasterio.open(photos.nir) as nir,
        rasterio.open(photos.elevation) as dem,
    ):
        if rgb.crs is None or rgb.crs.to_epsg() != srid:
            raise TrainingRefused(f"photos in {rgb.crs}, the département's CRS is EPSG:{srid}")
        cols, rows = rgb.width // patch, rgb.height // patch
        for row in range(rows):
            for col in range(cols):
                window = Window(col * patch, row * patch, patch, patch)
                transform = window_transform(window, rgb.transform)
                x0, y1 = transform * (0, 0)
                x1, y0 = transform * (patch, patch)
                box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
                labels, sources = label_patch(
                    _polygons(vintage, box), transform, cover_of, class_of, inferred, patch
                )
                if progress:
                    progress(row * cols + col + 1, cols * rows)
                if not labels.any():
                    continue
                shares = {
                    name: float(np.count_nonzero(sources == code)) / labels.size
                    for code, name in SOURCES.items()
                }
                if only_corrected and not (shares["correction"] or shares["signalement"]):
                    continue
                bands = np.concatenate(
                    [
                        rgb.read([1, 2, 3], window=window),
                        nir.read([1], window=window),
                        dem.read([1], window=window),
                    ]
                ).astype(np.float32)
                yield Patch(row, col, transform, box, labels, sources, shares, bands)


def _write(vintage, dep, photos, out_dir, only_corrected, progress, patch) -> dict:
    import rasterio

    domain = f"D{dep.code.zfill(3)}_{vintage.millesime}"
    cover_of, _class_of = class_rules()
    metadata, counts, res = {}, dict.fromkeys(SOURCES.values(), 0), None
    profile = {
        "driver": "GTiff",
        "width": patch,
        "height": patch,
        "crs": f"EPSG:{dep.srid}",
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    for k, p in enumerate(
        iter_patches(
            vintage, photos, patch=patch, only_corrected=only_corrected, progress=progress
        ),
        start=1,
    ):
        res = abs(p.transform.a)
        name = f"{k:06d}"
        zone = f"Z{(p.row // ZONE_PATCHES) * 1000 + p.col // ZONE_PATCHES + 1}"
        img = out_dir / "aerial" / domain / zone / "img" / f"IMG_{name}.tif"
        msk = out_dir / "labels" / domain / zone / "msk" / f"MSK_{name}.tif"
        img.parent.mkdir(parents=True, exist_ok=True)
        msk.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(
            img, "w", **profile, count=5, dtype="float32", transform=p.transform
        ) as out:
            out.write(p.bands)
            out.descriptions = ("R", "G", "B", "NIR", "elevation")
        with rasterio.open(
            msk, "w", **profile, count=1, dtype="uint8", transform=p.transform, nodata=0
        ) as out:
            out.write(p.labels[np.newaxis])
        for source, share in p.shares.items():
            counts[source] += int(round(share * p.labels.size))
        metadata[f"IMG_{name}"] = {
            "domain": domain,
            "zone": zone,
            "patch_centroid_x": round((p.box[0] + p.box[2]) / 2, 2),
            "patch_centroid_y": round((p.box[1] + p.box[3]) / 2, 2),
            "patch_centroid_z": round(float(np.mean(p.bands[4])), 2),
            "departement": dep.code,
            "millesime": vintage.millesime,
            "rank": vintage.rank,
            "crs": f"EPSG:{dep.srid}",
            "resolution_m": res,
            "label_sources": {s: round(v, 4) for s, v in p.shares.items()},
        }
    if not metadata:
        raise TrainingRefused("no patch holds a label" + (" corrected" if only_corrected else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metadata.json").write_text(
        json.dumps(metadata, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    classes = [
        {"id": pk, "label": label, "code_cs": cover_of.get(pk, "")}
        for pk, label in ModelClass.objects.order_by("id").values_list("id", "label")
    ]
    (out_dir / "classes.json").write_text(
        json.dumps(classes, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    summary = {
        "departement": dep.code,
        "rank": vintage.rank,
        "millesime": vintage.millesime,
        "revision": vintage.revision,
        "patches": len(metadata),
        "patch_px": patch,
        "resolution_m": res,
        "label_pixels": counts,
        "only_corrected": only_corrected,
        "licence": LICENCE,
        "licence_url": LICENCE_URL,
    }
    (out_dir / "README.txt").write_text(_readme(summary), encoding="utf-8")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _readme(s: dict) -> str:
    return (
        f"OCS GE {s['departement']} {s['rank']} {s['millesime']} (revision {s['revision']}): "
        f"training set in FLAIR-1's layout\n\n"
        f"{s['patches']} patches of {s['patch_px']} x {s['patch_px']} px "
        f"at {s['resolution_m']} m.\n"
        "aerial/.../img/IMG_*.tif: R, G, B, NIR, elevation (float32).\n"
        "labels/.../msk/MSK_*.tif: the model's classes (classes.json; 0 = no label).\n"
        "metadata.json: per patch, where it lies and where its labels come from "
        "(model, correction, signalement, delivery).\n\n"
        f"Licence: {s['licence']} — {s['licence_url']}\n"
    )


def zip_training_set(directory: Path, out_zip: Path) -> Path:
    """The training set as one archive (the TIFFs are compressed already: stored)."""
    directory, out_zip = Path(directory), Path(out_zip)
    part = out_zip.with_suffix(".part")
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as z:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(directory).as_posix())
    part.replace(out_zip)
    return out_zip
