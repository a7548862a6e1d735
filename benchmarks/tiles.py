"""Tile benchmark: our HTTP endpoint (gunicorn) against a plain `ST_AsMVT` statement.

The anchor (`PLAIN`) is what any tile server would run: the stored Web-Mercator geometry
clipped to the tile, with the attributes the map needs (id, CS, US) and none of the
platform's additions (no generalisation, no signalement counts). Our own statements are
timed too: up to z11 the first, uncached render of a revision (a worker's), while the
endpoint serves the cached tile; from z12 to z16 the first render of a tile (its polygons
and the ids they read, then the open signalements' layer) and the read of the kept tile,
while the endpoint is timed both on its first render (the kept tile deleted before) and on
reads of the kept tile.

Fixed random tile set: for each zoom, the tiles under polygons drawn by
`TABLESAMPLE SYSTEM … REPEATABLE (seed)` (so tiles are where the data is, weighted by
polygon density, as users browse). Each tile is rendered once to warm the caches, then
timed through HTTP, our statement and the plain one in turns.
"""

from __future__ import annotations

import gzip
import http.client
import io
import os
import statistics
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path

ZOOMS = (8, 9, 10, 11, 12, 14, 16)
PORT = 8765
PLAIN_PORT = 8768
REPEATS = 5  # 3 left the z14 p95 ratio moving by ±0.15 from run to run
PLAIN = """
    SELECT ST_AsMVT(t, 'polygons', 4096, 'geom', 'id') FROM (
        SELECT id, code_cs, code_us,
               ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true)
               AS geom
        FROM landcover_landcoverpolygon
        WHERE vintage_id = %(vintage)s
          AND geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 64.0 / 4096)
    ) t
"""


def _percentile(values, q):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


def _ids(tile: bytes) -> list:
    """Feature ids and codes of a tile (the order of features may differ run to run)."""
    import mapbox_vector_tile

    if not tile:
        return []
    layer = mapbox_vector_tile.decode(tile).get("polygons", {"features": []})
    return sorted((f.get("id") or 0, f["properties"]["code_cs"]) for f in layer["features"])


def _session_cookie(user=None) -> str:
    """A session cookie for `user` (default: a bench superuser), so endpoints run their
    scoping as for a logged-in user."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )

    if user is None:
        user, _ = get_user_model().objects.get_or_create(
            username="bench", defaults={"is_superuser": True, "is_staff": True}
        )
    # The engine the server runs (its session table).
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "apps.accounts.backends.MemberBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _vintage_tiles(vintage_id: int, per_zoom: int, seed: int) -> dict[int, list[tuple]]:
    """Per zoom, up to `per_zoom` distinct tiles (vintage, x, y) under sampled polygons."""
    from django.db import connection

    from apps.landcover.tiles import lonlat_to_tile

    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) c "
            "FROM landcover_landcoverpolygon TABLESAMPLE SYSTEM (1) REPEATABLE (%s) "
            "WHERE vintage_id = %s LIMIT %s) s",
            [seed, vintage_id, per_zoom * 4],
        )
        points = cur.fetchall()
    out = {}
    for z in ZOOMS:
        seen = []
        for lon, lat in points:
            tile = (vintage_id, *lonlat_to_tile(lon, lat, z))
            if tile not in seen:
                seen.append(tile)
            if len(seen) == per_zoom:
                break
        out[z] = seen
    return out


# Small départements spread over the map (km east, north of the usual corner), so that the
# low zooms, where a département holds a handful of tiles, have tiles enough to time: each
# 10 km across, in z8 tiles of their own (a z8 tile is about 108 km wide at these latitudes).
SPREAD_KM = [(east, north) for north in (-150, 150, 300, 450) for east in (-300, -150, 150, 300)]
SPREAD_SIZE_KM = 10
SPREAD_FIRST_CODE = 70


def _spread(root: Path, n: int) -> list[str]:
    """Generate (once) and load `n` small départements spread over the map (codes 70, 71,
    …; M1 and M2 each): their tiles join the low zooms' sample. Returns their codes."""
    from django.core.management import call_command

    from apps.landcover.models import Vintage

    codes = []
    for i, shift in enumerate(SPREAD_KM[:n]):
        code = str(SPREAD_FIRST_CODE + i)
        codes.append(code)
        if Vintage.objects.filter(departement__code=code).count() == 2:
            continue
        data = root / "var" / "data" / f"spread{code}"
        if not (data / "ocsge_M2.gpkg").exists():
            print(f"generating département {code} at {shift} km …", flush=True)
            call_command(
                "generate_departement",
                str(data),
                code=code,
                size_km=SPREAD_SIZE_KM,
                seed=100 + i,
                shift_km=shift,
                stdout=io.StringIO(),
            )
        call_command("load_territories", str(data / "territoires.gpkg"), stdout=io.StringIO())
        for rank in ("M1", "M2"):
            call_command(
                "import_ocsge",
                str(data / f"ocsge_{rank}.gpkg"),
                departement=code,
                rank=rank,
                replace=True,
                no_derived=True,
                stdout=io.StringIO(),
            )
    return codes


