import datetime
from pathlib import Path

from csp.decorators import csp_update
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apps.landcover.models import CoverCode, UseCode, Vintage
from apps.landcover.scoping import visible_departements
from apps.territories.models import Departement, Organisation
from apps.territories.permissions import Right, may

from . import loops, publication, quality
from .calendar import LOOPS, create_plan, departement_organisations, loop_window
from .dashboard import departement_rows
from .models import (
    Milestone,
    Notification,
    NotificationSetting,
    OutboxMail,
    ProductionPlan,
    Publication,
)


def can_manage(user, departement) -> bool:
    """Plans, loops and mails are the production lead's (and the platform admin's)."""
    return may(user, Right.MANAGE_CALENDAR, departement)


class StartForm(forms.Form):
    start_date = forms.DateField(
        label=gettext_lazy("Date de départ"), widget=forms.DateInput(attrs={"type": "date"})
    )


class MilestoneForm(forms.ModelForm):
    def __init__(self, *args, departement=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["invitees"]
        if departement is not None:
            field.queryset = Organisation.objects.filter(
                pk__in=departement_organisations(departement)
            ).order_by("name")
        field.required = False
        # Each row's fields named after their step (a table cell has no label of its own).
        if self.instance.pk is not None:
            step = self.instance.get_step_display()
            for name in ("planned_date", "actual_date", "time", "place"):
                self.fields[name].widget.attrs["aria-label"] = f"{step} — {self.fields[name].label}"

    class Meta:
        model = Milestone
        fields = ["planned_date", "actual_date", "time", "place", "invitees"]
        widgets = {
            "planned_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "actual_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "invitees": forms.CheckboxSelectMultiple,
        }


MilestoneFormSet = forms.modelformset_factory(Milestone, form=MilestoneForm, extra=0)


def _check_loops(formset):
    """Each loop must close after it opens (dates as they will be)."""
    dates = {}
    for form in formset.forms:
        m = form.instance
        data = form.cleaned_data
        dates[m.step] = data.get("actual_date") or data.get("planned_date")
    errors = []
    for rank, (opening, closing, _results) in LOOPS.items():
        if dates.get(opening) and dates.get(closing) and dates[closing] <= dates[opening]:
            errors.append(
                _("La boucle %(rank)s doit se terminer après son ouverture.") % {"rank": rank}
            )
    return errors


def timeline(plan, today, width=760):
    """An SVG chart of the plan: a time axis, the two loops as bars, milestones as dots."""
    milestones = list(plan.milestones.all())
    first = min([m.date for m in milestones] + [today])
    last = max([m.date for m in milestones] + [today])
    span = max((last - first).days, 1)

    def x(day):
        return round(20 + (width - 40) * (day - first).days / span, 1)

    loops_ = []
    for row, rank in enumerate(LOOPS):
        opening, closing = loop_window(plan, rank)
        loops_.append(
            {
                "rank": rank,
                "x": x(opening),
                "w": max(x(closing) - x(opening), 2),
                "y": 30 + row * 22,
            }
        )
    dots = [
        {
            "x": x(m.date),
            "state": m.state_on(today),
            "label": m.get_step_display(),
            "date": m.date,
            "order": m.order + 1,
        }
        for m in milestones
    ]
    months = []
    month = first.replace(day=1)
    while month <= last:
        if month >= first:
            months.append({"x": x(month), "label": month})
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return {
        "width": width,
        "height": 110,
        "loops": loops_,
        "dots": dots,
        "months": months,
        "today": x(today),
    }


def plan_page(request, code):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    manager = can_manage(request.user, departement)
    plan = ProductionPlan.objects.filter(departement=departement).first()
    today = timezone.localdate()
    context = {
        "departement": departement,
        "plan": plan,
        "manager": manager,
        "today": today,
        "vintage_rows": vintage_rows(departement, manager),
    }
    if plan is None:
        start = StartForm(request.POST or None)
        if request.method == "POST":
            if not manager:
                raise PermissionDenied
            if start.is_valid():
                create_plan(departement, start.cleaned_data["start_date"], request.user)
                loops.sync()
                messages.success(request, _("Plan de production créé depuis le modèle."))
                return redirect("campaigns:plan", code=code)
        context["start_form"] = start
        return render(request, "campaigns/plan.html", context)
    queryset = plan.milestones.prefetch_related("invitees").order_by("order")
    formset = MilestoneFormSet(
        request.POST or None, queryset=queryset, form_kwargs={"departement": departement}
    )
    if request.method == "POST":
        if not manager:
            raise PermissionDenied
        errors = _check_loops(formset) if formset.is_valid() else []
        if formset.is_valid() and not errors:
            with transaction.atomic():
                formset.save()
            loops.sync()
            messages.success(request, _("Calendrier enregistré."))
            return redirect("campaigns:plan", code=code)
        context["loop_errors"] = errors
    vintages = {v.rank: v for v in departement.vintages.all()}
    rows = []
    for form in formset.forms:
        milestone = form.instance
        milestone.state = milestone.state_on(today)
        milestone.state_label = Milestone.State(milestone.state).label
        rows.append((milestone, form))
    context.update(
        formset=formset,
        rows=rows,
        chart=timeline(plan, today),
        loops=[
            {"rank": rank, "window": loop_window(plan, rank), "vintage": vintages.get(rank)}
            for rank in LOOPS
        ],
        mails=OutboxMail.objects.filter(departement=departement)[:100] if manager else [],
        publication=Publication.objects.filter(departement=departement).first(),
        figures=departement_rows(Departement.objects.filter(pk=departement.pk), today)[0],
        can_read_report=can_read_report(request.user, departement),
        blockers=publication.blockers(departement),
    )
    return render(request, "campaigns/plan.html", context)


def vintage_rows(departement, manager: bool) -> list[dict]:
    """Each vintage of the département with the states a manager may move it to (never
    « published » by hand: only the publication does that)."""
    rows = []
    for vintage in departement.vintages.order_by("rank"):
        allowed = Vintage.TRANSITIONS[Vintage.State(vintage.state)] - {Vintage.State.PUBLISHED}
        nxt = [(s.value, s.label) for s in Vintage.State if s in allowed] if manager else []
        rows.append({"vintage": vintage, "next": nxt})
    return rows


@require_POST
def vintage_state(request, code, rank):
    """A production lead moves a vintage of their département through its states (draft,
    in review, corrected); publication alone makes it « published »."""
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not can_manage(request.user, departement):
        raise PermissionDenied
    target = request.POST.get("state", "")
    with transaction.atomic():
        vintage = get_object_or_404(
            Vintage.objects.select_for_update(), departement=departement, rank=rank
        )
        if target == Vintage.State.PUBLISHED or target not in Vintage.State.values:
            messages.error(request, _("Seule la publication du département publie un millésime."))
            return redirect("campaigns:plan", code=code)
        try:
            vintage.transition(target)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                _("%(rank)s est maintenant « %(state)s ».")
                % {"rank": vintage.rank, "state": vintage.get_state_display()},
            )
    return redirect("campaigns:plan", code=code)


