"""Figures of a territory (commune, EPCI, département, région) from the per-commune rows.

Every territory is a set of communes; its figures are sums over the visible vintages of
those communes' départements (a région shows the départements its reader may see). Each
function issues a fixed number of grouped queries, whatever the number of communes.
"""

import csv
from dataclasses import dataclass, field

from django.db.models import Q, Sum
from django.utils.translation import gettext_lazy as _

from apps.landcover.models import CoverCode, UseCode, Vintage
from apps.landcover.scoping import visible_vintages
from apps.territories.models import Commune, Departement, Epci, Region

from .models import ArtifFlow, ArtifStat, IgnComparison

HA = 10_000.0


class Level:
    COMMUNE = "commune"
    EPCI = "epci"
    DEPARTEMENT = "departement"
    REGION = "region"
    ALL = (COMMUNE, EPCI, DEPARTEMENT, REGION)
    LABELS = {
        COMMUNE: _("commune"),
        EPCI: _("EPCI"),
        DEPARTEMENT: _("département"),
        REGION: _("région"),
    }


@dataclass
class Territory:
    level: str
    code: str
    name: str
    communes: object  # Commune queryset, scoped to what the user may see
    departements: list = field(default_factory=list)  # visible départements it spans

    @property
    def label(self):
        return Level.LABELS[self.level]


def territory_or_404(user, level: str, code: str) -> Territory:
    """The territory, or Http404 (answered as a 404 by the pages and the API alike)."""
    from django.http import Http404

    found = territory(user, level, code) if level in Level.ALL else None
    if found is None:
        raise Http404(_("Territoire inconnu, ou sans millésime visible."))
    return found


def _visible(user):
    """Vintages `user` may see; user None: every vintage (internal use: publication)."""
    return Vintage.objects.all() if user is None else visible_vintages(user)


def territory(user, level: str, code: str) -> Territory | None:
    """The territory, with the communes of it the user may see; None if unknown or unseen."""
    vintages = _visible(user)
    seen = Departement.objects.filter(pk__in=vintages.values("departement"))
    communes = Commune.objects.filter(departement__in=seen)
    if level == Level.COMMUNE:
        communes = communes.filter(code=code)
        first = communes.first()
        name = first.name if first else None
    elif level == Level.EPCI:
        communes = communes.filter(epcis__siren=code)
        epci = Epci.objects.filter(siren=code).first()
        name = epci.name if epci else None
    elif level == Level.DEPARTEMENT:
        communes = communes.filter(departement__code=code)
        dep = Departement.objects.filter(code=code).first()
        name = dep.name if dep else None
    elif level == Level.REGION:
        communes = communes.filter(departement__region__code=code)
        region = Region.objects.filter(code=code).first()
        name = region.name if region else None
    else:
        return None
    departements = list(seen.filter(communes__in=communes).distinct().order_by("code"))
    if not departements or name is None:
        return None
    return Territory(level, code, name, communes, departements)


def _vintages(user, territory):
    return _visible(user).filter(departement__in=territory.departements)


def _flow_departements(user, territory):
    """Départements of the territory whose two vintages the user sees: flows need both."""
    both = []
    by_dep = {}
    for dep_id, rank in _vintages(user, territory).values_list("departement_id", "rank"):
        by_dep.setdefault(dep_id, set()).add(rank)
    for dep_id, ranks in by_dep.items():
        if ranks >= {"M1", "M2"}:
            both.append(dep_id)
    return both


def _share(artif, total):
    return 100.0 * artif / total if total else None


