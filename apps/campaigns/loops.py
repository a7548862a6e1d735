"""Feedback loops follow the calendar; each event of the calendar sends its mails.

`sync(now)` is the one place that opens and closes loops and sends the calendar's mails:
run by Celery beat every few minutes and after every change a manager makes to a plan. It
only does what the dates say and each mail has a key, so running it twice, or on two
workers at once, changes nothing the second time.
"""

import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.landcover.models import CoverCode, UseCode, Vintage
from apps.signalements.models import Signalement
from apps.signalements.transitions import OPEN, Status
from apps.territories.models import Role

from . import ics
from .calendar import LOOPS, departement_organisations, loop_window
from .mail import enqueue, queued_keys
from .models import MEETINGS, Milestone, ProductionPlan, Step

REMINDER_DAYS = 7
INVITATION_DAYS = 42  # invitations go out six weeks before a meeting (at once if later)


def members(departement, roles):
    """Users with one of `roles` in an organisation whose territory touches the département."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__role__in=roles,
            memberships__organisation__in=departement_organisations(departement),
        )
        .distinct()
        .order_by("pk")
    )


def _context(plan, rank=None, **extra):
    dep = plan.departement
    context = {"departement": dep, "plan": plan, "rank": rank, **extra}
    context["map_path"] = reverse("landcover:map", args=[dep.code])
    if rank:
        opening, closing = loop_window(plan, rank)
        context.update(opens=opening, closes=closing, last_day=closing - datetime.timedelta(1))
    return context


def mail_each(users, prefix: str, kind: str, context, departement, attachments=()) -> int:
    """Queue the mail `kind` (its template too) to each user not mailed under `prefix` yet;
    one query finds those already queued, since the sync runs every few minutes. `context`
    is a dict, or a function of the user for personal mails. Returns how many were queued."""
    done = queued_keys(prefix)
    queued = 0
    for user in users:
        key = f"{prefix}user-{user.pk}"
        if key not in done:
            personal = context(user) if callable(context) else context
            queued += enqueue(
                key, kind, user, kind, personal, departement=departement, attachments=attachments
            )
    return queued


def switch_loop(plan, vintage, today, opening: bool):
    """Open or close a vintage's loop (its window says so): the flag, the milestone's actual
    date, and the launch or end mail to the département's contributors and IGN staff."""
    open_step, close_step, _results = LOOPS[vintage.rank]
    kind = "loop_open" if opening else "loop_close"
    Vintage.objects.filter(pk=vintage.pk).update(feedback_open=opening)
    Milestone.objects.filter(
        plan=plan, step=open_step if opening else close_step, actual_date__isnull=True
    ).update(actual_date=today)
    context = _context(plan, vintage.rank, vintage=vintage)
    day = context["opens"] if opening else context["closes"]
    staff = members(plan.departement, [Role.CONTRIBUTOR, Role.OPERATOR, Role.MANAGER])
    mail_each(
        staff, f"{kind.replace('_', '-')}:{vintage.pk}:{day}:", kind, context, plan.departement
    )


def remind(plan, vintage):
    context = _context(plan, vintage.rank, vintage=vintage)
    closes = context["closes"]
    contributors = members(plan.departement, [Role.CONTRIBUTOR])
    mail_each(
        contributors,
        f"loop-reminder:{vintage.pk}:{closes}:",
        "loop_reminder",
        context,
        plan.departement,
    )


