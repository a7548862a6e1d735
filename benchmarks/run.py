"""`make bench`: benchmarks of our code against the best tool for the same work, in the same
run, written to docs/benchmarks.md (results also kept in docs/benchmarks.json).

    python -m benchmarks.run [--only io] [--size-km 96] [--resolution 3.33]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ocsge_web.settings")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB, Python {platform.python_version()}"


def timed(cmd: list[str], env=None, output: list | None = None) -> float:
    """Wall time of a command; its standard output appended to `output` when given."""
    start = time.perf_counter()
    stdout = subprocess.PIPE if output is not None else subprocess.DEVNULL
    done = subprocess.run(cmd, check=True, cwd=ROOT, env=env, text=True, stdout=stdout)
    if output is not None:
        output.append(done.stdout)
    return time.perf_counter() - start


def ogr2ogr_to_postgis(dsn: str, src, table: str, layer: str | None = None) -> list[str]:
    """The best tool's command for the same work: `src` (one layer) into a new PostGIS
    table with COPY and a GiST index."""
    return [
        "ogr2ogr",
        "-f",
        "PostgreSQL",
        f"PG:{dsn}",
        str(src),
        *([layer] if layer else []),
        "-nln",
        table,
        "-nlt",
        "MULTIPOLYGON",
        "-lco",
        "SPATIAL_INDEX=GIST",
        "-lco",
        "GEOMETRY_NAME=geom",
        "-overwrite",
        "--config",
        "PG_USE_COPY",
        "YES",
    ]


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    return done.stdout.strip()


def pg_dsn() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    parts = [
        f"dbname={db['NAME']}",
        f"host={db.get('HOST') or '127.0.0.1'}",
        f"port={db.get('PORT') or 5432}",
        f"user={db.get('USER') or 'postgres'}",
    ]
    if db.get("PASSWORD"):
        parts.append(f"password={db['PASSWORD']}")
    if options := db.get("OPTIONS", {}).get("options"):
        # The bare statements run with the server settings the platform's own connections
        # have (no JIT: ocsge_web/settings.py).
        parts.append(f"options='{options}'")
    return " ".join(parts)


def bench_io(args) -> dict:
    """Import and export of a ≥ 1 M-polygon GeoPackage: ours vs ogr2ogr."""
    import django

    django.setup()
    from django.db import connection

    from apps.landcover.models import Vintage

    data = ROOT / "var" / "data" / f"bench{args.code}"
    src = data / "ocsge_M1.gpkg"
    py = sys.executable
    if not src.exists():
        print(f"generating the benchmark département in {data} …", flush=True)
        gen = timed(
            [
                py,
                "manage.py",
                "generate_departement",
                "--code",
                args.code,
                "--size-km",
                str(args.size_km),
                "--seed",
                "5",
                "--resolution",
                str(args.resolution),
                str(data),
            ]
        )
    else:
        gen = None
    # The generator's own record (written with the files): how long generation took.
    record = data / "generation.json"
    generation = json.loads(record.read_text()) if record.exists() else {}
    subprocess.run(
        [py, "manage.py", "load_territories", str(data / "territoires.gpkg")],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    import pyogrio

    n = pyogrio.read_info(src, layer="OCCUPATION_SOL")["features"]
    size_mb = src.stat().st_size / 2**20
    print(f"{n} polygons, {size_mb:.0f} MB", flush=True)
    import re
    import statistics

    import psycopg
    from django.db import transaction

    from apps.landcover.gpkg import _delete_vintage

    ogr_table = "bench_ogr_import"

    def ours_import_once() -> tuple[float, re.Match | None]:
        # Like ogr2ogr's new table, ours imports into an empty slot: the previous run's
        # vintage is deleted first (untimed), and its dead rows vacuumed as autovacuum would
        # (it is off on some machines: then every run imports into a more bloated table).
        with transaction.atomic():
            for old in Vintage.objects.filter(departement__code=args.code, rank="M1"):
                _delete_vintage(old)
        with psycopg.connect(pg_dsn(), autocommit=True) as pg:
            pg.execute("VACUUM landcover_landcoverpolygon")
        said: list[str] = []
        seconds = timed(
            [
                py,
                "manage.py",
                "import_ocsge",
                str(src),
                "--departement",
                args.code,
                "--rank",
                "M1",
                "--replace",
                "--no-difference",
                "--no-indicators",
            ],
            output=said,
        )
        print(f"import (ours): {seconds:.1f} s", flush=True)
        return seconds, re.search(r"streamed in ([\d.]+) s, indexes built in ([\d.]+) s", said[0])

    def ogr_import_once() -> float:
        seconds = timed(
            ogr2ogr_to_postgis(pg_dsn(), src, ogr_table, "OCCUPATION_SOL"),
            env={**os.environ, "PG_USE_COPY": "YES"},
        )
        print(f"import (ogr2ogr): {seconds:.1f} s", flush=True)
        with connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {ogr_table}")
        return seconds

    # Runs alternate (ogr2ogr, ours, ogr2ogr, ours, …) and medians are compared: on a shared
    # virtual machine one run of either can be 10 % off.
    ogr_runs, ours_runs, splits = [], [], []
    for _ in range(args.repeat):
        ogr_runs.append(ogr_import_once())
        seconds, split = ours_import_once()
        ours_runs.append(seconds)
        splits.append(split)
    ours_import = statistics.median(ours_runs)
    ogr_import = statistics.median(ogr_runs)
    split = splits[ours_runs.index(sorted(ours_runs)[len(ours_runs) // 2])]
    vintage = Vintage.objects.get(departement__code=args.code, rank="M1")
    out = data / "export_ours.gpkg"
    ogr_out = data / "export_ogr.gpkg"
    sql = (
        "SELECT ocsge_id AS id, code_cs, code_us, millesime, source, ossature, id_origine, "
        f"code_or, geom FROM landcover_landcoverpolygon WHERE vintage_id = {vintage.id}"
    )
    ours_exports, ogr_exports = [], []
    for _ in range(args.repeat):
        ogr_out.unlink(missing_ok=True)
        ogr_exports.append(
            timed(
                [
                    "ogr2ogr",
                    "-f",
                    "GPKG",
                    str(ogr_out),
                    f"PG:{pg_dsn()}",
                    "-sql",
                    sql,
                    "-nln",
                    "OCCUPATION_SOL",
                    "-nlt",
                    "MULTIPOLYGON",
                ]
            )
        )
        print(f"export (ogr2ogr): {ogr_exports[-1]:.1f} s", flush=True)
        ours_exports.append(
            timed(
                [
                    py,
                    "manage.py",
                    "export_ocsge",
                    str(out),
                    "--departement",
                    args.code,
                    "--rank",
                    "M1",
                ]
            )
        )
        print(f"export (ours): {ours_exports[-1]:.1f} s", flush=True)
    ours_export = statistics.median(ours_exports)
    ogr_export = statistics.median(ogr_exports)
    return {
        "stages": _import_stages(src, bytes(vintage.departement.geom.wkb)),
        "polygons": n,
        "file_mb": round(size_mb, 1),
        "generate_s": gen,
        "generation": generation,
        "import_ours_s": round(ours_import, 2),
        "import_ogr_s": round(ogr_import, 2),
        "import_ratio": round(ogr_import / ours_import, 3),
        "import_streamed_s": float(split.group(1)) if split else None,
        "import_indexed_s": float(split.group(2)) if split else None,
        "export_ours_s": round(ours_export, 2),
        "export_ogr_s": round(ogr_export, 2),
        "export_ratio": round(ogr_export / ours_export, 3),
        "runs": {
            "import_ours_s": [round(v, 1) for v in ours_runs],
            "import_ogr_s": [round(v, 1) for v in ogr_runs],
            "export_ours_s": [round(v, 1) for v in ours_exports],
            "export_ogr_s": [round(v, 1) for v in ogr_exports],
        },
    }


def _import_stages(src: Path, outline=None, sample: int = 100_000) -> dict:
    """CPU seconds per 100k polygons of each client stage of our import (one thread), with
    the plain GEOS/PROJ way of doing the same beside the stages that replace it."""
    import numpy as np
    import pyogrio
    import shapely
    from pyproj import Transformer

    from apps.landcover.gpkg import _ewkb
    from ocsge import ewkb, validity
    from ocsge.outline import InnerCells
    from ocsge.projection import LambertToWebMercator

    meta, table = pyogrio.read_arrow(src, layer="OCCUPATION_SOL", max_features=sample)
    column = table.column(meta["geometry_name"])
    wkb = column.to_numpy(zero_copy_only=False)
    out = {"sample": len(wkb)}

    def timed_cpu(name, fn):
        t = time.process_time()
        result = fn()
        out[name] = time.process_time() - t
        return result

    geoms = timed_cpu("parse WKB (GEOS)", lambda: shapely.from_wkb(wkb))
    timed_cpu("validity: GEOS IsValid", lambda: shapely.is_valid(geoms))
    timed_cpu("validity: ours (many-holed polygons split in two)", lambda: validity.is_valid(geoms))
    tr = Transformer.from_crs(2154, 3857, always_xy=True)
    timed_cpu(
        "EPSG:3857 copy: PROJ + GEOS EWKB",
        lambda: _ewkb(
            shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1]))),
            3857,
        ),
    )

    def ours_3857():
        buf = ewkb.multipolygons(column)
        return ewkb.reprojected(buf, *ewkb.rings(buf), LambertToWebMercator())

    timed_cpu("EPSG:3857 copy: ours (WKB rewritten, Chebyshev fit)", ours_3857)
    if outline is not None:
        outline = shapely.from_wkb(outline).buffer(1.0)
        prepared = shapely.from_wkb(shapely.to_wkb(outline))
        shapely.prepare(prepared)
        timed_cpu(
            "inside the département: prepared covers", lambda: shapely.covers(prepared, geoms)
        )
        cells = timed_cpu(
            "inside the département: ours, grid (once per file)", lambda: InnerCells(outline)
        )

        def ours_inside():
            inner = cells.covers_boxes(shapely.bounds(geoms))
            return shapely.covers(prepared, geoms[~inner])

        timed_cpu("inside the département: ours (grid, then covers)", ours_inside)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def _generation_line(g: dict) -> list[str]:
    """How the benchmark file was generated, from the generator's record."""
    if not g:
        return []
    polygons = sum(g["polygons"].values())
    return [
        f"Generating it (`generate_departement --size-km {g['size_km']:g} --resolution "
        f"{g['resolution_m']:g}`: M1 and M2, {polygons:,} polygons, {g['communes']} communes, "
        f"{g['tiles']} tiles in {g['processes']} processes) took **{g['seconds'] / 60:.1f} min** "
        f"({polygons / g['seconds']:,.0f} polygons/s).",
        "",
    ]


