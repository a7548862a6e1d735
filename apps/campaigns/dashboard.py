"""DDT / DREAL dashboard: the départements of a région, where each stands (read-only).

A fixed number of queries whatever the number of départements: plans with their milestones
(prefetched), vintages, and signalement counts grouped by département.
"""

from django.db.models import Count, Prefetch, Q
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.landcover.models import Vintage
from apps.landcover.scoping import visible_departements
from apps.signalements.models import Signalement
from apps.signalements.transitions import OPEN
from apps.territories.models import Region

from .models import Milestone, ProductionPlan


def _current(milestones, today):
    """The last milestone done, the next one planned, and those late."""
    done = [m for m in milestones if m.actual_date is not None]
    ahead = [m for m in milestones if m.actual_date is None]
    late = [m for m in ahead if m.planned_date < today]
    return (done[-1] if done else None), (ahead[0] if ahead else None), late


def departement_rows(departements, today):
    departements = departements.select_related("region").prefetch_related(
        Prefetch("vintages", queryset=Vintage.objects.order_by("rank")),
        Prefetch("plan__milestones", queryset=Milestone.objects.order_by("order")),
    )
    counts = {
        row["vintage__departement"]: row
        # The territories' feedback (the platform's coherence proposals: the quality report).
        for row in Signalement.objects.filter(
            vintage__departement__in=departements, kind=Signalement.Kind.CONTRIBUTION
        )
        .values("vintage__departement")
        .annotate(total=Count("id"), open=Count("id", filter=Q(status__in=OPEN)))
    }
    rows = []
    for dep in departements.order_by("code"):
        try:
            plan = dep.plan
        except ProductionPlan.DoesNotExist:
            plan = None
        milestones = list(plan.milestones.all()) if plan else []
        last, upcoming, late = _current(milestones, today)
        c = counts.get(dep.pk, {"total": 0, "open": 0})
        decided = c["total"] - c["open"]
        vintages = list(dep.vintages.all())
        rows.append(
            {
                "departement": dep,
                "plan": plan,
                "last": last,
                "next": upcoming,
                "late": late,
                "vintages": vintages,
                "loops_open": [v.rank for v in vintages if v.feedback_open],
                "published": bool(vintages)
                and all(v.state == Vintage.State.PUBLISHED for v in vintages),
                "received": c["total"],
                "decided": decided,
                "decided_pct": round(100 * decided / c["total"]) if c["total"] else None,
            }
        )
    return rows


def region_dashboard(request, code):
    region = Region.objects.filter(code=code).first()
    departements = visible_departements(request.user).filter(region__code=code)
    if region is None or not departements.exists():
        raise Http404(_("Région inconnue, ou aucun de ses départements n'est visible."))
    today = timezone.localdate()
    return render(
        request,
        "campaigns/region.html",
        {"region": region, "rows": departement_rows(departements, today), "today": today},
    )


def dashboard(request):
    """The régions the user may see: one link each (and the départements without région)."""
    departements = visible_departements(request.user)
    regions = Region.objects.filter(departements__in=departements).distinct().order_by("code")
    orphans = departements.filter(region__isnull=True)
    today = timezone.localdate()
    return render(
        request,
        "campaigns/dashboard.html",
        {"regions": regions, "rows": departement_rows(orphans, today) if orphans else []},
    )