def _tile_set(vintage_id: int, per_zoom: int, seed: int) -> dict[int, list[tuple]]:
    """The tiles timed, (vintage, x, y) per zoom: up to z11, where a département holds a
    handful of tiles, those of every vintage in the database (each vintage's tile is a render
    of its own), taken in turns until `per_zoom`; from z12 the vintage's own, completed in
    the same way where it has fewer (the demo's 8 tiles at z12)."""
    from apps.landcover.models import Vintage
    from apps.landcover.tiles import CACHE_MAX_ZOOM

    own = _vintage_tiles(vintage_id, per_zoom, seed)
    others = [
        _vintage_tiles(pk, per_zoom, seed)
        for pk in Vintage.objects.exclude(pk=vintage_id).order_by("pk").values_list("pk", flat=True)
    ]
    for z in ZOOMS:
        if z > CACHE_MAX_ZOOM and len(own[z]) >= per_zoom:
            continue
        queues = [own[z], *(o[z] for o in others)]
        taken = []
        for at in range(per_zoom):
            taken += [q[at] for q in queues if at < len(q)]
        own[z] = taken[:per_zoom]
    return own


def server_env(**extra) -> dict:
    """The environment of the processes a benchmark starts (server, worker)."""
    from django.conf import settings

    # Same key as this process: the session cookie made here must verify there.
    # Plain HTTP on loopback (no TLS proxy in front), and rate limits out of the way: the
    # benchmarks measure throughput, the limits are tested in tests/test_security.py.
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "SECURE_SSL_REDIRECT": "false",
        "API_RATE_USER": "100000000/hour",
        "FILING_RATE": "100000000/hour",
        **extra,
    }