def invite(milestone):
    """Invitations to a meeting, with an .ics; a new date sends an updated invitation."""
    plan = milestone.plan
    users = (
        get_user_model()
        .objects.filter(is_active=True, memberships__organisation__in=milestone.invitees.all())
        .distinct()
        .order_by("pk")
    )
    when = datetime.datetime.combine(milestone.date, milestone.time or datetime.time(14, 0))
    attachment = {
        "filename": "invitation.ics",
        "mimetype": "text/calendar",
        "content": ics.event(
            uid=f"ocsge-{plan.pk}-{milestone.step}@ocsge",
            start=timezone.make_aware(when),
            minutes=120,
            summary=f"OCS GE {plan.departement.code} — {milestone.get_step_display()}",
            location=milestone.place,
            sequence=int(timezone.now().timestamp() // 60) % 2**31,  # newer supersedes
        ),
    }
    context = _context(plan, meeting=milestone, when=when)
    mail_each(
        users,
        f"invitation:{milestone.pk}:{milestone.date}:{milestone.time}:",
        "invitation",
        context,
        plan.departement,
        attachments=[attachment],
    )


def results(plan, vintage):
    """The results mail of a loop, one per contributor who filed on the vintage."""
    authors = (
        get_user_model().objects.filter(signalements__vintage=vintage).distinct().order_by("pk")
    )
    mail_each(
        authors,
        f"results:{vintage.pk}:",
        "results",
        lambda user: _context(plan, vintage.rank, vintage=vintage, **results_groups(user, vintage)),
        plan.departement,
    )


CORRECTED = (Status.ACCEPTED,)
EXPLAINED = (Status.ALREADY_DONE, Status.REJECTED_OUT_OF_SPEC, Status.REJECTED_IRRELEVANT)


def results_groups(user, vintage) -> dict:
    """A contributor's signalements on a vintage, each in exactly one group: corrected,
    explained (a misunderstanding of the data, with the reason in plain words and the
    definition of the codes concerned), still open, withdrawn."""
    rows = list(
        Signalement.objects.filter(vintage=vintage, author=user)
        .select_related("reason")
        .order_by("pk")
    )
    cs = {c.code: c for c in CoverCode.objects.all()}
    us = {u.code: u for u in UseCode.objects.all()}
    for s in rows:
        s.current_cs, s.current_us = cs.get(s.code_cs_current), us.get(s.code_us_current)
        s.proposed_cs, s.proposed_us = cs.get(s.code_cs_proposed), us.get(s.code_us_proposed)
        s.path = reverse("signalements:detail", args=[s.pk])
    return {
        "corrected": [s for s in rows if s.status in CORRECTED],
        "explained": [s for s in rows if s.status in EXPLAINED],
        "still_open": [s for s in rows if s.status in OPEN],
        "withdrawn": [s for s in rows if s.status == Status.WITHDRAWN],
        "total": len(rows),
        "nomenclature_path": reverse("campaigns:nomenclature"),
    }


def sync(now=None) -> dict:
    """Apply every plan's dates at `now`: loops open or closed, reminders, invitations,
    results mails. Returns what it did (counts)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    done = {"opened": 0, "closed": 0}
    plans = (
        ProductionPlan.objects.select_related("departement")
        .defer("departement__geom")
        .prefetch_related("milestones")
    )
    for plan in plans:
        with transaction.atomic():
            vintages = {
                v.rank: v
                for v in Vintage.objects.select_for_update().filter(departement=plan.departement)
            }
            steps = {m.step: m for m in plan.milestones.all()}
            for rank, vintage in vintages.items():
                if vintage.state == Vintage.State.PUBLISHED:
                    continue  # published: read-only, its loop never reopens
                opening, closing = loop_window(plan, rank)
                should = opening <= today < closing
                if should != vintage.feedback_open:
                    switch_loop(plan, vintage, today, opening=should)
                    done["opened" if should else "closed"] += 1
                if should and today >= closing - datetime.timedelta(days=REMINDER_DAYS):
                    remind(plan, vintage)
                results_step = steps[LOOPS[rank][2]]
                if today >= results_step.date and today >= closing:
                    results(plan, vintage)
                    if results_step.actual_date is None:
                        Milestone.objects.filter(pk=results_step.pk).update(actual_date=today)
            for step in MEETINGS:
                meeting = steps[step]
                if meeting.date - datetime.timedelta(days=INVITATION_DAYS) <= today <= meeting.date:
                    invite(meeting)
            start = steps[Step.START]
            if start.actual_date is None and today >= start.planned_date:
                Milestone.objects.filter(pk=start.pk).update(actual_date=start.planned_date)
    return done


def digest(now=None) -> int:
    """The daily digest for operators and managers: signalements filed in the 24 hours
    before `now`, per département. Returns the number of mails queued."""
    now = now or timezone.now()
    since = now - datetime.timedelta(days=1)
    day = timezone.localdate(now)
    queued = 0
    new = Signalement.objects.filter(created_at__gte=since, created_at__lt=now)
    departement_ids = new.values_list("vintage__departement", flat=True).distinct()
    plans = ProductionPlan.objects.filter(departement__in=departement_ids)
    for plan in plans.select_related("departement").defer("departement__geom"):
        dep = plan.departement
        rows = list(
            new.filter(vintage__departement=dep)
            .select_related("organisation", "vintage")
            .order_by("-created_at")[:50]
        )
        total = new.filter(vintage__departement=dep).count()
        context = _context(
            plan,
            signalements=rows,
            total=total,
            queue_path=reverse("signalements:queue", args=[dep.code]),
        )
        queued += mail_each(
            members(dep, [Role.OPERATOR, Role.MANAGER]),
            f"digest:{dep.code}:{day}:",
            "digest",
            context,
            dep,
        )
    return queued


class LoopRefused(ValueError):
    """A loop that cannot open: its message says why (shown to the manager)."""


def open_now(plan, rank, today=None):
    """A manager opens a loop today (the opening date becomes today). Refused when the
    vintage is published (read-only) or the loop's closing date has passed."""
    today = today or timezone.localdate()
    opening_step, closing_step, _results = LOOPS[rank]
    published = Vintage.State.PUBLISHED
    if Vintage.objects.filter(departement=plan.departement, rank=rank, state=published).exists():
        raise LoopRefused(_("Ce millésime est publié : sa boucle ne rouvre plus."))
    closing = plan.milestones.get(step=closing_step).date
    if closing <= today:
        raise LoopRefused(
            _("La date de fin de cette boucle est passée : reportez-la d'abord dans le calendrier.")
        )
    Milestone.objects.filter(plan=plan, step=opening_step).update(actual_date=today)


def close_now(plan, rank, today=None):
    """A manager closes a loop today (the closing date becomes today)."""
    today = today or timezone.localdate()
    _opening, closing_step, _results = LOOPS[rank]
    Milestone.objects.filter(plan=plan, step=closing_step).update(actual_date=today)