def render_io(r: dict) -> str:
    lines = [
        "## GeoPackage import and export (issue: foundation)",
        "",
        f"File: generated département, layer OCCUPATION_SOL, **{r['polygons']:,} polygons**, "
        f"{r['file_mb']} MB"
        + (f" (generated in {r['generate_s']:.0f} s)" if r.get("generate_s") else "")
        + ".",
        "",
        *_generation_line(r.get("generation") or {}),
        "| work | ours | ogr2ogr | ours (polygons/s) | ogr2ogr (polygons/s) | throughput ratio "
        "ours/ogr2ogr |",
        "|---|---|---|---|---|---|",
        f"| import (validation, EPSG:3857 copy, areas, GiST indexes) vs `ogr2ogr -f PostgreSQL` "
        f"(PG_USE_COPY=YES, GiST index) | {r['import_ours_s']} s | {r['import_ogr_s']} s | "
        f"{r['polygons'] / r['import_ours_s']:,.0f} | {r['polygons'] / r['import_ogr_s']:,.0f} | "
        f"**{r['import_ratio']}** (target ≥ 0.7) |",
        *(
            [
                f"| of which: rows read, checked, encoded and streamed by COPY | "
                f"{r['import_streamed_s']} s | | | | |",
                f"| of which: the partition attached, its 4 indexes built (2 GiST, primary key, "
                f"unique ids) | {r['import_indexed_s']} s | | | | |",
            ]
            if r.get("import_indexed_s") is not None
            else []
        ),
        f"| export to GPKG vs `ogr2ogr -f GPKG` from PostGIS | {r['export_ours_s']} s | "
        f"{r['export_ogr_s']} s | {r['polygons'] / r['export_ours_s']:,.0f} | "
        f"{r['polygons'] / r['export_ogr_s']:,.0f} | **{r['export_ratio']}** |",
        "",
        "Ours is `manage.py import_ocsge` / `export_ocsge` as a user runs them (process start "
        "included) into a new vintage (the previous run's deleted beforehand, untimed); "
        "ogr2ogr writes a new table and does no validation and no Web-Mercator copy. The "
        "polygon table is partitioned by vintage: our import COPYs into a bare table and "
        "PostgreSQL builds its indexes once, when it is attached as the vintage's partition.",
    ]
    if r.get("runs"):
        runs = r["runs"]
        lines += [
            "",
            "Each tool ran "
            f"{len(runs['import_ours_s'])} times, alternately (ogr2ogr first); the table shows "
            "the medians. All runs, in seconds: import ours "
            f"{runs['import_ours_s']}, ogr2ogr {runs['import_ogr_s']}; export ours "
            f"{runs['export_ours_s']}, ogr2ogr {runs['export_ogr_s']}.",
        ]
    if r.get("stages"):
        st = r["stages"]
        lines += [
            "",
            f"Where our import's client time goes (CPU seconds for the first {st['sample']:,} "
            "polygons, one thread; the import runs these in 2 worker threads while the main "
            "thread streams COPY):",
            "",
            "| stage | CPU s |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v} |" for k, v in st.items() if k != "sample"]
        ours = [k for k in st if k != "sample" and ("ours" in k or k.startswith("parse"))]
        lines += [
            "",
            "Validity, the Web-Mercator copy and the inside-the-département test are work "
            "ogr2ogr does not do. Each is done by our own code where the plain library call "
            "was the bottleneck (the rows in pairs above: same work, same sample): polygons "
            "with many holes are checked for validity as two polygons GEOS checks quickly "
            "(`ocsge/validity.py`), the Web-Mercator copy rewrites the coordinates "
            "inside the file's WKB through a Chebyshev fit of the projection checked against "
            "PROJ (`ewkb.py`, `projection.py`), and a grid of the cells wholly inside the "
            "outline spares GEOS the polygons far from the border. The rows are then encoded "
            "for COPY a batch at a time with numpy (`copybin.py`), and the geometries are "
            "compressed with lz4 rather than PostgreSQL's default pglz (which took half the "
            "server's COPY time). "
            "Our client stages add up to about "
            f"{sum(st[k] for k in ours) * r['polygons'] / st['sample']:.0f} CPU seconds for "
            "the whole file; the server parses two geometries per row.",
        ]
    return "\n".join(lines)