def _serve(
    root: Path,
    port: int = PORT,
    workers: int = 2,
    threads: int = 1,
    env=None,
    app: str = "ocsge_web.wsgi",
):
    """gunicorn serving the app (`env`: `server_env()` unless given)."""
    env = env or server_env()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            app,
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "600",
            *(["-k", "gthread", "--threads", str(threads)] if threads > 1 else []),
        ],
        cwd=root,
        env=env,
    )
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def bench_tiles(args, root: Path, dsn: str) -> dict:
    import django

    django.setup()
    import psycopg

    from apps.landcover import tiles
    from apps.landcover.contributions import tile_layers
    from apps.landcover.models import Vintage

    spread = _spread(root, args.spread)
    vintage = Vintage.objects.get(departement__code=args.code, rank="M1")
    # The bare statements with every contributed layer, as the département's staff see it.
    everything = tile_layers(None, vintage.departement_id)
    tile_set = _tile_set(vintage.pk, args.tiles_per_zoom, seed=42)
    cookie = _session_cookie()
    server = _serve(root)
    # The plain statement served by a bare WSGI application on the same gunicorn: what
    # HTTP costs any tile server here.
    plain_server = _serve(
        root,
        port=PLAIN_PORT,
        env=server_env(PLAIN_TILES_DSN=dsn),
        app="benchmarks.plain_tile_server:app",
    )
    results = {}
    try:
        with psycopg.connect(dsn, autocommit=True) as pg:

            def bare(vid, z, x, y):
                """(seconds, tile) of our first render: up to z11 what a worker builds (no
                contributed layer); above, the polygons with the ids they read, then the
                contributed layers for those ids (the endpoint keeps the first as well)."""
                above = z > tiles.CACHE_MAX_ZOOM
                sql, params = tiles.vintage_tile_query(vid, z, x, y, read=above)
                start = time.perf_counter()
                row = pg.cursor(binary=True).execute(sql, params).fetchone()
                parts = [row[0]]
                if above and row[0]:
                    sql, params = tiles.kept_tile_query(vid, z, x, y, everything, row[1])
                    parts += pg.cursor(binary=True).execute(sql, params).fetchone()[1:]
                elapsed = time.perf_counter() - start
                return elapsed, b"".join(bytes(part) for part in parts if part)

            def kept(vid, z, x, y):
                """Seconds of our statement reading a kept tile with its layers."""
                sql, params = tiles.kept_tile_query(vid, z, x, y, everything)
                start = time.perf_counter()
                row = pg.cursor(binary=True).execute(sql, params).fetchone()
                assert row[0] is not None, "the tile is not kept"
                return time.perf_counter() - start

            def forget(vid, z, x, y):
                pg.execute(
                    "DELETE FROM landcover_tilecache "
                    "WHERE vintage_id = %s AND z = %s AND x = %s AND y = %s",
                    [vid, z, x, y],
                )

            def plain(vid, z, x, y):
                params = {"vintage": vid, "z": z, "x": x, "y": y}
                start = time.perf_counter()
                # Read in binary, as our endpoint reads its tiles (the best way: no hex).
                pg.cursor(binary=True).execute(PLAIN, params).fetchone()
                return time.perf_counter() - start

            def request(port, path, etag=None):
                """(seconds, response, body) of one GET on a new connection."""
                headers = {"Cookie": cookie, "Accept-Encoding": "gzip"}
                if etag:
                    headers["If-None-Match"] = etag
                start = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - start
                conn.close()
                return elapsed, response, body

            def http_get(vid, z, x, y, port=PORT):
                """(seconds, body, MVT, ETag) of a tile."""
                elapsed, response, body = request(port, f"/tiles/{vid}/{z}/{x}/{y}.pbf")
                assert response.status in (200, 204), response.status
                if response.getheader("Content-Encoding") == "gzip":
                    served = gzip.decompress(body)
                else:
                    served = body
                return elapsed, body, served, response.getheader("ETag")

            for z in ZOOMS:
                rows = {
                    "http": [], "sql": [], "plain": [], "plain_http": [], "raw": [], "gzip": [],
                    "revalidated": [], "no_tile": [], "http_first": [], "sql_kept": [],
                }  # fmt: skip
                # Above the cached zooms, what answering costs without building a tile: our
                # endpoint revalidating it (304: Django, the session and the vintage's scope
                # read) and the bare application answering a path it has no tile for (404).
                fixed = z > tiles.CACHE_MAX_ZOOM
                # Up to z16 the endpoint keeps each tile it builds: its first render (the
                # kept tile deleted before) and its reads of the kept tile, timed apart.
                first = fixed and z <= tiles.DETAIL_CACHE_MAX_ZOOM
                for vid, x, y in tile_set[z]:
                    bare(vid, z, x, y)  # warm-up
                    plain(vid, z, x, y)
                    http_get(vid, z, x, y)
                    http_get(vid, z, x, y, PLAIN_PORT)
                    # Each tile timed REPEATS times through each path, in turns; its median
                    # counts (scheduling noise on 2 shared cores would swamp a single shot).
                    t_http, t_sql, t_plain, t_plain_http = [], [], [], []
                    t_revalidated, t_no_tile, t_first, t_kept = [], [], [], []
                    for _ in range(REPEATS):
                        if first:
                            forget(vid, z, x, y)
                            t_first.append(http_get(vid, z, x, y)[0])
                            t_kept.append(kept(vid, z, x, y))
                        elapsed, body, served, etag = http_get(vid, z, x, y)
                        t_http.append(elapsed)
                        elapsed, raw = bare(vid, z, x, y)
                        t_sql.append(elapsed)
                        t_plain.append(plain(vid, z, x, y))
                        t_plain_http.append(http_get(vid, z, x, y, PLAIN_PORT)[0])
                        if fixed:
                            elapsed, response, _ = request(
                                PORT, f"/tiles/{vid}/{z}/{x}/{y}.pbf", etag
                            )
                            assert response.status == 304, response.status
                            t_revalidated.append(elapsed)
                            elapsed, response, _ = request(PLAIN_PORT, "/none")
                            assert response.status == 404, response.status
                            t_no_tile.append(elapsed)
                    assert _ids(served) == _ids(raw), "the endpoint and our statement disagree"
                    rows["http"].append(statistics.median(t_http))
                    rows["sql"].append(statistics.median(t_sql))
                    rows["plain"].append(statistics.median(t_plain))
                    rows["plain_http"].append(statistics.median(t_plain_http))
                    if fixed:
                        rows["revalidated"].append(statistics.median(t_revalidated))
                        rows["no_tile"].append(statistics.median(t_no_tile))
                    if first:
                        rows["http_first"].append(statistics.median(t_first))
                        rows["sql_kept"].append(statistics.median(t_kept))
                    rows["raw"].append(len(raw))
                    rows["gzip"].append(len(body))
                results[str(z)] = {
                    "tiles": len(tile_set[z]),
                    "vintages": len({vid for vid, _, _ in tile_set[z]}),
                    "http_p50_ms": round(statistics.median(rows["http"]) * 1000, 1),
                    "http_p95_ms": round(_percentile(rows["http"], 95) * 1000, 1),
                    "sql_p50_ms": round(statistics.median(rows["sql"]) * 1000, 1),
                    "sql_p95_ms": round(_percentile(rows["sql"], 95) * 1000, 1),
                    "plain_p50_ms": round(statistics.median(rows["plain"]) * 1000, 1),
                    "plain_p95_ms": round(_percentile(rows["plain"], 95) * 1000, 1),
                    "plain_http_p50_ms": round(statistics.median(rows["plain_http"]) * 1000, 1),
                    "plain_http_p95_ms": round(_percentile(rows["plain_http"], 95) * 1000, 1),
                    **(
                        {
                            "http_first_p50_ms": round(
                                statistics.median(rows["http_first"]) * 1000, 1
                            ),
                            "http_first_p95_ms": round(
                                _percentile(rows["http_first"], 95) * 1000, 1
                            ),
                            "sql_kept_p50_ms": round(statistics.median(rows["sql_kept"]) * 1000, 2),
                            "sql_kept_p95_ms": round(_percentile(rows["sql_kept"], 95) * 1000, 2),
                        }
                        if first
                        else {}
                    ),
                    **(
                        {
                            "revalidated_p50_ms": round(
                                statistics.median(rows["revalidated"]) * 1000, 2
                            ),
                            "no_tile_p50_ms": round(statistics.median(rows["no_tile"]) * 1000, 2),
                        }
                        if fixed
                        else {}
                    ),
                    "raw_kb_p50": round(statistics.median(rows["raw"]) / 1024, 1),
                    "raw_kb_max": round(max(rows["raw"]) / 1024, 1),
                    "gzip_kb_max": round(max(rows["gzip"]) / 1024, 1),
                }
                r = results[str(z)]
                print(
                    f"z{z}: http p50 {r['http_p50_ms']} p95 {r['http_p95_ms']} ms, "
                    f"sql p50 {r['sql_p50_ms']} p95 {r['sql_p95_ms']} ms, "
                    f"max {r['raw_kb_max']} KB",
                    flush=True,
                )
    finally:
        for proc in (server, plain_server):
            proc.terminate()
            proc.wait(timeout=30)
    z14 = results["14"]
    from apps.signalements.models import Signalement
    from apps.signalements.transitions import OPEN

    return {
        "departement": args.code,
        "polygons": vintage.polygon_count,
        # What the tiles' signalement lookup searches (the signalements benchmark leaves
        # 100,000 in another département when it ran before).
        "signalements": Signalement.objects.count(),
        "open_here": Signalement.objects.filter(vintage=vintage, status__in=OPEN).count(),
        "zooms": results,
        "spread": {"departements": len(spread), "size_km": SPREAD_SIZE_KM},
        "vintages_in_database": Vintage.objects.count(),
        "repeats": REPEATS,
        "z14_p95_ratio": round(z14["http_p95_ms"] / z14["plain_p95_ms"], 3),
        "z14_first_p95_ratio": round(z14["http_first_p95_ms"] / z14["plain_p95_ms"], 3),
        "z14_sql_p95_ratio": round(z14["sql_p95_ms"] / z14["plain_p95_ms"], 3),
        "z14_served_p95_ratio": round(z14["http_p95_ms"] / z14["plain_http_p95_ms"], 3),
        "max_tile_kb": max(r["raw_kb_max"] for r in results.values()),
    }


