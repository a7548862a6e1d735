"""The costliest requests a user can send, on the million-polygon benchmark vintage
(security, issue 17 finding 6): each hostile or large request is timed through the whole
Django stack (middleware, statement timeout, scoping), in-process with the test client, one
at a time. Everything it writes (a filing, its acceptance) is rolled back at the end.

Ours only: the point is the worst case a user can cause, against the 1 s target; the
request statement timeout (REQUEST_STATEMENT_TIMEOUT_MS) is the backstop.
"""

from __future__ import annotations

import time

RUNS = 3


def _square(x: float, y: float, side: float, vertices: int = 4) -> dict:
    """A GeoJSON square (WGS84) of `side` metres at (x, y) Lambert-93, its edges cut in
    `vertices` points in all (a drawn shape as complex as allowed)."""
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(2154, 4326, always_xy=True)
    per_side = max(1, vertices // 4)
    corners = [(x, y), (x + side, y), (x + side, y + side), (x, y + side)]
    ring = []
    for k in range(4):
        (x1, y1), (x2, y2) = corners[k], corners[(k + 1) % 4]
        for i in range(per_side):
            t = i / per_side
            ring.append(to_wgs84.transform(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t))
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _time(call) -> tuple[float, int]:
    """The slowest of RUNS calls, each in its own savepoint (a request cut by the statement
    timeout aborts only its own)."""
    from django.db import transaction

    times, status = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        with transaction.atomic():
            status = call()
            if status >= 500:
                transaction.set_rollback(True)
        times.append(time.perf_counter() - start)
    return max(times), status


def bench_hostile(args) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.db.models import F
    from django.test import Client

    from apps.landcover import tiles
    from apps.landcover.models import ChangePiece, LandCoverPolygon, Vintage
    from apps.landcover.ogc import collection_id
    from apps.signalements import filing
    from apps.territories.models import Membership, Organisation, Role

    settings.ALLOWED_HOSTS = ["*"]
    vintage = (
        Vintage.objects.filter(departement__code=args.code)
        .order_by("-polygon_count")
        .select_related("departement")
        .first()
    )
    if vintage is None:
        raise SystemExit(f"no vintage of département {args.code}: run `--only io` first")
    dep = vintage.departement
    # What the worker derives after an import (`derived.after_change`; the benchmark's
    # vintages are imported without it): the département page's CS summary, kept — the
    # timed requests are rolled back, and a page would otherwise build it on each run.
    from apps.landcover.derived import summarise

    summarise(Vintage.objects.filter(departement=dep).values_list("pk", flat=True))
    rows, builds = [], []

    def add(what, seconds, status):
        rows.append({"request": what, "worst_ms": round(seconds * 1000, 1), "status": status})
        print(f"{what}: {seconds * 1000:.0f} ms ({status})", flush=True)

    with transaction.atomic():
        Vintage.objects.filter(pk=vintage.pk).update(feedback_open=True, state="review")
        User = get_user_model()
        agence = Organisation.objects.create(name="Bench hostile", kind="agence_urbanisme")
        agence.departements.add(dep)
        ign = Organisation.objects.create(name="Bench IGN", kind="ign")
        ign.departements.add(dep)
        people = {}
        for name, org, role in [
            ("contrib", agence, Role.CONTRIBUTOR),
            ("operator", ign, Role.OPERATOR),
        ]:
            user = User.objects.create_user(f"hostile-{name}", password="x")
            Membership.objects.create(user=user, organisation=org, role=role)
            client = Client(raise_request_exception=False)
            client.force_login(user)
            people[name] = client
        contrib, operator = people["contrib"], people["operator"]
        ext = vintage.departement.geom.extent
        cx, cy = (ext[0] + ext[2]) / 2, (ext[1] + ext[3]) / 2
        body = {"vintage": vintage.pk, "code_cs_proposed": "CS2.1.1.1", "code_us_proposed": "US1.2"}

        def post(client, url, data):
            return lambda: client.post(url, data, content_type="application/json").status_code

        # The attack of the finding: a shape over the whole département (23 vertices).
        whole = _square(ext[0], ext[1], max(ext[2] - ext[0], ext[3] - ext[1]), 23)
        add(
            "check, shape over the whole département",
            *_time(post(contrib, "/api/signalements/check/", {**body, "geom": whole})),
        )
        # The largest shape allowed, as complex as allowed, where polygons are densest
        # (refused on the count) and where they are sparsest (accepted).
        side = filing.MAX_SHAPE_AREA_M2**0.5 - 1
        spots = []
        for i in range(-3, 4):
            for j in range(-3, 4):
                x, y = cx + i * 8_000, cy + j * 8_000
                square = _square(x, y, side)
                with connection.cursor() as cur:
                    cur.execute(
                        "SELECT count(*) FROM landcover_landcoverpolygon WHERE vintage_id = %s "
                        "AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 2154)",
                        [vintage.pk, x, y, x + side, y + side],
                    )
                    spots.append((cur.fetchone()[0], x, y, square))
        spots.sort(key=lambda s: s[0])
        dense = spots[-1]
        allowed = [s for s in spots if s[0] <= filing.MAX_SHAPE_POLYGONS]
        sparse = allowed[-1] if allowed else spots[0]
        big_dense = _square(dense[1], dense[2], side, filing.MAX_VERTICES - 8)
        add(
            f"check, 100 ha shape of {filing.MAX_VERTICES - 8} vertices, {dense[0]} polygons",
            *_time(post(contrib, "/api/signalements/check/", {**body, "geom": big_dense})),
        )
        big_sparse = _square(sparse[1], sparse[2], side, filing.MAX_VERTICES - 8)
        add(
            f"check, 100 ha shape of {filing.MAX_VERTICES - 8} vertices, {sparse[0]} polygons",
            *_time(post(contrib, "/api/signalements/check/", {**body, "geom": big_sparse})),
        )
        start = time.perf_counter()
        with transaction.atomic():
            filed = contrib.post(
                "/api/signalements/", {**body, "geom": big_sparse}, content_type="application/json"
            )
        add("file, the same shape", time.perf_counter() - start, filed.status_code)
        if filed.status_code == 201:
            pk = filed.json()["id"]
            start = time.perf_counter()
            with transaction.atomic():
                decided = operator.post(
                    f"/api/signalements/{pk}/accept/", {}, content_type="application/json"
                )
                if decided.status_code >= 500:
                    transaction.set_rollback(True)
            add(
                "accept it (split of the target polygon)",
                time.perf_counter() - start,
                decided.status_code,
            )
        largest = LandCoverPolygon.objects.filter(vintage=vintage).order_by("-area").first()
        point = largest.geom.point_on_surface
        point.transform(4326)
        add(
            "polygon panel of the largest polygon",
            *_time(
                lambda: (
                    operator.get(
                        f"/api/vintages/{vintage.pk}/polygons/at/?lon={point.x}&lat={point.y}"
                    ).status_code
                )
            ),
        )
        # A point on the largest polygon, filed by a contributor of the whole département.
        add(
            "check, a point on the largest polygon",
            *_time(
                post(
                    contrib,
                    "/api/signalements/check/",
                    {**body, "lon": point.x, "lat": point.y},
                )
            ),
        )
        # A small shape inside the largest polygon (a road network of ~800,000 vertices):
        # filed, then accepted — the split of the largest outline there is.
        inner = largest.geom.point_on_surface
        tiny = _square(inner.x - 2, inner.y - 2, 4)
        start = time.perf_counter()
        with transaction.atomic():
            filed = contrib.post(
                "/api/signalements/", {**body, "geom": tiny}, content_type="application/json"
            )
        add(
            f"file, a 4 m square inside the largest polygon ({largest.geom.num_points:,} vertices)",
            time.perf_counter() - start,
            filed.status_code,
        )
        if filed.status_code == 201:
            start = time.perf_counter()
            with transaction.atomic():
                decided = operator.post(
                    f"/api/signalements/{filed.json()['id']}/accept/",
                    {},
                    content_type="application/json",
                )
                if decided.status_code >= 500:
                    transaction.set_rollback(True)
            add(
                "accept it (split of the largest polygon)",
                time.perf_counter() - start,
                decided.status_code,
            )
        # OGC API: the largest page, and the largest polygon alone.
        collection = collection_id(vintage)
        add(
            "OGC API items, limit=10000 (a page of 2,000)",
            *_time(
                lambda: operator.get(f"/ogc/collections/{collection}/items?limit=10000").status_code
            ),
        )
        add(
            "OGC API item, the largest polygon",
            *_time(
                lambda: (
                    operator.get(f"/ogc/collections/{collection}/items/{largest.pk}").status_code
                )
            ),
        )
        lon, lat = _lonlat(cx, cy)
        # Tiles up to z11 are built by workers (after the import, then after corrections):
        # the requests read them. What a worker pays is timed too, as `build` rows.
        for z in (8, 11):
            x, y = tiles.lonlat_to_tile(lon, lat, z)
            url = f"/tiles/{vintage.pk}/{z}/{x}/{y}.pbf"
            start = time.perf_counter()
            tiles.store_tile(vintage.pk, z, x, y)
            builds.append(
                {"tile": f"z{z}", "build_ms": round((time.perf_counter() - start) * 1000, 1)}
            )
            Vintage.objects.filter(pk=vintage.pk).update(revision=F("revision") + 1)
            add(
                f"tile z{z} a revision behind (served as built, rebuilt by a worker)",
                *_time(lambda url=url: operator.get(url).status_code),
            )
            tiles.store_tile(vintage.pk, z, x, y)
            add(f"tile z{z}, current", *_time(lambda url=url: operator.get(url).status_code))
        if ChangePiece.objects.filter(departement=dep).exists():
            x, y = tiles.lonlat_to_tile(lon, lat, 8)
            add(
                "change layer tile z8",
                *_time(
                    lambda: operator.get(f"/tiles/changes/{dep.code}/8/{x}/{y}.pbf").status_code
                ),
            )
        x, y = tiles.lonlat_to_tile(*_lonlat(dense[1], dense[2]), 13)
        add(
            "tile z13 at the densest place",
            *_time(lambda: operator.get(f"/tiles/{vintage.pk}/13/{x}/{y}.pbf").status_code),
        )
        add(
            "signalement markers (page of 2,000)",
            *_time(
                lambda: (
                    operator.get(
                        f"/api/signalements/?vintage={vintage.pk}&page_size=2000"
                    ).status_code
                )
            ),
        )
        add(
            "commune search, one letter",
            *_time(lambda: contrib.get(f"/api/communes/?departement={dep.code}&q=a").status_code),
        )
        add(
            "map page of the département",
            *_time(lambda: contrib.get(f"/departements/{dep.code}/carte/").status_code),
        )
        add(
            "territory page of the département",
            *_time(lambda: contrib.get(f"/territoires/departement/{dep.code}/").status_code),
        )
        for what, client, url in [
            (
                "territory CSV of the département",
                contrib,
                "/territoires/departement/{}/artificialisation.csv",
            ),
            (
                "communes of the département (choropleth GeoJSON)",
                contrib,
                "/api/artificialisation/departement/{}/communes/",
            ),
            ("département page", contrib, "/departements/{}/"),
            ("operator's queue page", operator, "/departements/{}/signalements/"),
            ("quality report", operator, "/departements/{}/rapport-qualite/"),
            ("dashboard", operator, "/tableau-de-bord/"),
        ]:
            add(what, *_time(lambda c=client, u=url: c.get(u.format(dep.code)).status_code))
        transaction.set_rollback(True)
    worst = max(rows, key=lambda r: r["worst_ms"])
    import subprocess

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": commit,
        "dataset": f"département {dep.code}, vintage {vintage.rank} "
        f"({vintage.polygon_count:,} polygons)",
        "timeout_ms": settings.REQUEST_STATEMENT_TIMEOUT_MS,
        # Tasks a request sends (derived data, tile rebuilds, the report's baseline) are
        # queued for workers as in production, unless no broker was reachable.
        "eager": bool(settings.CELERY_TASK_ALWAYS_EAGER),
        "rows": rows,
        "builds": builds,
        "worst": worst,
    }