def summary(user, territory: Territory) -> dict:
    """Areas (ha) and shares per vintage rank, by CS and by US, the M1→M2 flows, and the
    comparison with IGN's own artificialisation where delivered."""
    vintages = _vintages(user, territory)
    stats = ArtifStat.objects.filter(commune__in=territory.communes, vintage__in=vintages)
    artif = Sum("area", filter=Q(artif=True))
    per_rank = {}
    for row in stats.values("vintage__rank").annotate(total=Sum("area"), artif=artif):
        per_rank[row["vintage__rank"]] = {
            "total_ha": row["total"] / HA,
            "artif_ha": (row["artif"] or 0.0) / HA,
            "share": _share(row["artif"] or 0.0, row["total"]),
        }
    millesimes = {}
    for rank, year in vintages.values_list("rank", "millesime").order_by("rank", "millesime"):
        millesimes.setdefault(rank, set()).add(year)
    for rank, years in millesimes.items():
        if rank in per_rank:
            per_rank[rank]["millesimes"] = sorted(years)
    labels = {
        "cs": dict(CoverCode.objects.values_list("code", "label")),
        "us": dict(UseCode.objects.values_list("code", "label")),
    }
    breakdown = {}
    for key, column in (("cs", "code_cs"), ("us", "code_us")):
        rows = {}
        for row in (
            stats.filter(artif=True).values("vintage__rank", column).annotate(area=Sum("area"))
        ):
            code = row[column]
            entry = rows.setdefault(
                code,
                {"code": code, "label": labels[key].get(code, ""), **dict.fromkeys(per_rank, 0.0)},
            )
            entry[row["vintage__rank"]] = row["area"] / HA
        breakdown[key] = sorted(rows.values(), key=lambda r: r["code"])
    flow_deps = _flow_departements(user, territory)
    flows = ArtifFlow.objects.filter(commune__in=territory.communes, departement__in=flow_deps)
    totals = dict.fromkeys((ArtifFlow.Kind.ARTIF, ArtifFlow.Kind.DESARTIF), 0.0)
    for row in flows.values("kind").annotate(a=Sum("area")):
        totals[row["kind"]] = row["a"] / HA
    transitions = [
        {
            "kind": row["kind"],
            "cs_avant": row["cs_avant"],
            "us_avant": row["us_avant"],
            "cs_apres": row["cs_apres"],
            "us_apres": row["us_apres"],
            "ha": row["a"] / HA,
        }
        for row in flows.values("kind", "cs_avant", "us_avant", "cs_apres", "us_apres")
        .annotate(a=Sum("area"))
        .order_by("-a")[:15]
    ]
    return {
        "territory": {
            "level": territory.level,
            "code": territory.code,
            "name": territory.name,
            "departements": [d.code for d in territory.departements],
        },
        "vintages": per_rank,
        "by_cs": breakdown["cs"],
        "by_us": breakdown["us"],
        "flows": {
            "available": bool(flow_deps),
            "artificialisation_ha": totals[ArtifFlow.Kind.ARTIF],
            "desartificialisation_ha": totals[ArtifFlow.Kind.DESARTIF],
            "net_ha": totals[ArtifFlow.Kind.ARTIF] - totals[ArtifFlow.Kind.DESARTIF],
            "main_transitions": transitions,
        },
        "ign": ign_comparison(user, territory),
    }


def ign_comparison(user, territory: Territory) -> dict:
    """Per vintage rank where the delivery carried IGN's own artificialisation: the area
    compared, where ours and IGN's agree, where only one side counts it artificialised,
    and the disagreements by reason (ha). Empty when no delivery had the flags. One
    query."""
    rows = (
        IgnComparison.objects.filter(
            commune__in=territory.communes, vintage__in=_vintages(user, territory)
        )
        .values("vintage__rank", "ours", "ign", "reason")
        .annotate(a=Sum("area"))
        .order_by("vintage__rank", "reason", "ours")
    )
    labels = dict(IgnComparison.Reason.choices)
    result = {}
    for row in rows:
        entry = result.setdefault(
            row["vintage__rank"],
            {
                "compared_ha": 0.0,
                "agree_ha": 0.0,
                "ours_only_ha": 0.0,
                "ign_only_ha": 0.0,
                "ign_artif_ha": 0.0,
                "ours_artif_ha": 0.0,
                "reasons": {},
            },
        )
        ha = row["a"] / HA
        entry["compared_ha"] += ha
        entry["ign_artif_ha"] += ha if row["ign"] else 0.0
        entry["ours_artif_ha"] += ha if row["ours"] else 0.0
        if row["ours"] == row["ign"]:
            entry["agree_ha"] += ha
            continue
        entry["ours_only_ha" if row["ours"] else "ign_only_ha"] += ha
        reason = entry["reasons"].setdefault(
            row["reason"],
            {
                "reason": row["reason"],
                "label": labels[row["reason"]],
                "ours_only_ha": 0.0,
                "ign_only_ha": 0.0,
            },
        )
        reason["ours_only_ha" if row["ours"] else "ign_only_ha"] += ha
    for entry in result.values():
        entry["agree_share"] = _share(entry["agree_ha"], entry["compared_ha"])
        entry["reasons"] = sorted(entry["reasons"].values(), key=lambda r: r["reason"])
    return result