def render_tiles(r: dict) -> str:
    if "departement" not in r:
        return _render_tiles_before_the_plain_anchor(r)
    lines = [
        "## Vector tiles",
        "",
        f"Vintage M1 of département {r['departement']}, **{r['polygons']:,} polygons**"
        + (
            f"; {r['signalements']:,} signalements in the database, {r['open_here']:,} of "
            "them open on this vintage"
            if "signalements" in r
            else ""
        )
        + ". Per "
        "zoom, a fixed random set of tiles under sampled polygons; each tile timed, in turns, "
        "through our endpoint (`GET /tiles/<vintage>/<z>/<x>/<y>.pbf` on gunicorn, 2 "
        "workers, logged-in session, scoping and ETag included, gzip), our own statement "
        "with psycopg (tiles read in binary, as the endpoint reads them, on both statements), "
        "and the **plain anchor**: `ST_AsMVT` of the stored Web-Mercator "
        "geometry with id, CS and US, nothing else (no generalisation, no signalements); "
        f"each tile's time is the median of {r.get('repeats', 3)} runs through each path. "
        "Up to z11 the endpoint "
        "serves the tile a worker built ahead (cached reads); our statement's time there is "
        "the first, uncached render of a revision (no contributed layer, as a worker "
        "builds it). "
        + (
            "From z12 to z16 the endpoint keeps each tile's polygons once built, shared by "
            "every viewer, and adds the viewer's layer of open signalements on each request: "
            "*ours (HTTP)* is a read of the kept tile, *first render (HTTP)* the same request "
            "with the kept tile deleted before (built, kept, then the signalements' layer), "
            "*our statements* the first render's two statements (the polygons with the ids "
            "they read, the signalements' layer for those ids) and *kept read* the one "
            "statement answering a kept tile. "
            if "z14_first_p95_ratio" in r
            else ""
        )
        + "The plain statement is also **served over HTTP** by a bare WSGI "
        "application on the same gunicorn (`benchmarks/plain_tile_server.py`, no Django, the "
        "same gzip): what HTTP costs any tile server here. Up to z11, where a département "
        "holds a handful of tiles, and at z12 where the département has fewer tiles than "
        "asked, the tiles of every vintage in the database are sampled in turns (column "
        "*vintages*)"
        + (
            f"; besides the département's, {r['spread']['departements']} départements of "
            f"{r['spread']['size_km']} km spread over the map (`generate_departement "
            "--shift-km`, the benchmark's `--spread`) give them tiles enough "
            f"({r['vintages_in_database']} vintages in the database)."
            if r.get("spread", {}).get("departements")
            else "."
        ),
        "",
        "| zoom | tiles | vintages | ours (HTTP) p50 | ours p95 | "
        "first render (HTTP) p50 | first render p95 | "
        "our statements p95 (uncached) | kept read p95 | "
        "plain ST_AsMVT p50 | plain p95 | plain served (HTTP) p50 | plain served p95 | "
        "ours / plain p95 | first render / plain p95 | MVT p50 | MVT max | gzip max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for z, row in r["zooms"].items():
        served = (
            f"{row['plain_http_p50_ms']} ms | {row['plain_http_p95_ms']} ms"
            if "plain_http_p50_ms" in row
            else "– | –"
        )
        plain_p95 = max(row["plain_p95_ms"], 0.001)
        if "http_first_p50_ms" in row:
            first = (
                f"{row['http_first_p50_ms']} ms | {row['http_first_p95_ms']} ms",
                f"{row['sql_kept_p95_ms']} ms",
                f"{row['http_first_p95_ms'] / plain_p95:.2f}",
            )
        else:
            first = ("– | –", "–", "–")
        lines.append(
            f"| {z} | {row['tiles']} | {row.get('vintages', 1)} | "
            f"{row['http_p50_ms']} ms | {row['http_p95_ms']} ms | {first[0]} | "
            f"{row['sql_p95_ms']} ms | {first[1]} | "
            f"{row['plain_p50_ms']} ms | {row['plain_p95_ms']} ms | "
            f"{served} | {row['http_p95_ms'] / plain_p95:.2f} | {first[2]} | "
            f"{row['raw_kb_p50']} KB | {row['raw_kb_max']} KB | {row['gzip_kb_max']} KB |"
        )
    lines += [
        "",
        f"z14 p95 ratio ours/plain: **{r['z14_p95_ratio']}** through HTTP (target ≤ 1.1)"
        + (
            f" reading the kept tile, **{r['z14_first_p95_ratio']}** for its first render "
            "through HTTP"
            if "z14_first_p95_ratio" in r
            else ""
        )
        + (
            f", **{r['z14_sql_p95_ratio']}** for our first render's statements alone (the "
            "same work as the plain one plus the model's columns, the ids of the polygons "
            "read and the open signalements of those polygons, grouped once)"
            if "z14_sql_p95_ratio" in r
            else ""
        )
        + (
            f"; **{r['z14_served_p95_ratio']}** against the plain statement served over "
            "HTTP by the bare application"
            if "z14_served_p95_ratio" in r
            else ""
        )
        + f"; largest tile **{r['max_tile_kb']} KB** (target < 500 KB).",
    ]
    if "z14_sql_p95_ratio" in r:
        lines += [
            "",
            "What HTTP adds at z ≥ 12: a new HTTP connection per "
            "tile here, "
            + (
                "the session read with its user, their rights and organisations (one "
                "statement: whose signalements they see needs no other), the vintage's scope "
                "and revision (one), gzip by ISA-L (0.1 ms for a 60 KB tile)."
                if "z14_served_p95_ratio" in r
                else "the session (one statement), its user with their rights and "
                "organisations (one: whose signalements they see needs no other), the "
                "vintage's scope and revision (one), gzip at level 1 (about 1 ms for a 60 KB "
                "tile)."
            ),
        ]
    fixed = {z: row for z, row in r["zooms"].items() if "revalidated_p50_ms" in row}
    if fixed:
        lines += [
            "",
            "Answering without building a tile, p50 per zoom: our endpoint revalidating a "
            "tile (304: Django, the session and the vintage's scope read) / the bare "
            "application answering a path it has no tile for (404, no statement): "
            + ", ".join(
                f"z{z} {row['revalidated_p50_ms']} / {row['no_tile_p50_ms']} ms"
                for z, row in fixed.items()
            )
            + ". The difference is what our endpoint adds to any tile server whatever the "
            "tile; the rest of the gap is our statement's.",
        ]
    return "\n".join(lines)


def _render_tiles_before_the_plain_anchor(r: dict) -> str:
    """A result of the earlier benchmark, whose anchor was our own statement: shown as
    such until it is measured again."""
    lines = [
        "## Vector tiles",
        "",
        f"**Earlier benchmark, to measure again**: {r['polygons']:,} polygons; its anchor "
        "was our own tile statement run bare (the ratio measured HTTP only), not a plain "
        "`ST_AsMVT`.",
        "",
        "| zoom | tiles | ours p50 | ours p95 | our statement p50 | our statement p95 |",
        "|---|---|---|---|---|---|",
    ]
    for z, row in r["zooms"].items():
        lines.append(
            f"| {z} | {row['tiles']} | {row['http_p50_ms']} ms | {row['http_p95_ms']} ms | "
            f"{row['sql_p50_ms']} ms | {row['sql_p95_ms']} ms |"
        )
    return "\n".join(lines)
