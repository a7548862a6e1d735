"""The first import of a new département (issue 19, item 5): its outline is built from its
polygons. A tessellation of 300,000 simple polygons (hexagons, 6 vertices, OCS GE fields)
imported into a département the database does not know yet — ours (`import_ocsge`, process
start included) against `ogr2ogr` (PG_USE_COPY, GiST index) loading the same file, in the
same run, alternating, medians compared."""

from __future__ import annotations

import os
import statistics
import sys

import numpy as np

CODE = "0H"  # a code no real département has
N_SIDE = 548  # 548 × 548 ≈ 300,000 hexagons


def _hexagons(path):
    import pyogrio
    import shapely

    # Every vertex from an integer lattice (half a hexagon's width across, half its radius
    # up), so the six around a point are the same numbers: a true tessellation, as an OCS GE
    # delivery is. Vertices computed from each centre differ in their last bits, leave
    # slivers between neighbours and make the union a lace of 900,000 vertices.
    r = 20.0  # circumradius (m): 1,039 m² each
    rows, cols = np.divmod(np.arange(N_SIDE * N_SIDE), N_SIDE)
    x_index = 2 * cols + rows % 2
    y_index = 3 * rows
    dx = np.array([1, 0, -1, -1, 0, 1, 1])
    dy = np.array([1, 2, 1, -1, -2, -1, 1])
    x = 700_000 + (x_index[:, None] + dx) * (np.sqrt(3) * r / 2)
    y = 6_600_000 + (y_index[:, None] + dy) * (r / 2)
    rings = np.stack([x, y], axis=-1)
    geoms = shapely.polygons(rings)
    n = len(geoms)
    cs = np.where(np.arange(n) % 7 == 0, "CS1.1.1.1", "CS2.2.1").astype(object)
    us = np.where(np.arange(n) % 7 == 0, "US5", "US1.1").astype(object)
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(geoms),
        [
            np.array([f"OCSGE{i + 1:016d}" for i in range(n)], dtype=object),
            cs,
            us,
            np.full(n, 2021, dtype=np.int32),
        ],
        ["id", "code_cs", "code_us", "millesime"],
        layer="OCCUPATION_SOL",
        driver="GPKG",
        geometry_type="MultiPolygon",
        promote_to_multi=True,
        crs="EPSG:2154",
    )
    return n


def bench_newdep(args, root, dsn, timed) -> dict:
    import django

    from benchmarks.run import commit, ogr2ogr_to_postgis

    django.setup()
    from django.db import connection, transaction

    from apps.landcover.gpkg import _delete_vintage
    from apps.landcover.models import Vintage
    from apps.territories.models import Departement

    src = root / "var" / "data" / "bench_hexagons_300k_v2.gpkg"
    if not src.exists():
        src.parent.mkdir(parents=True, exist_ok=True)
        _hexagons(src)
    import pyogrio

    n = pyogrio.read_info(src, layer="OCCUPATION_SOL")["features"]

    def forget():
        with transaction.atomic():
            for vintage in Vintage.objects.filter(departement__code=CODE):
                _delete_vintage(vintage)
            Departement.objects.filter(code=CODE).delete()
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_ogr_newdep")

    def ours():
        forget()
        cmd = [sys.executable, "manage.py", "import_ocsge", str(src), "--departement", CODE]
        cmd += ["--rank", "M1", "--name", "Nouveau", "--no-derived"]
        return timed(cmd)

    def ogr():
        forget()
        return timed(
            ogr2ogr_to_postgis(dsn, src, "bench_ogr_newdep", "OCCUPATION_SOL"),
            env={**os.environ, "PG_USE_COPY": "YES"},
        )

    ogr_runs, ours_runs = [], []
    for _ in range(args.repeat):
        ogr_runs.append(ogr())
        ours_runs.append(ours())
        print(f"new département: ogr2ogr {ogr_runs[-1]:.1f} s, ours {ours_runs[-1]:.1f} s")
    outline = Departement.objects.get(code=CODE).geom
    outline_area = outline.area
    forget()
    ogr_s, ours_s = statistics.median(ogr_runs), statistics.median(ours_runs)
    return {
        "polygons": n,
        "ogr2ogr_s": round(ogr_s, 2),
        "ours_s": round(ours_s, 2),
        "throughput_ratio": round(ogr_s / ours_s, 2),
        "ogr2ogr_runs": [round(t, 2) for t in ogr_runs],
        "ours_runs": [round(t, 2) for t in ours_runs],
        "outline_km2": round(outline_area / 1e6, 3),
        "commit": commit(),
    }


def render_newdep(r) -> str:
    return "\n".join(
        [
            "## First import of a new département (its outline built from its polygons)",
            "",
            f"{r['polygons']:,} hexagons (6 vertices, OCS GE fields) into a département the "
            f"database did not know (commit {r['commit']}); medians of alternating runs. The "
            "hexagons tile the plane as a delivery's polygons do: neighbours share their "
            "vertices exactly (the same numbers, from one lattice).",
            "",
            "| tool | seconds | throughput vs ogr2ogr |",
            "|---|---|---|",
            f"| ogr2ogr (PG_USE_COPY, GiST index) | {r['ogr2ogr_s']} | 1.00 |",
            f"| ours: `import_ocsge`, outline included | {r['ours_s']} | "
            f"{r['throughput_ratio']} (target ≥ 0.7) |",
            "",
            *(
                [
                    "Each run, in seconds: ogr2ogr "
                    + ", ".join(map(str, r["ogr2ogr_runs"]))
                    + "; ours "
                    + ", ".join(map(str, r["ours_runs"]))
                    + ".",
                    "",
                ]
                if "ours_runs" in r
                else []
            ),
            f"The outline ({r['outline_km2']} km²) is the union of each batch's polygons, built "
            "while they stream (GEOS's coverage union), then of the batches' unions. Ours also "
            "checks every row (codes, identifiers, validity), writes the Web Mercator copy, "
            "builds four indexes (two GiST; two at a time, the rows committed beside by a "
            "second connection: `partitions.BulkLoad`) and the statistics; process start-up "
            "included.",
        ]
    )
