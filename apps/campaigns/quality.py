"""The quality report M1 + M2 of a département: what the feedback loops found and changed.

Every table is one grouped query; the artificialised area before corrections is computed
exactly by restoring the corrected polygons inside a savepoint
(`landcover.corrections.restore_original`), recomputing what they can change with the
same code as the indicators, reading, and rolling back — by a worker, per revision of the
vintage (`baseline`): the page shows the last figure computed.
"""

from django.db import connection
from django.db.models import Count, Q, Sum

from apps.artif.compute import compute_vintage
from apps.artif.models import ArtifBaseline, ArtifStat
from apps.artif.queries import Level, ign_comparison, per_commune, territory
from apps.landcover import corrections
from apps.landcover.models import CoverCode, Vintage
from apps.signalements.models import Signalement
from apps.signalements.transitions import OPEN, Status

EXPLAINED = (Status.ALREADY_DONE, Status.REJECTED_OUT_OF_SPEC, Status.REJECTED_IRRELEVANT)


def _artif(vintage) -> float | None:
    rows = ArtifStat.objects.filter(vintage=vintage)
    if not rows.exists():
        return None
    return rows.filter(artif=True).aggregate(a=Sum("area"))["a"] or 0.0


def artif_before_corrections(vintage) -> float | None:
    """Artificialised m² of the vintage as imported, before any correction (None when its
    indicators were never computed)."""
    if _artif(vintage) is None:
        return None
    ids = corrections.corrected_polygons(vintage)
    if not ids:
        return _artif(vintage)
    with corrections.simulated():
        corrections.restore_original(ids)
        compute_vintage(vintage, ids)
        before = _artif(vintage)
    return before


def store_baseline(vintage_id: int) -> float | None:
    """Compute and keep the area before corrections at the vintage's current revision
    (`artif.tasks.compute_baseline`)."""
    vintage = Vintage.objects.get(pk=vintage_id)
    area = artif_before_corrections(vintage)
    ArtifBaseline.objects.update_or_create(
        vintage=vintage, defaults={"revision": vintage.revision, "area": area, "asked_at": None}
    )
    return area


def baseline(vintage) -> tuple[float | None, bool]:
    """(m² before corrections, whether it is the vintage's current revision's), as a worker
    computed it: when it is behind (or was never computed), the figure kept is shown and a
    worker is asked for the current one, at most once per BASELINE_ASK_SECONDS."""
    from django.conf import settings

    from apps.ops.dispatch import claimed, dispatch

    from .tasks import compute_baseline

    row = ArtifBaseline.objects.filter(vintage=vintage).first()
    if row is not None and row.revision == vintage.revision:
        return row.area, True
    if row is None:
        row, _ = ArtifBaseline.objects.get_or_create(
            vintage=vintage, defaults={"revision": 0, "area": None}
        )
    rows = ArtifBaseline.objects.filter(pk=row.pk)
    if claimed(rows, "asked_at", settings.BASELINE_ASK_SECONDS):
        dispatch(compute_baseline, vintage.pk, keep=False)
        row.refresh_from_db()  # computed already when tasks run inline
    return row.area, row.revision == vintage.revision