def _bench_tiles(args):
    from benchmarks.tiles import bench_tiles

    return bench_tiles(args, ROOT, pg_dsn())


def _render_tiles(r):
    from benchmarks.tiles import render_tiles

    return render_tiles(r)


def _bench_signalements(args):
    from benchmarks.signalements import bench_signalements

    return bench_signalements(args, ROOT, pg_dsn())


def _render_signalements(r):
    from benchmarks.signalements import render_signalements

    return render_signalements(r)


def _bench_artif(args):
    from benchmarks.artif import bench_artif

    return bench_artif(args, ROOT, pg_dsn())


def _render_artif(r):
    from benchmarks.artif import render_artif

    return render_artif(r)


def _bench_startup(args):
    from benchmarks.startup import bench_startup

    return bench_startup(args, ROOT)


def _render_startup(r):
    from benchmarks.startup import render_startup

    return render_startup(r)


def _bench_inference(args):
    from benchmarks.inference import bench_inference

    return bench_inference(args, ROOT)


def _render_inference(r):
    from benchmarks.inference import render_inference

    return render_inference(r)


def _bench_load(args):
    from benchmarks.load import bench_load

    return bench_load(args, ROOT, pg_dsn())


def _render_load(r):
    from benchmarks.load import render_load

    return render_load(r)


