"""Load test: 50 concurrent users for a fixed time against gunicorn + PostGIS on loopback,
mixing vector-tile reads, signalement lists and filings, as town planners browsing and
filing do. Afterwards the database is counted: every filing answered 201 must be there once,
and nothing else.

Each user is a thread with its own logged-in session (contributors of the département's
agency), picking at random: a tile at z14–16 inside the département (60 %), the list of the
organisation's open signalements (25 %), a filing on a random polygon (15 %).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

from benchmarks.signalements import BENCH_CODE, CSRF, _bench_departement
from benchmarks.signalements import _request as _signalements_request
from benchmarks.tiles import _percentile, _serve, _session_cookie

PORT = 8767
USERS = 50
MARK = "load-test"
HALF = 20037508.342789244


def _tiles(vintage_id: int, zooms=(14, 15, 16)) -> list[tuple[int, int, int]]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(geom_3857) e FROM landcover_landcoverpolygon "
            "WHERE vintage_id = %s) s",
            [vintage_id],
        )
        x0, y0, x1, y1 = cur.fetchone()
    out = []
    for z in zooms:
        n = 2**z

        def col(x, n=n):
            return int((x + HALF) / (2 * HALF) * n)

        def row(y, n=n):
            return int((HALF - y) / (2 * HALF) * n)

        out += [(z, x, y) for x in range(col(x0), col(x1) + 1) for y in range(row(y1), row(y0) + 1)]
    return out


def _request(method, path, cookie, body=None):
    """The signalements benchmark's request on our port; a refused connection is an error
    of the run (status 0), not a crash of the user's thread."""
    start = time.perf_counter()
    try:
        return _signalements_request(method, path, cookie, body, port=PORT)
    except OSError as exc:
        return time.perf_counter() - start, 0, str(exc).encode()


def bench_load(args, root: Path, dsn: str) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from apps.landcover.models import LandCoverPolygon
    from apps.signalements.models import Signalement
    from apps.territories.models import Membership, Role

    vintage, contributor, organisation, _operator = _bench_departement(root)
    Signalement.objects.filter(comment__startswith=MARK).delete()
    User = get_user_model()
    cookies = []
    for i in range(USERS):
        user, _ = User.objects.get_or_create(username=f"load_user_{i:02d}")
        Membership.objects.get_or_create(
            user=user, organisation=organisation, defaults={"role": Role.CONTRIBUTOR}
        )
        cookies.append(_session_cookie(user) + f"; csrftoken={CSRF}")
    polygons = list(
        LandCoverPolygon.objects.filter(vintage=vintage)
        .exclude(code_cs="CS2.1.1.1")
        .values_list("pk", flat=True)
    )
    tiles = _tiles(vintage.pk)
    duration = args.load_seconds
    listing = f"/api/signalements/?departement={BENCH_CODE}&open=true&page_size=50"
    times = defaultdict(list)
    errors = defaultdict(list)
    filed = []  # (token, id) of every 201
    lock = threading.Lock()
    server = _serve(root, PORT, workers=4, threads=8)
    deadline = None

    def user_loop(k: int):
        rng = random.Random(k)
        cookie = cookies[k]
        while time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.60:
                z, x, y = rng.choice(tiles)
                kind, result = (
                    "tile",
                    _request("GET", f"/tiles/{vintage.pk}/{z}/{x}/{y}.pbf", cookie),
                )
                ok = result[1] in (200, 204)
            elif pick < 0.85:
                kind, result = "list", _request("GET", listing, cookie)
                ok = result[1] == 200
            else:
                token = f"{MARK} {uuid.uuid4().hex}"
                body = {
                    "vintage": vintage.pk,
                    "polygon": rng.choice(polygons),
                    "code_cs_proposed": "CS2.1.1.1",
                    "code_us_proposed": "US1.2",
                    "comment": token,
                }
                kind, result = "filing", _request("POST", "/api/signalements/", cookie, body)
                ok = result[1] == 201
                if ok:
                    with lock:
                        filed.append((token, json.loads(result[2])["id"]))
            with lock:
                times[kind].append(result[0])
                if not ok:
                    errors[kind].append((result[1], result[2][:200].decode(errors="replace")))

    try:
        for cookie in cookies[:2]:  # warm-up: each worker imports and connects
            _request("GET", listing, cookie)
        deadline = time.monotonic() + duration
        started = time.perf_counter()
        threads = [threading.Thread(target=user_loop, args=(k,)) for k in range(USERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    stored = list(Signalement.objects.filter(comment__startswith=MARK).values_list("comment", "pk"))
    stored_tokens = [c for c, _ in stored]
    result = {
        "users": USERS,
        "seconds": round(elapsed, 1),
        "requests": sum(len(v) for v in times.values()),
        "endpoints": {
            kind: {
                "n": len(v),
                "p50_ms": round(_percentile(v, 50) * 1000, 1),
                "p95_ms": round(_percentile(v, 95) * 1000, 1),
                "max_ms": round(max(v) * 1000, 1),
                "errors": len(errors[kind]),
            }
            for kind, v in sorted(times.items())
        },
        "error_samples": {k: v[:3] for k, v in errors.items()},
        "filed_201": len(filed),
        "in_database": len(stored),
        "duplicated": len(stored_tokens) - len(set(stored_tokens)),
        "lost": len({t for t, _ in filed} - set(stored_tokens)),
        "unexpected": len(set(stored_tokens) - {t for t, _ in filed}),
    }
    print(json.dumps(result, indent=2), flush=True)
    Signalement.objects.filter(comment__startswith=MARK).delete()
    return result


def render_load(r: dict) -> str:
    rows = "\n".join(
        f"| {kind} | {e['n']} | {e['p50_ms']} ms | {e['p95_ms']} ms | {e['max_ms']} ms | "
        f"{e['errors']} |"
        for kind, e in r["endpoints"].items()
    )
    return "\n".join(
        [
            "## Load: 50 concurrent users (issue: hardening)",
            "",
            f"{r['users']} users for {r['seconds']} s on loopback against gunicorn (4 workers × "
            "8 threads) and PostGIS, each with its own logged-in session, picking at random: a "
            "vector tile at z14–16 inside the département (60 %), the list of open signalements "
            "(25 %), a filing (15 %). Département 95 (a copy of the demo, about 26,000 "
            f"polygons per vintage). No broker in this run: the impact estimate a filing "
            "starts runs inside the request (with Redis it goes to a worker). "
            f"{r['requests']} requests, "
            f"{r['requests'] / r['seconds']:.0f} per second.",
            "",
            "| endpoint | requests | p50 | p95 | max | errors |",
            "|---|---|---|---|---|---|",
            rows,
            "",
            f"Filings answered 201: **{r['filed_201']}**; counted in the database afterwards: "
            f"**{r['in_database']}** — lost {r['lost']}, duplicated {r['duplicated']}, "
            f"unexpected {r['unexpected']}.",
        ]
    )