def report(departement) -> dict:
    """Every table of the report, as plain data (page, CSV and tests read the same)."""
    vintages = list(Vintage.objects.filter(departement=departement).order_by("rank"))
    everything = Signalement.objects.filter(vintage__departement=departement)
    # The territories' feedback; the platform's coherence proposals are counted apart.
    sig = everything.filter(kind=Signalement.Kind.CONTRIBUTION)
    labels = dict(Status.choices)
    by_status = [
        {
            "rank": r["vintage__rank"],
            "status": r["status"],
            "label": labels[r["status"]],
            "count": r["n"],
        }
        for r in sig.values("vintage__rank", "status")
        .annotate(n=Count("id"))
        .order_by("vintage__rank", "status")
    ]
    decided_q = ~Q(status__in=OPEN) & ~Q(status=Status.WITHDRAWN)
    totals = sig.aggregate(
        received=Count("id"),
        accepted=Count("id", filter=Q(status=Status.ACCEPTED)),
        decided=Count("id", filter=decided_q),
        open=Count("id", filter=Q(status__in=OPEN)),
    )
    totals["acceptance_rate"] = (
        100.0 * totals["accepted"] / totals["decided"] if totals["decided"] else None
    )
    by_organisation = list(
        sig.values("organisation__name")
        .annotate(
            received=Count("id"),
            accepted=Count("id", filter=Q(status=Status.ACCEPTED)),
            explained=Count("id", filter=Q(status__in=EXPLAINED)),
            open=Count("id", filter=Q(status__in=OPEN)),
        )
        .order_by("-received", "organisation__name")
    )
    by_commune = _by_commune(departement)
    platform = {
        kind: everything.filter(kind=kind).aggregate(
            filed=Count("id"),
            accepted=Count("id", filter=Q(status=Status.ACCEPTED)),
            rejected=Count("id", filter=decided_q & ~Q(status=Status.ACCEPTED)),
            open=Count("id", filter=Q(status__in=OPEN)),
        )
        for kind in (Signalement.Kind.COHERENCE, Signalement.Kind.MODEL)
    }
    # What changed the data: every accepted signalement, the platform's included.
    accepted = everything.filter(status=Status.ACCEPTED)
    matrix_rows = list(
        accepted.values("code_cs_current", "code_cs_proposed")
        .annotate(n=Count("id"), area=Sum("area"))
        .order_by("code_cs_current", "code_cs_proposed")
    )
    codes = sorted(
        {r["code_cs_current"] for r in matrix_rows} | {r["code_cs_proposed"] for r in matrix_rows}
    )
    top = max((r["n"] for r in matrix_rows), default=0)
    cells = {(r["code_cs_current"], r["code_cs_proposed"]): r for r in matrix_rows}
    matrix = [
        {
            "from": a,
            "cells": [
                {
                    "to": b,
                    "count": cells.get((a, b), {}).get("n", 0),
                    "area": cells.get((a, b), {}).get("area") or 0.0,
                    "heat": round(cells.get((a, b), {}).get("n", 0) / top, 2) if top else 0,
                }
                for b in codes
            ],
        }
        for a in codes
    ]
    change = {}
    for r in matrix_rows:
        change.setdefault(r["code_cs_current"], {"lost": 0.0, "gained": 0.0})
        change.setdefault(r["code_cs_proposed"], {"lost": 0.0, "gained": 0.0})
        change[r["code_cs_current"]]["lost"] += r["area"] or 0.0
        change[r["code_cs_proposed"]]["gained"] += r["area"] or 0.0
    cover = dict(CoverCode.objects.values_list("code", "label"))
    area_by_class = [
        {
            "code": k,
            "label": cover.get(k, ""),
            "lost": v["lost"],
            "gained": v["gained"],
            "net": v["gained"] - v["lost"],
        }
        for k, v in sorted(change.items())
    ]
    artif = []
    for v in vintages:
        after = _artif(v)
        before, current = baseline(v) if after is not None else (None, True)
        artif.append(
            {
                "rank": v.rank,
                "millesime": v.millesime,
                "before": before,
                "before_current": current,
                "after": after,
                "delta": after - before if after is not None and before is not None else None,
            }
        )
    ign, ign_communes = _ign(departement)
    return {
        "ign": ign,
        "ign_communes": ign_communes,
        "totals": totals,
        "coherence": platform[Signalement.Kind.COHERENCE],
        "model_proposals": platform[Signalement.Kind.MODEL],
        "by_status": by_status,
        "by_organisation": by_organisation,
        "by_commune": by_commune,
        "codes": codes,
        "matrix": matrix,
        "area_by_class": area_by_class,
        "artif": artif,
    }