def _bench_hostile(args):
    from benchmarks.hostile import bench_hostile

    return bench_hostile(args)


def _render_hostile(r):
    from benchmarks.hostile import render_hostile

    return render_hostile(r)


def _bench_dalles(args):
    from benchmarks.dalles import bench_dalles

    return bench_dalles(args)


def _render_dalles(r):
    from benchmarks.dalles import render_dalles

    return render_dalles(r)


def _bench_newdep(args):
    from benchmarks.newdep import bench_newdep

    return bench_newdep(args, ROOT, pg_dsn(), timed)


def _render_newdep(r):
    from benchmarks.newdep import render_newdep

    return render_newdep(r)


def _bench_territories(args):
    from benchmarks.territories import bench_territories

    return bench_territories(args, ROOT, pg_dsn(), timed)


def _render_territories(r):
    from benchmarks.territories import render_territories

    return render_territories(r)


def _bench_finetune(args):
    from benchmarks.finetune import bench_finetune

    return bench_finetune(args, ROOT)


def _render_finetune(r):
    from benchmarks.finetune import render_finetune

    return render_finetune(r)


def _bench_coherence(args):
    from benchmarks.coherence import bench_coherence

    return bench_coherence(args)


def _render_coherence(r):
    from benchmarks.coherence import render_coherence

    return render_coherence(r)


