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

from benchmarks.tiles import _percentile, _serve, _session_cookie

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
              (vintage_id, polygon_id, location, code_cs_current, code_us_current,
               code_cs_proposed, code_us_proposed, comment, author_id, organisation_id, status,
               decision_message, area, model_confidence, created_at, updated_at)
            SELECT p.vintage_id, p.id, ST_PointOnSurface(p.geom), p.code_cs, p.code_us,
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


def _parallel(fn, items):
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(fn, items))


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
            no_difference=True,
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


def bench_signalements(args, root: Path, dsn: str) -> dict:
    import django

    django.setup()
    from apps.landcover.models import LandCoverPolygon
    from apps.signalements.models import Signalement

    vintage, contributor, organisation, operator = _bench_departement(root)
    print(f"seeding {SEEDED:,} signalements …", flush=True)
    t = time.perf_counter()
    _seed(vintage, contributor, organisation, SEEDED)
    seed_s = time.perf_counter() - t
    total = Signalement.objects.count()
    grass = list(
        LandCoverPolygon.objects.filter(vintage=vintage, code_cs="CS2.2.1")
        .order_by("?")
        .values_list("pk", flat=True)[: args.requests * 2 + 1200]
    )
    to_create, to_accept_polys = grass[: args.requests], grass[args.requests :]
    open_ids = {}
    for sid, pid in Signalement.objects.filter(
        comment=MARK, status="submitted", polygon_id__in=to_accept_polys
    ).values_list("pk", "polygon_id"):
        open_ids.setdefault(pid, sid)  # one per polygon: accepts do not collide
    accept_ids = list(open_ids.values())
    single, bulk_ids = accept_ids[: args.requests], accept_ids[args.requests :][:1000]

    contributor_cookie = _session_cookie(contributor) + f"; csrftoken={CSRF}"
    operator_cookie = _session_cookie(operator) + f"; csrftoken={CSRF}"
    server = _serve(root, PORT, workers=4)
    results = {}
    try:
        api = "/api/signalements/"

        def create(pk):
            return _request(
                "POST",
                api,
                contributor_cookie,
                {
                    "vintage": vintage.pk,
                    "polygon": pk,
                    "code_cs_proposed": "CS2.1.1.1",
                    "code_us_proposed": "US1.2",
                    "comment": "bench",
                },
            )

        query = (
            f"{api}?departement={BENCH_CODE}&status=submitted&status=in_review"
            "&code_cs_proposed=CS2.1.1.1&ordering=priority"
        )

        def listing(_):
            return _request("GET", query, operator_cookie)

        def accept(sid):
            return _request("POST", f"{api}{sid}/accept/", operator_cookie, {})

        for name, fn, items in [
            ("create", create, to_create),
            ("list", listing, range(args.requests)),
            ("accept", accept, single),
        ]:
            out = _parallel(fn, items)
            bad = [s for _, s, _ in out if s >= 300]
            assert not bad, f"{name}: {len(bad)} failed, e.g. {bad[:3]}"
            results[name] = _stats([e for e, _, _ in out])
            print(f"{name}: {results[name]}", flush=True)
        elapsed, status_code, body = _request(
            "POST", f"{api}bulk/", operator_cookie, {"ids": bulk_ids, "action": "accept"}
        )
        done = json.loads(body)["done"]
        results["bulk_accept"] = {"n": len(bulk_ids), "done": done, "s": round(elapsed, 2)}
        print(f"bulk accept: {results['bulk_accept']}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    # Baseline: the bare SQL of the same operations, 20 threads, one connection each.
    bare = _bare_sql(dsn, vintage, contributor, organisation, operator, args.requests)
    for name in ("create", "list", "accept"):
        results[name]["bare_p50_ms"] = bare[name]["p50_ms"]
        results[name]["bare_p95_ms"] = bare[name]["p95_ms"]
    return {
        "signalements": total,
        "seed_s": round(seed_s, 1),
        "clients": CLIENTS,
        "ops": results,
    }


def _bare_sql(dsn, vintage, contributor, organisation, operator, n) -> dict:
    import threading

    import psycopg

    local = threading.local()

    def conn():
        if not hasattr(local, "c"):
            local.c = psycopg.connect(dsn, autocommit=False)
        return local.c

    with psycopg.connect(dsn) as c:
        polygons = [
            r[0]
            for r in c.execute(
                "SELECT id FROM landcover_landcoverpolygon WHERE vintage_id = %s "
                "AND code_cs = 'CS2.2.1' ORDER BY random() LIMIT %s",
                [vintage.pk, n * 2],
            ).fetchall()
        ]

    def create(pid):
        c = conn()
        t = time.perf_counter()
        with c.transaction():
            sid = c.execute(
                "INSERT INTO signalements_signalement (vintage_id, polygon_id, location, "
                "code_cs_current, code_us_current, code_cs_proposed, code_us_proposed, comment, "
                "author_id, organisation_id, status, decision_message, area, created_at, "
                "updated_at) SELECT vintage_id, id, ST_PointOnSurface(geom), code_cs, code_us, "
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
    created = _parallel(create, polygons[:n])
    out["create"] = _stats([e for e, _ in created])
    out["list"] = _stats([e for e, _ in _parallel(listing, range(n))])
    out["accept"] = _stats([e for e, _ in _parallel(accept, [sid for _, sid in created])])
    return out


def render_signalements(r: dict) -> str:
    lines = [
        "## Signalements API (issue: signalements)",
        "",
        "Département 95: a copy of the demo département (about 26,000 polygons per vintage), "
        f"**{r['signalements']:,} signalements** in the database (100,000 seeded by one "
        f"INSERT … SELECT in {r['seed_s']} s, plus those the run files), "
        f"{r['clients']} concurrent clients on loopback, gunicorn 4 workers, logged-in "
        "sessions. Bare SQL: the minimum statements of the same operation through psycopg, "
        "20 threads (no HTTP, no validation, no change-layer update).",
        "",
        "| operation | requests | ours p50 | ours p95 | bare SQL p50 | bare SQL p95 |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in [
        ("create", "create (`POST /api/signalements/`)"),
        ("list", "list, 2 statuses + proposed CS, priority order, page of 50"),
        ("accept", "accept (`POST …/{id}/accept/`: revision, change layer)"),
    ]:
        o = r["ops"][name]
        lines.append(
            f"| {label} | {o['n']} | {o['p50_ms']} ms | {o['p95_ms']} ms | "
            f"{o['bare_p50_ms']} ms | {o['bare_p95_ms']} ms |"
        )
    b = r["ops"]["bulk_accept"]
    lines += [
        "",
        f"Bulk accept of {b['n']:,} signalements in one request: **{b['s']} s** "
        f"({b['done']} accepted).",
    ]
    return "\n".join(lines)