@require_POST
def loop_action(request, code, rank, action):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not can_manage(request.user, departement):
        raise PermissionDenied
    plan = get_object_or_404(ProductionPlan, departement=departement)
    if rank not in LOOPS or action not in ("open", "close"):
        raise PermissionDenied
    try:
        (loops.open_now if action == "open" else loops.close_now)(plan, rank)
    except loops.LoopRefused as exc:
        messages.error(request, str(exc))
        return redirect("campaigns:plan", code=code)
    loops.sync()
    if action == "open":
        messages.success(request, _("Boucle %(rank)s ouverte.") % {"rank": rank})
    else:
        messages.success(request, _("Boucle %(rank)s close.") % {"rank": rank})
    return redirect("campaigns:plan", code=code)


def can_read_report(user, departement) -> bool:
    """The quality report: IGN staff and the State services of the territory."""
    return may(user, Right.READ_QUALITY, departement)


def quality_page(request, code):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not can_read_report(request.user, departement):
        raise PermissionDenied
    data = quality.report(departement)
    if request.GET.get("format") == "csv":
        from apps.ops.spreadsheet import csv_response

        return csv_response(f"rapport_qualite_{departement.code}", quality.csv_rows(data))
    return render(
        request,
        "campaigns/quality.html",
        {"departement": departement, "data": data, "printable": "imprimer" in request.GET},
    )


