"""M1↔M2 coherence on the demo département: N corrections accepted on M1 where the land did
not change, the proposals the platform files on M2, and the false change they remove.

The demo's vintages are the generator's truth, so the model's repeated error is simulated:
N polygons of M1 with no change piece over them (the land did not change), of 0.25 to 5 ha,
are corrected to other codes by accepted signalements, as an operator would after spotting
the model's error. The change layer then holds false changes; the proposals filed on M2 are
accepted, and the change layer measured again. Everything runs in one transaction rolled
back at the end (the demo is left as it was). The anchor is the work the proposals spare:
the same number of M2 signalements, filed and accepted by hand.
"""

from __future__ import annotations

import time


class _Rollback(Exception):
    pass


def bench_coherence(args) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.db.models import Count, Sum

    from apps.landcover.derived import after_change
    from apps.landcover.models import ChangePiece, LandCoverPolygon, Vintage
    from apps.signalements import coherence, decisions
    from apps.signalements.models import Signalement
    from apps.signalements.transitions import Action

    code, n = args.coherence_departement, args.coherence_n
    m1 = Vintage.objects.filter(departement__code=code, rank="M1").first()
    m2 = Vintage.objects.filter(departement__code=code, rank="M2").first()
    if m1 is None or m2 is None:
        raise SystemExit(f"département {code} needs M1 and M2 (make demo-data)")
    users = get_user_model().objects
    author = users.get(username="contributeur")
    decider, second = users.get(username="operateur"), users.get(username="responsable")
    table = LandCoverPolygon._meta.db_table
    with connection.cursor() as cur:
        # Unchanged land: no change piece meets the polygon; a correction to a wood (or, for
        # a wood, to grassland) as an operator would make it.
        cur.execute(
            f"""
            SELECT p.id, p.code_cs, p.code_us FROM {table} p
            WHERE p.vintage_id = %s AND p.code_cs LIKE 'CS2.%%'
              AND ST_Area(p.geom) BETWEEN 2500 AND 50000
              AND NOT EXISTS (SELECT 1 FROM landcover_changepiece c
                              WHERE c.departement_id = %s AND c.geom && p.geom
                                AND ST_Intersects(c.geom, p.geom))
            ORDER BY p.id LIMIT %s
            """,
            [m1.pk, m1.departement_id, n],
        )
        picked = cur.fetchall()

    def false_change(ids):
        return ChangePiece.objects.filter(polygon_before__in=ids).aggregate(
            n=Count("id"), area=Sum("area")
        )

    result = {}
    try:
        with transaction.atomic():
            before_pieces = false_change([pk for pk, _cs, _us in picked])
            origins, corrected = [], []
            for pk, cs, us in picked:
                to = ("CS2.2.1", "US1.1") if cs.startswith("CS2.1.1") else ("CS2.1.1.1", "US1.2")
                polygon = LandCoverPolygon.objects.defer("geom", "geom_3857").get(pk=pk)
                s = Signalement.objects.create(
                    vintage=m1,
                    polygon=polygon,
                    location=LandCoverPolygon.objects.filter(pk=pk)
                    .values_list("geom", flat=True)
                    .get()
                    .point_on_surface,
                    code_cs_current=cs,
                    code_us_current=us,
                    code_cs_proposed=to[0],
                    code_us_proposed=to[1],
                    author=author,
                    organisation=author.memberships.first().organisation,
                )
                touched = []
                decisions.apply_action(decider, s.pk, Action.ACCEPT, touched=touched)
                origins.append(s.pk)
                corrected.append(touched[-1])
            start = time.perf_counter()
            after_change(m1.departement, corrected)
            difference_s = time.perf_counter() - start
            with_false = false_change(corrected)
            start = time.perf_counter()
            filed = []
            for origin, polygon in zip(origins, corrected, strict=True):
                filed += coherence.propose(origin, polygon)
            propose_s = time.perf_counter() - start
            touched = []
            start = time.perf_counter()
            for pk in filed:
                decisions.apply_action(second, pk, Action.ACCEPT, touched=touched)
            accept_s = time.perf_counter() - start
            after_change(m2.departement, touched)
            after = false_change(corrected)
            from benchmarks.run import commit

            result = {
                "commit": commit(),
                "dataset": "the demo (`make demo-data`: load_demo --size-km 16 --seed 42)",
                "departement": code,
                "m1_polygons": m1.polygon_count,
                "corrections": len(origins),
                "proposals": len(filed),
                "pieces_before": before_pieces["n"],
                "area_before_m2": round(before_pieces["area"] or 0),
                "false_pieces": with_false["n"],
                "false_area_m2": round(with_false["area"] or 0),
                "pieces_after": after["n"],
                "area_after_m2": round(after["area"] or 0),
                "propose_ms_each": round(propose_s * 1000 / max(len(origins), 1), 1),
                "accept_ms_each": round(accept_s * 1000 / max(len(filed), 1), 1),
                "difference_s": round(difference_s, 2),
            }
            raise _Rollback
    except _Rollback:
        pass
    print(result, flush=True)
    return result


def render_coherence(r) -> str:
    return "\n".join(
        [
            "## M1↔M2 coherence proposals",
            "",
            f"Département {r['departement']}, {r['dataset']}, {r['m1_polygons']:,} M1 polygons, "
            f"commit {r['commit']}: "
            f"{r['corrections']} corrections accepted on M1 where the land did not change "
            "(polygons of 0.25–5 ha of vegetation no change piece met), in one transaction "
            "rolled back afterwards.",
            "",
            "| | change pieces over the corrected polygons | area (m²) |",
            "|---|---:|---:|",
            f"| before the corrections | {r['pieces_before']} | {r['area_before_m2']:,} |",
            f"| after (false changes) | {r['false_pieces']} | {r['false_area_m2']:,} |",
            f"| after the {r['proposals']} proposals accepted | {r['pieces_after']} "
            f"| {r['area_after_m2']:,} |",
            "",
            f"Filing the proposals: {r['propose_ms_each']} ms per correction; accepting one: "
            f"{r['accept_ms_each']} ms (the work of {r['proposals']} M2 signalements an "
            "operator would otherwise have to find, file and accept by hand).",
        ]
    )
