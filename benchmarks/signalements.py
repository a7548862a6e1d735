"""Signalement benchmark: create, filtered list and accept under 20 concurrent clients, and
a bulk accept of 1,000, with 100,000 signalements in the database.

Ours: the HTTP API on gunicorn (4 workers) with logged-in sessions, on loopback.
Baseline in the same run: the minimum SQL each operation must write or read, through
psycopg from 20 threads (no HTTP, no validation, no change-layer update).
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.tiles import _percentile, _serve, _session_cookie, server_env

CLIENTS = 20
BENCH_CODE = "95"
PORT = 8766
SEEDED = 100_000
MARK = "bench-signalement"
CSRF = "b" * 32  # a well-formed CSRF secret, sent as cookie and header


def _stats(times: list[float]) -> dict:
    return {
        "n": len(times),
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p95_ms": round(_percentile(times, 95) * 1000, 1),
    }


def _seed(vintage, author, organisation, n: int):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM signalements_signalementevent WHERE signalement_id IN "
            "(SELECT id FROM signalements_signalement WHERE comment = %s)",
            [MARK],
        )
        cur.execute("DELETE FROM signalements_signalement WHERE comment = %s", [MARK])
        cur.execute(
            """
            INSERT INTO signalements_signalement
              (kind, vintage_id, polygon_id, location, code_cs_current, code_us_current,
               code_cs_proposed, code_us_proposed, comment, author_id, organisation_id, status,
               decision_message, area, model_confidence, created_at, updated_at)
            SELECT 'contribution', p.vintage_id, p.id, ST_PointOnSurface(p.geom), p.code_cs,
                   p.code_us,
                   'CS2.1.1.1', 'US1.2', %(mark)s, %(author)s, %(org)s,
                   (ARRAY['submitted','submitted','submitted','in_review','awaiting_info',
                          'accepted','rejected_out_of_spec','withdrawn'])[1 + (g + p.id) %% 8],
                   '', p.area, p.confidence, now() - (g || ' minutes')::interval, now()
            FROM landcover_landcoverpolygon p
            CROSS JOIN generate_series(1, %(rounds)s) g
            WHERE p.vintage_id = %(vintage)s AND p.code_cs = 'CS2.2.1'
            LIMIT %(n)s
            """,
            {
                "mark": MARK,
                "author": author.pk,
                "org": organisation.pk,
                "vintage": vintage.pk,
                "n": n,
                "rounds": 1 + n // max(1, vintage.polygons.filter(code_cs="CS2.2.1").count()),
            },
        )
        cur.execute("ANALYZE signalements_signalement")


def _request(method, path, cookie, body=None, port=PORT):
    headers = {"Cookie": cookie, "Accept": "application/json", "X-CSRFToken": CSRF}
    if body is not None:
        headers["Content-Type"] = "application/json"
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, response.status, data


def _bench_departement(root: Path):
    """A fresh copy of the demo département's M1 and M2 as département 95, with its own users: the
    run never touches the demo (accepting changes polygons)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from apps.landcover.models import Vintage
    from apps.territories.models import Departement, Membership, Organisation, Role

    demo = root / "var" / "data" / "demo"
    if not (demo / "ocsge_M2.gpkg").exists():
        raise SystemExit("the demo département is needed first: make demo-data")
    Vintage.objects.filter(departement__code=BENCH_CODE).delete()
    for rank in ("M1", "M2"):  # M1 too: each accept then updates the change layer
        call_command(
            "import_ocsge",
            str(demo / f"ocsge_{rank}.gpkg"),
            departement=BENCH_CODE,
            rank=rank,
            name="Banc d'essai",
            no_derived=True,
        )
    departement = Departement.objects.get(code=BENCH_CODE)
    vintage = Vintage.objects.get(departement=departement, rank="M2")
    Vintage.objects.filter(pk=vintage.pk).update(feedback_open=True)
    vintage.refresh_from_db()
    User = get_user_model()
    orgs = {}
    for kind, name in [("agence_urbanisme", "Agence du banc d'essai"), ("ign", "IGN banc d'essai")]:
        orgs[kind], _ = Organisation.objects.get_or_create(name=name, defaults={"kind": kind})
        orgs[kind].departements.add(departement)
    users = {}
    for username, kind, role in [
        ("bench_contributor", "agence_urbanisme", Role.CONTRIBUTOR),
        ("bench_operator", "ign", Role.OPERATOR),
    ]:
        users[username], _ = User.objects.get_or_create(username=username)
        Membership.objects.get_or_create(
            user=users[username], organisation=orgs[kind], defaults={"role": role}
        )
    return vintage, users["bench_contributor"], orgs["agence_urbanisme"], users["bench_operator"]


