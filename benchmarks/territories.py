"""Loading France entière from ADMIN EXPRESS (issue 19, item 2; target < 1 min): a
synthetic edition of the real size — 18 régions, 101 départements, about 1,250 EPCI and
35,000 communes (Voronoi cells of a 950 km square, about 250 vertices a département
outline) — written as ADMIN EXPRESS's Shapefiles, loaded by ours (`load_territories`,
process start included: régions, départements, EPCI, communes and their memberships)
against `ogr2ogr` loading the same four Shapefiles into PostGIS (PG_USE_COPY, GiST index),
in the same run."""

from __future__ import annotations

import os
import statistics
import sys

import numpy as np

COMMUNES = 35_000
DEPARTEMENTS = 101
REGIONS = 18
EPCI = 1_250
SIDE_M = 950_000.0
LAYERS = ("REGION", "DEPARTEMENT", "EPCI", "COMMUNE")


def _write(folder, name, fields: dict, geoms):
    import pyogrio
    import shapely

    pyogrio.raw.write(
        str(folder / f"{name}.shp"),
        shapely.to_wkb(np.array([shapely.MultiPolygon(shapely.get_parts(g)) for g in geoms])),
        [np.asarray(v, dtype=object) for v in fields.values()],
        list(fields),
        layer=name,
        driver="ESRI Shapefile",
        geometry_type="MultiPolygon",
        crs="EPSG:2154",
        encoding="UTF-8",
    )


def _france(folder):
    import shapely

    rng = np.random.default_rng(35)
    x0, y0 = 100_000.0, 6_100_000.0
    points = rng.uniform(0, SIDE_M, (COMMUNES, 2)) + (x0, y0)
    frame = shapely.box(x0, y0, x0 + SIDE_M, y0 + SIDE_M)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=frame)
    )
    cells = shapely.intersection(cells, frame)
    centres = shapely.get_coordinates(shapely.centroid(cells))

    def groups(k, seed):
        """Départements and EPCI: coarser Voronoi groupings of the communes."""
        seeds = np.random.default_rng(seed).uniform(0, SIDE_M, (k, 2)) + (x0, y0)
        d = ((centres[:, None, :] - seeds[None, :, :]) ** 2).sum(-1)
        return d.argmin(1)

    dep_of = groups(DEPARTEMENTS, 1)
    epci_of = groups(EPCI, 2)
    region_of_dep = np.random.default_rng(3).integers(0, REGIONS, DEPARTEMENTS)
    # Codes no real territory has (the loaded rows are removed after the run).
    dep_codes = [f"{'XY'[i // 100]}{i % 100:02d}" for i in range(DEPARTEMENTS)]
    reg_codes = [f"R{i:02d}" for i in range(REGIONS)]
    dep_geoms = [shapely.coverage_union_all(cells[dep_of == d]) for d in range(DEPARTEMENTS)]
    reg_geoms = [
        shapely.union_all([dep_geoms[d] for d in range(DEPARTEMENTS) if region_of_dep[d] == r])
        for r in range(REGIONS)
    ]
    used = [r for r in range(REGIONS) if not reg_geoms[r].is_empty]
    epci_sirens = [f"9{i:08d}" for i in range(EPCI)]
    epci_geoms = [shapely.coverage_union_all(cells[epci_of == e]) for e in range(EPCI)]
    keep_epci = [e for e in range(EPCI) if not epci_geoms[e].is_empty]
    folder.mkdir(parents=True, exist_ok=True)
    _write(
        folder,
        "REGION",
        {"INSEE_REG": [reg_codes[r] for r in used], "NOM": [f"Région {r}" for r in used]},
        [reg_geoms[r] for r in used],
    )
    _write(
        folder,
        "DEPARTEMENT",
        {
            "INSEE_DEP": dep_codes,
            "INSEE_REG": [reg_codes[region_of_dep[d]] for d in range(DEPARTEMENTS)],
            "NOM": [f"Département {c}" for c in dep_codes],
        },
        dep_geoms,
    )
    _write(
        folder,
        "EPCI",
        {
            "CODE_SIREN": [epci_sirens[e] for e in keep_epci],
            "NOM": [f"Communauté de communes {e}" for e in keep_epci],
            "NATURE": ["Communauté de communes"] * len(keep_epci),
        },
        [epci_geoms[e] for e in keep_epci],
    )
    codes = [f"{chr(ord('A') + i // 10_000)}{i % 10_000:04d}" for i in range(len(cells))]
    _write(
        folder,
        "COMMUNE",
        {
            "INSEE_COM": codes,
            "INSEE_DEP": [dep_codes[d] for d in dep_of],
            "NOM": [f"Commune {i}" for i in range(len(cells))],
            "SIREN_EPCI": [epci_sirens[e] for e in epci_of],
        },
        list(cells),
    )


