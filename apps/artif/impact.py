"""What a correction would change in the artificialisation figures, before it is made.

The correction is made by `landcover.corrections.apply` — the code accepting runs — inside a
savepoint, what it can change is recomputed by the same code as after a real correction
(threshold rule included, patches wherever they extend), read, and everything is rolled
back (the figures before are read after the rollback): the
estimate can never disagree with what accepting does (a correction accepting would refuse
has no estimate).
"""

from apps.landcover import corrections
from apps.landcover.models import LandCoverPolygon
from apps.territories.models import Commune

from .compute import compute_vintage
from .models import ArtifStat
from .queries import commune_artif


def correction_impact(polygon: LandCoverPolygon, code_cs: str, code_us: str, geom=None):
    """Change of artificialised area (m²) per commune if `polygon` (or the part of it
    inside `geom`) took the codes (code_cs, code_us). None when the vintage's indicators
    are not computed. Returns {"communes": [{code, name, before_m2, after_m2, delta_m2}],
    "delta_m2": total}."""
    vintage_id = polygon.vintage_id
    if not ArtifStat.objects.filter(vintage_id=vintage_id).exists():
        return None
    with corrections.simulated():
        try:
            # A fresh copy: `apply` updates the instance it is given, the caller's stays.
            fresh = LandCoverPolygon.objects.get(pk=polygon.pk)
            touched = corrections.apply(fresh, code_cs, code_us, geom, origin="simulation")
        except corrections.CorrectionConflict:
            return None  # accepting would be refused as well
        # The communes the correction's patches meet, wherever they extend.
        communes = compute_vintage(polygon.vintage, touched)["communes"]
        after = commune_artif(vintage_id, communes)
    before = commune_artif(vintage_id, communes)  # rolled back: as they are
    rows = [
        {
            "code": code,
            "name": name,
            "before_m2": before[pk],
            "after_m2": after[pk],
            "delta_m2": after[pk] - before[pk],
        }
        for pk, code, name in Commune.objects.filter(pk__in=communes)
        .order_by("code")
        .values_list("pk", "code", "name")
    ]
    return {"communes": rows, "delta_m2": sum(r["delta_m2"] for r in rows)}


def format_delta(delta_m2: float | None) -> str:
    """« +0,42 ha artificialisés » / « −0,10 ha » / « aucun effet »."""
    from django.utils.formats import number_format
    from django.utils.translation import gettext as _

    if delta_m2 is None:
        return ""
    ha = delta_m2 / 10_000
    if abs(ha) < 0.005:
        return _("sans effet sur l'artificialisation")
    sign = "+" if ha > 0 else "−"
    return _("%(sign)s%(ha)s ha artificialisés") % {
        "sign": sign,
        "ha": number_format(abs(ha), 2),
    }
