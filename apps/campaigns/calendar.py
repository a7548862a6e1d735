"""The production template (DESIGN §2) and the loop windows it implies."""

import datetime

from dateutil.relativedelta import relativedelta
from django.db import transaction

from apps.territories.models import Organisation

from .models import MEETINGS, Milestone, ProductionPlan, Step

# Month offsets from the start. "After" the M2 loop (results, quality report, publication)
# is set a month after its end; every date is editable.
TEMPLATE = [
    (Step.START, 0),
    (Step.MEETING_INFO, 2),
    (Step.MEETING_TRAINING, 4),
    (Step.M1_OPEN, 5),
    (Step.M1_CLOSE, 5.5),
    (Step.M1_RESULTS, 6),
    (Step.M2_OPEN, 7),
    (Step.M2_CLOSE, 11),
    (Step.M2_RESULTS, 12),
    (Step.MEETING_REVIEW, 15),
]
MEETING_TIME = datetime.time(14, 0)

# Loop of each rank: (opening step, closing step, results step).
LOOPS = {
    "M1": (Step.M1_OPEN, Step.M1_CLOSE, Step.M1_RESULTS),
    "M2": (Step.M2_OPEN, Step.M2_CLOSE, Step.M2_RESULTS),
}


def add_months(start: datetime.date, months: float) -> datetime.date:
    """`months` after `start`; a half month is 15 days."""
    whole = int(months)
    return (
        start + relativedelta(months=whole) + datetime.timedelta(days=round((months - whole) * 30))
    )


def default_invitees(departement, step):
    """The département's organisations; the DDT + DREAL meeting: State services of the
    région (DDT of the département, DREAL of the région) and IGN."""
    orgs = Organisation.objects.filter(pk__in=departement_organisations(departement))
    if step == Step.MEETING_REVIEW:
        orgs = orgs.filter(
            kind__in=[Organisation.Kind.DDT, Organisation.Kind.DREAL, Organisation.Kind.IGN]
        )
    return orgs


def departement_organisations(departement):
    """Ids of the organisations whose territory touches the département."""
    from django.db.models import Q

    return Organisation.objects.filter(
        Q(departements=departement)
        | Q(regions__departements=departement)
        | Q(communes__departement=departement)
    ).values("pk")


@transaction.atomic
def create_plan(departement, start: datetime.date, user=None) -> ProductionPlan:
    """A plan from the template; refused (ValueError) when the département has one."""
    if ProductionPlan.objects.filter(departement=departement).exists():
        raise ValueError("plan exists")
    plan = ProductionPlan.objects.create(departement=departement, start_date=start, created_by=user)
    Milestone.objects.bulk_create(
        Milestone(
            plan=plan,
            step=step,
            order=order,
            planned_date=add_months(start, offset),
            time=MEETING_TIME if step in MEETINGS else None,
        )
        for order, (step, offset) in enumerate(TEMPLATE)
    )
    for milestone in plan.milestones.filter(step__in=MEETINGS):
        milestone.invitees.set(default_invitees(departement, milestone.step))
    return plan


def loop_window(plan: ProductionPlan, rank: str) -> tuple[datetime.date, datetime.date]:
    """(first day open, first day closed) of a rank's loop: open iff first <= today < last."""
    opening, closing, _results = LOOPS[rank]
    dates = {m.step: m.date for m in plan.milestones.all()}
    return dates[opening], dates[closing]