BENCHES = {
    "coherence": (_bench_coherence, _render_coherence),
    "finetune": (_bench_finetune, _render_finetune),
    "territories": (_bench_territories, _render_territories),
    "newdep": (_bench_newdep, _render_newdep),
    "dalles": (_bench_dalles, _render_dalles),
    "hostile": (_bench_hostile, _render_hostile),
    "load": (_bench_load, _render_load),
    "artif": (_bench_artif, _render_artif),
    "inference": (_bench_inference, _render_inference),
    "startup": (_bench_startup, _render_startup),
    "io": (bench_io, render_io),
    "tiles": (_bench_tiles, _render_tiles),
    "signalements": (_bench_signalements, _render_signalements),
}


GPU_NODE_CORES = 16
DEPARTEMENT_GPX = 150


def render_gpu_plan(results: dict) -> str | None:
    """The plan for a département on one GPU node (H100, 16 cores), from the per-core rates
    measured by the `dalles` and `inference` benchmarks: where the CPU time goes, how to
    share the cores, and what the wall time becomes with each change."""
    d, i = results.get("dalles"), results.get("inference")
    if not d or not i:
        return None
    mpx = DEPARTEMENT_GPX * 1000
    per_mpx = {k: v / (i["pixels"] / 1e6) for k, v in i["stages_s"].items()}
    work = {  # core-seconds for the département
        "decode": 2 * mpx / d["megapixels_per_core_s"],  # the RGB and the IRC photos
        "read": per_mpx["read"] * mpx,  # windows cut and the 5 bands stacked
        "write_cog": per_mpx["write_cog"] * mpx,
        "vectorize": per_mpx["vectorize"] * mpx,
    }

    def minutes(w: dict) -> float:
        return sum(w.values()) / GPU_NODE_CORES / 60

    half = d.get("half_res_megapixels_per_core_s")
    vector_1m = {**work, "vectorize": work["vectorize"] / 25}
    scenarios = [
        ("as measured: every stage on the CPU at 20 cm", work),
        (
            "classes vectorised at 1 m (25× fewer pixels; the smallest unit is 200 m²), "
            "estimated from the pixel count",
            vector_1m,
        ),
        (
            "… and JPEG 2000 decoded on the GPU (nvJPEG2000): decoding leaves the CPU",
            {**vector_1m, "decode": 0.0},
        ),
    ]
    if half:
        scenarios.append(
            (
                "… or instead the photos read at 40 cm (JPEG 2000's level 1; a model "
                "trained at 40 cm), decoded on the CPU",
                {
                    "decode": 2 * mpx / half,
                    "read": work["read"] / 4,
                    "write_cog": work["write_cog"] / 4,
                    "vectorize": vector_1m["vectorize"],
                },
            )
        )
    share = {k: v / sum(work.values()) for k, v in work.items()}
    readers = max(1, round(GPU_NODE_CORES * (share["decode"] + share["read"])))
    lines = [
        "## The département on a GPU node: the plan",
        "",
        f"From the per-core rates above (dalles: commit {d.get('commit', '?')}; inference "
        f"stages: {i.get('commit') or 'commit not recorded'}), for {DEPARTEMENT_GPX} "
        f"gigapixels on one H100 with {GPU_NODE_CORES} cores. The model's share on the GPU "
        "(bf16, channels-last) is not measured here — `benchmarks/inference_gpu.sh` measures "
        "it on a lent GPU; the issue puts it under a minute: the CPU stages decide.",
        "",
        "| stage (CPU) | core-hours | share |",
        "|---|---|---|",
    ]
    labels = {
        "decode": "JPEG 2000 decode, RGB + IRC",
        "read": "windows cut, 5 bands stacked",
        "write_cog": "class and confidence COGs written",
        "vectorize": "classes vectorised",
    }
    for key, label in labels.items():
        lines.append(f"| {label} | {work[key] / 3600:.1f} | {share[key]:.0%} |")
    lines += [
        "",
        f"**Layout.** {readers} reader processes (decode and stack 2,048 px blocks, two "
        "blocks ahead each, in shared memory), one GPU process (the blocks cut into 512 px "
        "windows with 64 px margins, batches of 16, bf16; it never waits while the readers "
        f"keep ahead), {GPU_NODE_CORES - readers} vectoriser/writer processes taking the "
        "class blocks as they come (each block's polygons are cut at its edges and joined "
        "in the assembly, as today). All stages overlap: the wall time is the CPU work "
        f"divided by the {GPU_NODE_CORES} cores.",
        "",
        "| scenario | wall time |",
        "|---|---|",
    ]
    for label, w in scenarios:
        lines.append(f"| {label} | {minutes(w):.0f} min |")
    best = min(minutes(w) for _label, w in scenarios)
    lines += [
        "",
        "The goal (under 10 minutes) is out of reach with the photos decoded on the CPU at "
        "full resolution: decoding alone needs "
        f"{work['decode'] / GPU_NODE_CORES / 60:.0f} min of the node's {GPU_NODE_CORES} "
        f"cores. The best scenario above still takes {best:.0f} min: the windows' stacking "
        "and the COGs would have to move to the GPU as well (decoded tiles cut and stacked "
        "there), or the node have about "
        f"{GPU_NODE_CORES * best / 10:.0f} cores. None of these changes is built yet.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite docs/benchmarks.md from docs/benchmarks.json",
    )
    parser.add_argument("--code", default="96")
    parser.add_argument("--size-km", type=float, default=108)
    parser.add_argument("--resolution", type=float, default=2.5)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each tool, alternately, where a benchmark repeats (median kept)",
    )
    parser.add_argument("--tiles-per-zoom", type=int, default=40)
    parser.add_argument(
        "--spread",
        type=int,
        default=12,
        help="tiles: small départements spread over the map for the low zooms' sample (≤ 16)",
    )
    parser.add_argument("--requests", type=int, default=400, help="per API operation")
    parser.add_argument("--device", default="auto", help="inference: auto, cpu, cuda")
    parser.add_argument("--load-seconds", type=int, default=60, help="load: duration (s)")
    parser.add_argument(
        "--inference-px", type=int, default=2048, help="inference: side of the area (px)"
    )
    parser.add_argument("--coherence-departement", default="99", help="coherence: the demo's")
    parser.add_argument("--coherence-n", type=int, default=50, help="coherence: corrections")
    parser.add_argument("--finetune-steps", type=int, default=600, help="finetune: steps")
    parser.add_argument("--finetune-lr", type=float, default=5e-4, help="finetune: peak lr")
    parser.add_argument(
        "--finetune-train-steps", type=int, default=800, help="finetune: the confused model's"
    )
    args = parser.parse_args(argv)
    if not shutil.which("ogr2ogr"):
        sys.exit("ogr2ogr is needed (apt-get install gdal-bin, done by `make install`).")
    DOCS.mkdir(exist_ok=True)
    store = DOCS / "benchmarks.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    for name in [] if args.render_only else (args.only or sorted(BENCHES)):
        run, _render = BENCHES[name]
        results[name] = {
            "when": time.strftime("%Y-%m-%d"),
            "commit": commit(),
            "machine": machine(),
            **run(args),
        }
        store.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run`). Each "
        "benchmark runs our code and the best tool for the same work in the same run.",
        "",
    ]
    for name, (_run, render) in sorted(BENCHES.items()):
        if name in results:
            r = results[name]
            at = f"at commit {r['commit']}" if r.get("commit") else "(commit not recorded)"
            parts += [render(r), "", f"_Measured {r['when']} {at} on {r['machine']}._", ""]
    plan = render_gpu_plan(results)
    if plan:
        parts += [plan, ""]
    (DOCS / "benchmarks.md").write_text("\n".join(parts))
    print(f"wrote {DOCS / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