@require_POST
def publish_view(request, code):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not can_manage(request.user, departement):
        raise PermissionDenied
    try:
        publication.publish(departement, request.user)
    except publication.Refused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Publication lancée : le paquet se prépare."))
    return redirect("campaigns:plan", code=code)


@csp_update({"connect-src": ["blob:"]})
def open_data(request):
    """Published départements and their files: open to everyone (Licence Ouverte 2.0), with a
    map drawn from the packages' PMTiles archives (read by range requests, no tile server)."""
    from django.urls import reverse

    published = list(
        Publication.objects.filter(state=Publication.State.DONE)
        .select_related("departement")
        .defer("departement__geom")
        .order_by("departement__code")
    )
    archives = [
        {
            "label": f"{p.departement.code} {p.departement.name} — {f['description']}",
            "url": reverse("campaigns:open-data-file", args=[p.departement.code, f["name"]]),
            "layer": "changes" if "_DIFFERENCE_" in f["name"] else "polygons",
        }
        for p in published
        for f in p.files
        if f["name"].endswith(".pmtiles")
    ]
    config = {
        "archives": archives,
        "cs": dict(CoverCode.objects.values_list("code", "colour")),
        "i18n": {"error": _("L'archive n'a pas pu être lue.")},
    }
    return render(
        request,
        "campaigns/open_data.html",
        {
            "published": published,
            "licence": publication.LICENCE,
            "licence_url": publication.LICENCE_URL,
            "config": config,
            "cover": CoverCode.objects.all(),
        },
    )


def open_data_catalogue(request):
    """The catalogue in DCAT-AP, JSON-LD (harvested by data.gouv.fr): public."""
    from .catalogue import catalogue

    return JsonResponse(
        catalogue(request),
        content_type="application/ld+json",
        json_dumps_params={"ensure_ascii": False, "indent": 1},
    )


def open_data_file(request, code, name):
    """A published file, whole or by byte range (the PMTiles map and GeoParquet readers read
    ranges); open to every origin, as open data."""
    from apps.ops.ranges import file_response

    from .catalogue import MEDIA_TYPES

    found = get_object_or_404(Publication, departement__code=code, state=Publication.State.DONE)
    if name not in {f["name"] for f in found.files}:
        raise Http404(_("Fichier inconnu."))
    path = Path(found.directory) / name
    content_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    response = file_response(request, path, name, content_type)
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "Content-Range, Content-Length, ETag"
    return response


def nomenclature(request):
    """The nomenclature with its definitions (linked from the results mails): public."""
    return render(
        request,
        "campaigns/nomenclature.html",
        {"cover": CoverCode.objects.all(), "use": UseCode.objects.all()},
    )


class NotificationForm(forms.ModelForm):
    class Meta:
        model = NotificationSetting
        fields = ["frequency"]
        widgets = {"frequency": forms.RadioSelect}


def mine(request):
    """« Mes signalements »: the user's signalements in every département, what happened to
    them (new since the last visit highlighted, then marked seen), and how to be told."""
    from django.contrib.auth.views import redirect_to_login

    from apps.signalements.models import Signalement

    from . import notifications

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    setting, _created = NotificationSetting.objects.get_or_create(user=request.user)
    if request.method == "POST":
        form = NotificationForm(request.POST, instance=setting)
        if form.is_valid():
            form.save()
            messages.success(request, _("Préférence enregistrée."))
            return redirect("campaigns:mine")
    else:
        form = NotificationForm(instance=setting)
    notes = list(
        Notification.objects.filter(user=request.user).only(
            "signalement_id", "what", "text", "created_at", "seen_at"
        )[:50]
    )
    visited = timezone.now()
    notifications.seen(request.user, before=visited)
    signalements = (
        Signalement.objects.filter(author=request.user)
        .select_related("vintage__departement")
        .defer("vintage__departement__geom", "geom", "location")
        .order_by("-created_at")[:200]
    )
    return render(
        request,
        "campaigns/mine.html",
        {"form": form, "notes": notes, "signalements": signalements},
    )