def _lonlat(x, y):
    from pyproj import Transformer

    return Transformer.from_crs(2154, 4326, always_xy=True).transform(x, y)


def render_hostile(r: dict) -> str:
    lines = [
        "## Hostile requests (worst case a user can cause)",
        "",
        f"{r['dataset']} (`generate_departement --size-km 108 --resolution 2.5 --seed 5`), "
        f"commit {r.get('commit', '?')}; each request {RUNS} times through the whole Django stack "
        f"(test client, one at a time), the slowest kept; statement timeout "
        f"{r['timeout_ms']} ms (a département's figures: FIGURES_STATEMENT_TIMEOUT_MS). "
        "The worst is the point, not a median. "
        + (
            "Tasks ran inline (no broker): requests include them."
            if r.get("eager")
            else "Tasks the requests send went to the broker's queue (`REDIS_URL`), as in "
            "production: workers do that work, not the requests."
        ),
        "",
        "| request | worst of 3 | status |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {row['request']} | {row['worst_ms']:.0f} ms | {row['status']} |" for row in r["rows"]
    ]
    lines += ["", f"Worst: **{r['worst']['request']}**, {r['worst']['worst_ms']:.0f} ms."]
    if r.get("builds"):
        lines += [
            "",
            "What a worker pays, never a request (tiles up to z11, built after an import and "
            "rebuilt after corrections): "
            + ", ".join(f"{b['tile']} {b['build_ms'] / 1000:.1f} s" for b in r["builds"])
            + ".",
        ]
    return "\n".join(lines)