BENCH_REDIS = "redis://127.0.0.1:6379/3"  # the run's own broker database, emptied first
WORKERS = 4  # gunicorn sync workers (2 cores: twice the cores, gunicorn's usual advice)


def _worker(root: Path):
    """One Celery worker (concurrency 1) on the default queue, as in production: the
    tasks a request queues (impact estimates, derived data after an accept) run there, not
    in the request."""
    import subprocess
    import sys

    celery = str(Path(sys.executable).parent / "celery")
    return subprocess.Popen(
        [celery, "-A", "ocsge_web", "worker", "-Q", "default", "-c", "1", "-l", "warning"],
        cwd=root,
        env=server_env(REDIS_URL=BENCH_REDIS),
    )


def _drain(timeout: float = 1800) -> float:
    """Seconds until the broker's default queue is empty and nothing is being worked on."""
    import redis

    r = redis.Redis.from_url(BENCH_REDIS)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if r.llen("default") == 0 and r.hlen("unacked") == 0:
            return time.perf_counter() - start
        time.sleep(0.2)
    raise RuntimeError("the worker did not drain the queue")


def _timed_all(fn, items, clients: int) -> tuple[list, float]:
    """Run `fn` over `items` from `clients` threads (1: one after the other); the answers
    and the wall time."""
    start = time.perf_counter()
    if clients == 1:
        out = [fn(item) for item in items]
    else:
        with ThreadPoolExecutor(clients) as pool:
            out = list(pool.map(fn, items))
    return out, time.perf_counter() - start