def _ign(departement, worst=10):
    """The comparison with IGN's own artificialisation (where delivered), and the communes
    where the agreement is lowest."""
    found = territory(None, Level.DEPARTEMENT, departement.code)
    if found is None:
        return {}, []
    ign = ign_comparison(None, found)
    if not ign:
        return {}, []
    rows = [
        r
        for r in per_commune(None, found)
        if r["M1_ign_agree"] is not None or r["M2_ign_agree"] is not None
    ]

    def lowest(row):
        return min(v for v in (row["M1_ign_agree"], row["M2_ign_agree"]) if v is not None)

    return ign, sorted(rows, key=lambda r: (lowest(r), r["code"]))[:worst]


def _by_commune(departement) -> list[dict]:
    """Signalements per commune of their location (one spatial join)."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.code, c.name, count(s.id),
                   count(s.id) FILTER (WHERE s.status = %s)
            FROM signalements_signalement s
            JOIN landcover_vintage v ON v.id = s.vintage_id AND v.departement_id = %s
            JOIN territories_commune c
              ON c.departement_id = %s AND ST_Intersects(c.geom, s.location)
            WHERE s.kind = %s
            GROUP BY c.code, c.name ORDER BY count(s.id) DESC, c.code
            """,
            [
                Status.ACCEPTED.value,
                departement.pk,
                departement.pk,
                Signalement.Kind.CONTRIBUTION.value,
            ],
        )
        return [
            {"code": code, "name": name, "received": n, "accepted": a}
            for code, name, n, a in cur.fetchall()
        ]


# The CSV's words for the report's keys (spreadsheet readers see no code names).
WORDS = {
    "received": "reçus",
    "decided": "décidés",
    "accepted": "acceptés",
    "open": "ouverts",
    "filed": "déposés",
    "rejected": "rejetés",
    "explained": "expliqués",
    "net": "net",
    "compared_ha": "surface comparée",
    "agree_ha": "accord",
    "ours_only_ha": "plateforme seule",
    "ign_only_ha": "IGN seul",
    "before": "avant corrections",
    "after": "après corrections",
}


def csv_rows(data) -> list[list]:
    """The report flattened: table, row, column, count, area (m²) — for a spreadsheet
    (`ops.spreadsheet`): French words, statuses by their labels."""
    from apps.signalements.transitions import Status

    w = WORDS.get
    rows = [["tableau", "ligne", "colonne", "nombre", "surface (m²)"]]
    t = data["totals"]
    for key in ("received", "decided", "accepted", "open"):
        rows.append(["totaux", w(key), "", t[key], None])
    rate = t["acceptance_rate"]
    rows.append(["totaux", "taux d'acceptation (%)", "", rate, None])
    for table, block in (
        ("cohérence M1/M2", "coherence"),
        ("propositions du modèle", "model_proposals"),
    ):
        for key in ("filed", "accepted", "rejected", "open"):
            rows.append([table, w(key), "", data[block][key], None])
    for r in data["by_status"]:
        rows.append(["statut", r["rank"], str(Status(r["status"]).label), r["count"], None])
    for r in data["by_organisation"]:
        for key in ("received", "accepted", "explained", "open"):
            rows.append(["organisation", r["organisation__name"], w(key), r[key], None])
    for r in data["by_commune"]:
        rows.append(["commune", r["code"], w("received"), r["received"], None])
        rows.append(["commune", r["code"], w("accepted"), r["accepted"], None])
    for row in data["matrix"]:
        for cell in row["cells"]:
            if cell["count"]:
                rows.append(["corrections", row["from"], cell["to"], cell["count"], cell["area"]])
    for r in data["area_by_class"]:
        rows.append(["surface par classe", r["code"], w("net"), "", r["net"]])
    for rank, c in data["ign"].items():
        for key in ("compared_ha", "agree_ha", "ours_only_ha", "ign_only_ha"):
            rows.append(["accord IGN", rank, w(key), "", c[key] * 10_000])
        for r in c["reasons"]:
            for key in ("ours_only_ha", "ign_only_ha"):
                rows.append([f"écart IGN ({r['reason']})", rank, w(key), "", r[key] * 10_000])
    for r in data["artif"]:
        for key in ("before", "after"):
            rows.append(["artificialisé", r["rank"], w(key), "", r[key]])
    return rows