def bench_territories(args, root, dsn, timed) -> dict:
    from benchmarks.run import commit, ogr2ogr_to_postgis

    folder = root / "var" / "data" / "bench_admin_express_fra"
    if not (folder / "COMMUNE.shp").exists():
        print("writing a France-sized ADMIN EXPRESS …", flush=True)
        _france(folder)
    py = sys.executable

    def ours():
        return timed([py, "manage.py", "load_territories", str(folder)])

    def ogr():
        seconds = 0.0
        for layer in LAYERS:
            seconds += timed(
                ogr2ogr_to_postgis(dsn, folder / f"{layer}.shp", f"bench_ogr_{layer.lower()}"),
                env={**os.environ, "PG_USE_COPY": "YES"},
            )
        return seconds

    ours_runs, ogr_runs = [], []
    for _ in range(args.repeat):
        ogr_runs.append(ogr())
        ours_runs.append(ours())
        print(f"France entière: ogr2ogr {ogr_runs[-1]:.1f} s, ours {ours_runs[-1]:.1f} s")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as pg:
        for layer in LAYERS:
            pg.execute(f"DROP TABLE IF EXISTS bench_ogr_{layer.lower()}")
        communes = pg.execute(
            "SELECT count(*) FROM territories_commune c JOIN territories_departement d "
            "ON d.id = c.departement_id WHERE d.code LIKE 'X%%' OR d.code LIKE 'Y%%'"
        ).fetchone()[0]
        # Leave the database as it was: the synthetic territories go.
        pg.execute(
            "DELETE FROM territories_commune_epcis WHERE epci_id IN "
            "(SELECT id FROM territories_epci WHERE siren LIKE '9%%')"
        )
        pg.execute("DELETE FROM territories_epci WHERE siren LIKE '9%%'")
        synthetic = (
            "SELECT id FROM territories_departement WHERE code LIKE 'X%%' OR code LIKE 'Y%%'"
        )
        pg.execute(f"DELETE FROM territories_commune WHERE departement_id IN ({synthetic})")
        pg.execute(f"DELETE FROM territories_departement WHERE id IN ({synthetic})")
        pg.execute("DELETE FROM territories_region WHERE code LIKE 'R%%'")
    ours_s, ogr_s = statistics.median(ours_runs), statistics.median(ogr_runs)
    return {
        "communes": communes,
        "ours_s": round(ours_s, 1),
        "ogr2ogr_s": round(ogr_s, 1),
        "ratio": round(ours_s / ogr_s, 2),
        "commit": commit(),
    }


def render_territories(r) -> str:
    return "\n".join(
        [
            "## Loading France entière from ADMIN EXPRESS",
            "",
            f"A synthetic edition of the real size ({r['communes']:,} communes, 101 "
            "départements, 18 régions, about 1,250 EPCI) as Shapefiles "
            f"(commit {r['commit']}); medians.",
            "",
            "| tool | seconds | ratio |",
            "|---|---|---|",
            f"| ogr2ogr, the four layers (PG_USE_COPY, GiST index) | {r['ogr2ogr_s']} | 1.00 |",
            f"| ours: `load_territories` (upserts, EPCI memberships) | {r['ours_s']} | "
            f"{r['ratio']} (target < 60 s) |",
            "",
            "The synthetic communes are Voronoi cells of about 7 vertices; ADMIN EXPRESS "
            "communes have some hundreds: on the real edition both tools read and write more "
            "coordinates, ours also converts each geometry through GEOS (not measured here).",
        ]
    )