def bench_signalements(args, root: Path, dsn: str) -> dict:
    import django

    django.setup()
    import redis

    from apps.landcover.models import LandCoverPolygon
    from apps.signalements.models import Signalement

    n = args.requests
    vintage, contributor, organisation, operator = _bench_departement(root)
    print(f"seeding {SEEDED:,} signalements …", flush=True)
    t = time.perf_counter()
    _seed(vintage, contributor, organisation, SEEDED)
    seed_s = time.perf_counter() - t
    total = Signalement.objects.count()
    grass = list(
        LandCoverPolygon.objects.filter(vintage=vintage, code_cs="CS2.2.1")
        .order_by("?")
        .values_list("pk", flat=True)
    )
    # Filings on some polygons, accepts on others (an accepted polygon has the proposed
    # codes: a filing there would be refused as identical).
    to_create, to_accept_polys = grass[: 2 * n], grass[2 * n :]
    open_ids = {}
    for sid, pid in Signalement.objects.filter(
        comment=MARK, status="submitted", polygon_id__in=to_accept_polys
    ).values_list("pk", "polygon_id"):
        open_ids.setdefault(pid, sid)  # one per polygon: accepts do not collide
    accept_ids = list(open_ids.values())
    if len(to_create) < 2 * n or len(accept_ids) < 2 * n:
        raise SystemExit(f"not enough grass polygons for --requests {n}")
    bulk_ids = accept_ids[2 * n :][:1000]

    contributor_cookie = _session_cookie(contributor) + f"; csrftoken={CSRF}"
    operator_cookie = _session_cookie(operator) + f"; csrftoken={CSRF}"
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    server = _serve(root, PORT, workers=WORKERS, env=server_env(REDIS_URL=BENCH_REDIS))
    worker = _worker(root)
    api = "/api/signalements/"
    query = (
        f"{api}?departement={BENCH_CODE}&status=submitted&status=in_review"
        "&code_cs_proposed=CS2.1.1.1&ordering=priority"
    )

    def create(pk):
        body = {
            "vintage": vintage.pk,
            "polygon": pk,
            "code_cs_proposed": "CS2.1.1.1",
            "code_us_proposed": "US1.2",
            "comment": "bench",
        }
        return _request("POST", api, contributor_cookie, body)

    def listing(_):
        return _request("GET", query, operator_cookie)

    def accept(sid):
        return _request("POST", f"{api}{sid}/accept/", operator_cookie, {})

    results = {"single": {}, "concurrent": {}}
    try:
        for phase, clients, part in [("single", 1, 0), ("concurrent", CLIENTS, 1)]:
            for name, fn, items in [
                ("create", create, to_create[part * n : (part + 1) * n]),
                ("list", listing, range(n)),
                ("accept", accept, accept_ids[part * n : (part + 1) * n]),
            ]:
                out, wall = _timed_all(fn, items, clients)
                bad = [s for _, s, _ in out if s >= 300]
                assert not bad, f"{name}: {len(bad)} failed, e.g. {bad[:3]}"
                results[phase][name] = {
                    **_stats([e for e, _, _ in out]),
                    "per_s": round(len(out) / wall, 1),
                }
                print(f"{phase} {name}: {results[phase][name]}", flush=True)
        drain_s = _drain()
        elapsed, _status, body = _request(
            "POST", f"{api}bulk/", operator_cookie, {"ids": bulk_ids, "action": "accept"}
        )
        done = json.loads(body)["done"]
        bulk_drain_s = _drain()
        results["bulk_accept"] = {
            "n": len(bulk_ids),
            "done": done,
            "s": round(elapsed, 2),
            "derived_s": round(bulk_drain_s, 1),
        }
        print(f"bulk accept: {results['bulk_accept']}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        worker.terminate()
        worker.wait(timeout=60)

    # Baseline: the bare SQL of the same operations through psycopg, alone then 20 threads.
    bare = _bare_sql(dsn, vintage, contributor, organisation, operator, n, to_create)
    for phase in ("single", "concurrent"):
        for name in ("create", "list", "accept"):
            results[phase][name]["bare"] = bare[phase][name]
    return {
        "signalements": total,
        "seed_s": round(seed_s, 1),
        "clients": CLIENTS,
        "workers": WORKERS,
        "drain_s": round(drain_s, 1),
        "ops": results,
    }


def _bare_sql(dsn, vintage, contributor, organisation, operator, n, polygons) -> dict:
    import threading

    import psycopg

    local = threading.local()

    def conn():
        if not hasattr(local, "c"):
            local.c = psycopg.connect(dsn, autocommit=False)
        return local.c

    def create(pid):
        c = conn()
        t = time.perf_counter()
        with c.transaction():
            sid = c.execute(
                "INSERT INTO signalements_signalement (kind, vintage_id, polygon_id, location, "
                "code_cs_current, code_us_current, code_cs_proposed, code_us_proposed, comment, "
                "author_id, organisation_id, status, decision_message, area, created_at, "
                "updated_at) SELECT 'contribution', vintage_id, id, ST_PointOnSurface(geom), "
                "code_cs, code_us, "
                "'CS2.1.1.1', 'US1.2', %s, %s, %s, 'submitted', '', area, now(), now() "
                "FROM landcover_landcoverpolygon WHERE id = %s RETURNING id",
                [MARK, contributor.pk, organisation.pk, pid],
            ).fetchone()[0]
            c.execute(
                "INSERT INTO signalements_signalementevent (signalement_id, actor_id, action, "
                "from_status, to_status, message, created_at) "
                "VALUES (%s, %s, 'file', '', 'submitted', '', now())",
                [sid, contributor.pk],
            )
        return time.perf_counter() - t, sid

    def listing(_):
        c = conn()
        t = time.perf_counter()
        with c.transaction():
            c.execute(
                "SELECT s.*, ST_AsGeoJSON(ST_Transform(s.location, 4326)) FROM "
                "signalements_signalement s JOIN landcover_vintage v ON v.id = s.vintage_id "
                "WHERE v.departement_id = %s AND s.status IN ('submitted', 'in_review') "
                "AND s.code_cs_proposed = 'CS2.1.1.1' "
                "ORDER BY coalesce(s.model_confidence, 1) * 1e9 - s.area / 1e3 "
                "- count(*) OVER (PARTITION BY s.polygon_id) * 1e6, s.id DESC LIMIT 50",
                [vintage.departement_id],
            ).fetchall()
        return time.perf_counter() - t, None

    def accept(sid):
        c = conn()
        t = time.perf_counter()
        with c.transaction():
            row = c.execute(
                "SELECT polygon_id, status FROM signalements_signalement WHERE id = %s FOR UPDATE",
                [sid],
            ).fetchone()
            pid = row[0]
            c.execute(
                "INSERT INTO landcover_polygonrevision (polygon_id, revision, code_cs_before, "
                "code_us_before, code_cs_after, code_us_after, geom_before, geom_after, "
                "author_id, cause, comment, created_at) SELECT id, revision + 1, code_cs, "
                "code_us, 'CS2.1.1.1', 'US1.2', geom, geom, %s, 'signalement', '', now() "
                "FROM landcover_landcoverpolygon WHERE id = %s FOR UPDATE",
                [operator.pk, pid],
            )
            c.execute(
                "UPDATE landcover_landcoverpolygon SET code_cs = 'CS2.1.1.1', code_us = 'US1.2',"
                " revision = revision + 1 WHERE id = %s",
                [pid],
            )
            c.execute(
                "UPDATE signalements_signalement SET status = 'accepted', decided_by_id = %s, "
                "decided_at = now() WHERE id = %s",
                [operator.pk, sid],
            )
            c.execute(
                "INSERT INTO signalements_signalementevent (signalement_id, actor_id, action, "
                "from_status, to_status, message, created_at) "
                "VALUES (%s, %s, 'accept', %s, 'accepted', '', now())",
                [sid, operator.pk, row[1]],
            )
        return time.perf_counter() - t, None

    out = {}
    for phase, clients, part in [("single", 1, 0), ("concurrent", CLIENTS, 1)]:
        out[phase] = {}
        created, wall = _timed_all(create, polygons[part * n : (part + 1) * n], clients)
        out[phase]["create"] = {**_stats([e for e, _ in created]), "per_s": len(created) / wall}
        listed, wall = _timed_all(listing, range(n), clients)
        out[phase]["list"] = {**_stats([e for e, _ in listed]), "per_s": len(listed) / wall}
        accepted, wall = _timed_all(accept, [sid for _, sid in created], clients)
        out[phase]["accept"] = {**_stats([e for e, _ in accepted]), "per_s": len(accepted) / wall}
        for o in out[phase].values():
            o["per_s"] = round(o["per_s"], 1)
    return out


def render_signalements(r: dict) -> str:
    if "single" not in r["ops"]:
        return "## Signalements API\n\nMeasured by an earlier version of the benchmark."
    lines = [
        "## Signalements API",
        "",
        "Département 95: a copy of the demo département (`make "
        "demo-data`: 16 km, seed 42; about 26,000 polygons per vintage), "
        f"**{r['signalements']:,} signalements** in the database (100,000 seeded by one "
        f"INSERT … SELECT in {r['seed_s']} s, plus those the run files). Server: gunicorn, "
        f"{r['workers']} sync workers, `DEBUG=false`, logged-in sessions, loopback HTTP; the "
        "tasks a request queues (impact estimate after a filing, change layer and "
        "indicators after an accept) go to Redis and run in **one Celery worker** on the "
        "same 2 cores — never eagerly inside the request — "
        f"and it finished them {r['drain_s']} s after the last request. Bare SQL: the "
        "minimum statements of the same operation through psycopg (no HTTP, no validation, "
        "no derived data).",
        "",
        "**One client** (requests one after the other): latency.",
        "",
        "| operation | requests | ours p50 | ours p95 | bare p50 | bare p95 | p95 ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = [
        ("create", "create (`POST /api/signalements/`)"),
        ("list", "list, 2 statuses + proposed CS, priority order, page of 50"),
        ("accept", "accept (`POST …/{id}/accept/`)"),
    ]
    for name, label in labels:
        o = r["ops"]["single"][name]
        b = o["bare"]
        ratio = o["p95_ms"] / b["p95_ms"] if b["p95_ms"] else float("nan")
        lines.append(
            f"| {label} | {o['n']} | {o['p50_ms']} ms | {o['p95_ms']} ms | "
            f"{b['p50_ms']} ms | {b['p95_ms']} ms | {ratio:.1f}× |"
        )
    lines += [
        "",
        f"**{r['clients']} clients at once**: throughput (the latencies then measure the "
        f"queue in front of {r['workers']} workers on 2 cores).",
        "",
        "| operation | requests | ours | bare SQL (20 connections) | ratio | ours p50 |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in labels:
        o = r["ops"]["concurrent"][name]
        b = o["bare"]
        lines.append(
            f"| {label} | {o['n']} | {o['per_s']} req/s | {b['per_s']} req/s | "
            f"{o['per_s'] / b['per_s']:.2f} | {o['p50_ms']} ms |"
        )
    b = r["ops"]["bulk_accept"]
    lines += [
        "",
        f"Bulk accept of {b['n']:,} signalements in one request: **{b['s']} s** "
        f"({b['done']} accepted); the worker then updated the derived data in "
        f"{b['derived_s']} s.",
    ]
    return "\n".join(lines)