def per_commune(user, territory: Territory) -> list[dict]:
    """One row per commune of the territory: areas, shares and flows (ha). Two queries."""
    vintages = _vintages(user, territory)
    rows = {
        c["id"]: {
            "code": c["code"],
            "name": c["name"],
            "epci": c["siren_epci"],
            "departement": c["departement__code"],
            "M1_total_ha": None,
            "M1_artif_ha": None,
            "M1_share": None,
            "M2_total_ha": None,
            "M2_artif_ha": None,
            "M2_share": None,
            "artificialisation_ha": None,
            "desartificialisation_ha": None,
            "net_ha": None,
            "M1_ign_agree": None,
            "M2_ign_agree": None,
        }
        for c in territory.communes.order_by("code").values(
            "id", "code", "name", "siren_epci", "departement__code"
        )
    }
    stats = (
        ArtifStat.objects.filter(commune__in=territory.communes, vintage__in=vintages)
        .values("commune_id", "vintage__rank")
        .annotate(total=Sum("area"), artif=Sum("area", filter=Q(artif=True)))
    )
    for s in stats:
        row = rows[s["commune_id"]]
        rank, artif = s["vintage__rank"], s["artif"] or 0.0
        row[f"{rank}_total_ha"] = s["total"] / HA
        row[f"{rank}_artif_ha"] = artif / HA
        row[f"{rank}_share"] = _share(artif, s["total"])
    flow_deps = set(_flow_departements(user, territory))
    flows = (
        ArtifFlow.objects.filter(commune__in=territory.communes, departement__in=flow_deps)
        .values("commune_id", "kind")
        .annotate(a=Sum("area"))
    )
    for row in rows.values():
        if row["M1_total_ha"] is not None and row["M2_total_ha"] is not None:
            row["artificialisation_ha"] = row["desartificialisation_ha"] = 0.0
    for f in flows:
        key = (
            "artificialisation_ha"
            if f["kind"] == ArtifFlow.Kind.ARTIF
            else "desartificialisation_ha"
        )
        rows[f["commune_id"]][key] = f["a"] / HA
    for row in rows.values():
        if row["artificialisation_ha"] is not None:
            row["net_ha"] = row["artificialisation_ha"] - row["desartificialisation_ha"]
    # Agreement with IGN's own artificialisation, where the delivery carried it (%).
    compared = (
        IgnComparison.objects.filter(commune__in=territory.communes, vintage__in=vintages)
        .values("commune_id", "vintage__rank")
        .annotate(total=Sum("area"), agree=Sum("area", filter=Q(reason="")))
    )
    for c in compared:
        rows[c["commune_id"]][f"{c['vintage__rank']}_ign_agree"] = _share(
            c["agree"] or 0.0, c["total"]
        )
    return list(rows.values())


def commune_artif(vintage_id: int, commune_ids) -> dict[int, float]:
    """Artificialised m² per commune of one vintage (for the impact of a correction)."""
    rows = (
        ArtifStat.objects.filter(vintage_id=vintage_id, commune_id__in=list(commune_ids))
        .values("commune_id")
        .annotate(a=Sum("area", filter=Q(artif=True)))
    )
    found = {r["commune_id"]: r["a"] or 0.0 for r in rows}
    return {c: found.get(c, 0.0) for c in commune_ids}


# The territory's CSV (page and publication): one line per commune.
CSV_COLUMNS = [
    ("code", "code_insee"),
    ("name", "nom"),
    ("epci", "siren_epci"),
    ("departement", "departement"),
    ("M1_total_ha", "surface_ha"),
    ("M1_artif_ha", "artif_m1_ha"),
    ("M1_share", "part_artif_m1_pct"),
    ("M2_artif_ha", "artif_m2_ha"),
    ("M2_share", "part_artif_m2_pct"),
    ("artificialisation_ha", "artificialisation_ha"),
    ("desartificialisation_ha", "desartificialisation_ha"),
    ("net_ha", "artificialisation_nette_ha"),
    ("M1_ign_agree", "accord_ign_m1_pct"),
    ("M2_ign_agree", "accord_ign_m2_pct"),
]


def _cell(value):
    if value is None:
        return ""
    return round(value, 4) if isinstance(value, float) else value


def write_csv(out, rows):
    """One line per commune (the CSV of the territory page and of the publication)."""
    writer = csv.writer(out)
    writer.writerow([name for key, name in CSV_COLUMNS])
    for row in rows:
        writer.writerow([_cell(row[key]) for key, name in CSV_COLUMNS])
