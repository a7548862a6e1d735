"""What the calendar adds to a département's map: for each vintage, until when its feedback
loop is open — or, closed, why filing is not possible and when the loop opens."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.ops.formatting import long_date

from .calendar import LOOPS, loop_window
from .models import ProductionPlan


def loop_note(rank: str, feedback_open: bool, published: bool, window, today) -> str:
    """The sentence shown on the map for one vintage. `window`: (first day open, first day
    closed) from the département's plan, or None without a plan."""
    if published:
        return _("%(rank)s est publié : il ne change plus.") % {"rank": rank}
    if feedback_open:
        if window is None or window[1] <= today:
            return _("Retours %(rank)s ouverts.") % {"rank": rank}
        last = window[1] - datetime.timedelta(days=1)
        return _("Retours %(rank)s ouverts jusqu'au %(date)s inclus.") % {
            "rank": rank,
            "date": long_date(last),
        }
    if window is not None and today < window[0]:
        return _(
            "Retours %(rank)s fermés : la boucle s'ouvre le %(date)s, les signalements seront "
            "possibles à partir de cette date."
        ) % {"rank": rank, "date": long_date(window[0])}
    if window is not None:
        return _(
            "Retours %(rank)s clos depuis le %(date)s : les signalements ne sont plus possibles "
            "sur ce millésime."
        ) % {"rank": rank, "date": long_date(window[1])}
    return _("Retours %(rank)s fermés : aucune boucle n'est prévue pour l'instant.") % {
        "rank": rank
    }


def map_config(config: dict, request, departement) -> None:
    plan = (
        ProductionPlan.objects.filter(departement=departement)
        .prefetch_related("milestones")
        .first()
    )
    today = timezone.localdate()
    for vintage in config["vintages"]:
        rank = vintage["rank"]
        window = loop_window(plan, rank) if plan is not None and rank in LOOPS else None
        vintage["loop"] = loop_note(
            rank, vintage["feedbackOpen"], vintage.get("published", False), window, today
        )
