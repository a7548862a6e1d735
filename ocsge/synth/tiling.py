"""`generate()`: the whole département. One drawn at once, or — wider than TILE_KM — as
tiles drawn and vectorised in parallel processes, whose polygons are joined across the
seams; then both vintages and the territories written."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from ocsge.crs import official_epsg
from ocsge.nomenclature import valid_pairs
from ocsge.vectorize import coverage_union, merge_by_pixels

from .canvas import check_inside_crs, origin, tile_coverage
from .communes import write_territories
from .landscape import draw_landscape
from .product import vectorize, write_vintage

TILE_KM = 12.0


def _within(zones: np.ndarray, outline) -> np.ndarray:
    """Built-up zones cut to the département: they are drawn around every building, also
    those the outline then leaves out. Only polygons are kept (a cut may leave lines)."""
    if len(zones) == 0:
        return zones
    shapely.prepare(outline)
    crossing = ~shapely.contains(outline, zones)
    zones = zones.copy()
    zones[crossing] = shapely.intersection(zones[crossing], outline)
    parts = shapely.get_parts(zones)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 1.0)]
    return parts


def _finish_vintage(
    results, k, rank, millesime, prefix, path, zones, ign_artif=False, epsg=2154
) -> int:
    """Join one vintage's tiles across their seams and write its GeoPackage; returns the
    number of polygons."""
    geoms = shapely.from_wkb(np.concatenate([r[rank][0] for r in results]))
    values = np.concatenate([r[rank][1] for r in results])
    if k > 1:
        left, right = _facing_across_seams([r[rank] for r in results], k)
        geoms, values, _ = merge_by_pixels(geoms, values, left, right)
    cs, us = write_vintage(path, geoms, values, millesime, prefix, list(zones), ign_artif, epsg)
    pairs = valid_pairs()
    bad = {p for p in zip(cs, us, strict=True) if p not in pairs}
    assert not bad, f"generator produced invalid pairs {bad}"
    return len(values)


def _draw_and_vectorize(args):
    """One tile: draw it and vectorise M1 and M2 (run in a worker process)."""
    code, tile_km, seed, res, offset_px, global_px, outline_seed, shift_m = args
    n = int(round(tile_km * 1000 / res))
    if tile_coverage(offset_px, n, global_px) == "none":
        nothing = np.full(n, -1, dtype=np.int64)
        sides = dict.fromkeys(("top", "bottom", "left", "right"), nothing)
        empty = (shapely.to_wkb(np.empty(0, dtype=object)), np.empty(0, np.int32), sides)
        return {
            "settlements": [],
            "zones": empty[0],
            "M1": empty,
            "M2": empty,
            "outline": shapely.to_wkb(shapely.Polygon()),
        }
    land = draw_landscape(
        code,
        tile_km,
        seed,
        res,
        log=lambda *_: None,
        offset_px=offset_px,
        global_px=global_px,
        outline_seed=outline_seed,
        shift_m=shift_m,
    )
    result = {
        "settlements": land.settlements,
        "zones": shapely.to_wkb(np.array(land.built_up_geoms, dtype=object)),
    }
    for rank, raster in (("M1", land.m1), ("M2", land.m2)):
        geoms, values, borders = vectorize(raster, land.built_up, land.res, land.transform)
        result[rank] = (shapely.to_wkb(geoms), values, borders)
    result["outline"] = shapely.to_wkb(coverage_union(shapely.from_wkb(result["M1"][0])))
    return result


def _facing_across_seams(tiles, k):
    """Polygon indices (into the tiles' concatenated polygons) of the pixel pairs that face
    each other across the seams of a k × k grid of tiles (row-major)."""
    offsets = np.cumsum([0] + [len(t[1]) for t in tiles])

    def side(t, name):
        index = tiles[t][2][name]
        return np.where(index >= 0, index + offsets[t], -1)

    left, right = [], []
    for t, (ty, tx) in enumerate(np.ndindex(k, k)):
        if tx + 1 < k:
            left.append(side(t, "right"))
            right.append(side(t + 1, "left"))
        if ty + 1 < k:
            left.append(side(t, "bottom"))
            right.append(side(t + k, "top"))
    return np.concatenate(left), np.concatenate(right)


def generate(
    outdir: Path,
    code: str = "99",
    size_km: float = 6,
    seed: int = 1,
    res: float = 2.5,
    name: str | None = None,
    millesimes=(2021, 2024),
    log: Callable[[str], None] = print,
    tile_km: float = TILE_KM,
    workers: int | None = None,
    ign_artif: bool = False,
    shift_km: tuple[float, float] = (0.0, 0.0),
) -> dict:
    """Write ocsge_M1.gpkg, ocsge_M2.gpkg and territoires.gpkg into `outdir` (with
    `ign_artif`, the vintages carry IGN-style `artif`/`crit_seuil` fields).

    A département wider than `tile_km` is drawn as tiles in parallel processes, whose
    polygons are joined across the seams. `shift_km` (east, north) moves it from the usual
    place: the benchmarks spread several départements over the map.
    """
    epsg = official_epsg(code)  # a DROM département is drawn in its own projection
    shift_m = (float(shift_km[0]) * 1000, float(shift_km[1]) * 1000)
    check_inside_crs(epsg, origin(epsg, shift_m), size_km)  # before anything is written
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    k = max(1, math.ceil(size_km / tile_km - 1e-9))
    tile_px = int(round(size_km / k * 1000 / res))
    global_px = tile_px * k
    jobs = [
        (
            code,
            tile_px * res / 1000,
            seed * 1000 + t,
            res,
            (tx * tile_px, ty * tile_px),
            global_px,
            seed,
            shift_m,
        )
        for t, (ty, tx) in enumerate(np.ndindex(k, k))
    ]
    if k == 1:
        results = [_draw_and_vectorize(jobs[0])]
    else:
        import multiprocessing as mp

        log(f"  {k}×{k} tiles of {tile_px * res / 1000:.1f} km")
        with mp.get_context("fork").Pool(workers or min(len(jobs), os.cpu_count() or 1)) as pool:
            results = []
            for i, r in enumerate(pool.imap(_draw_and_vectorize, jobs), start=1):
                results.append(r)
                log(f"  tile {i}/{len(jobs)}")
    dept_geom = shapely.union_all(shapely.from_wkb([r["outline"] for r in results]))
    zones = shapely.from_wkb(np.concatenate([r["zones"] for r in results]))
    if k > 1 and len(zones):
        merged = shapely.union_all(zones)
        zones = np.array(getattr(merged, "geoms", [merged]), dtype=object)
    zones = _within(zones, dept_geom)
    settlements = [s for r in results for s in r["settlements"]]
    vintages = [
        (rank, millesime, prefix, outdir / f"ocsge_{rank}.gpkg", zones, ign_artif, epsg)
        for rank, millesime, prefix in (("M1", millesimes[0], 1), ("M2", millesimes[1], 2))
    ]
    processes = []
    if k > 1 and (workers or os.cpu_count() or 1) > 1:
        # Both vintages at once, in forked processes that share the tiles' results; the
        # communes are drawn here meanwhile.
        import multiprocessing as mp

        fork = mp.get_context("fork")
        processes = [fork.Process(target=_finish_vintage, args=(results, k, *v)) for v in vintages]
        for process in processes:
            process.start()
        counts = {}
    else:
        counts = {v[0]: _finish_vintage(results, k, *v) for v in vintages}
    n_communes = write_territories(
        outdir / "territoires.gpkg",
        code,
        name or f"Département de démonstration {code}",
        dept_geom,
        settlements,
        seed,
    )
    for process in processes:
        process.join()
    failed = [v[0] for v, p in zip(vintages, processes, strict=False) if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"joining and writing {', '.join(failed)} failed (see above)")
    for rank, _, _, path, *_ in vintages:
        if rank not in counts:
            counts[rank] = pyogrio.read_info(path, layer="OCCUPATION_SOL")["features"]
        log(f"  {rank}: {counts[rank]} polygons")
    elapsed = time.perf_counter() - t0
    log(f"  {n_communes} communes; done in {elapsed:.1f} s")
    summary = {
        "polygons": counts,
        "communes": n_communes,
        "seconds": elapsed,
        "area_m2": dept_geom.area,
    }
    # What was generated, how, and how long it took (the benchmarks report it).
    (outdir / "generation.json").write_text(
        json.dumps(
            {
                **summary,
                "size_km": size_km,
                "resolution_m": res,
                "seed": seed,
                "shift_km": list(shift_km),
                "tiles": k * k,
                "processes": workers or min(k * k, os.cpu_count() or 1),
            }
        )
    )
    return summary
