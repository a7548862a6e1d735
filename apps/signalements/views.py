"""The operators' queue (and the contributors' list) of a département's signalements."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from apps.landcover import tiles
from apps.landcover.models import CoverCode
from apps.landcover.scoping import visible_departements, visible_vintages
from apps.territories.models import Organisation
from apps.territories.permissions import Right, files_anywhere, may

from . import batch, conversation, decisions, errors, export
from .access import visible_signalements
from .api import (
    CountedPaginator,
    SignalementFilter,
    annotated,
    page_keys,
    page_rows,
    ranked,
    wgs84,
)
from .models import Attachment, BatchFiling, RejectionReason, SavedFilter, Signalement
from .transitions import OPEN, STATUS_COLOURS, Action, Status

# Saved selections of the queue, per user and département, at most.
MAX_SAVED_FILTERS = 20


def queue(request, code):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if request.method == "POST":
        if request.POST.get("do") == "model-proposals":
            return _ask_model(request, departement)
        return _saved_filters(request, departement)
    base = ranked(visible_signalements(request.user)).filter(vintage__departement=departement)
    params = request.GET.copy()
    params.setdefault("ordering", "priority")
    if "status" not in params and "open" not in params:
        params["open"] = "true"
    filterset = SignalementFilter(params, queryset=base)
    if (fmt := request.GET.get("format")) in ("csv", "gpkg") and filterset.is_valid():
        # The queue as filtered, in its order (at most export.EXPORT_MAX_ROWS rows).
        rows = annotated(filterset.qs.order_by(*_ordering(params)))[: export.EXPORT_MAX_ROWS]
        name = f"signalements_{departement.code}"
        if fmt == "csv":
            return export.as_csv(rows.iterator(), name)
        return export.as_geopackage(rows, name, departement.srid)
    keys = page_keys(filterset.qs.order_by(*_ordering(params)))
    page = CountedPaginator(keys, 50).get_page(request.GET.get("page"))
    page.object_list = page_rows(page.object_list)  # the page's 50 rows read whole
    colours = dict(CoverCode.objects.values_list("code", "colour"))
    for s in page:
        s.colour_current = colours.get(s.code_cs_current, "#cccccc")
        s.colour_proposed = colours.get(s.code_cs_proposed, "#cccccc")
    vintages = list(visible_vintages(request.user).filter(departement=departement).order_by("rank"))
    can_decide = may(request.user, Right.DECIDE, departement)
    points = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": s.pk,
                "geometry": json.loads(wgs84(s.location).geojson),
                "properties": {
                    "status": s.status,
                    "vintage": s.vintage_id,
                    "current": f"{s.code_cs_current} / {s.code_us_current}",
                    "proposed": f"{s.code_cs_proposed} / {s.code_us_proposed}",
                    "cs_current": s.code_cs_current,
                    "cs_proposed": s.code_cs_proposed,
                },
            }
            for s in page
        ],
    }
    return render(
        request,
        "signalements/queue.html",
        {
            "departement": departement,
            "filterset": filterset,
            "page": page,
            "can_decide": can_decide,
            "can_ask_model": may(request.user, Right.FINETUNE, departement),
            "is_contributor": files_anywhere(request.user),
            "reasons": RejectionReason.objects.filter(active=True),
            "vintages": vintages,
            "organisations": Organisation.objects.filter(
                pk__in=base.values("organisation_id")
            ).order_by("name"),
            "statuses": Status.choices,
            "kinds": Signalement.Kind.choices,
            "open_statuses": [str(st) for st in OPEN],
            "config": {
                "points": points,
                # Every visible vintage, one shown at a time (the current signalement's):
                # M1 and M2 compared at its place.
                "tiles": [
                    {
                        "id": v.pk,
                        "label": f"{v.rank} {v.millesime}",
                        "url": tiles.url_template("vintage", v.pk),
                    }
                    for v in vintages
                ],
                "statusColours": STATUS_COLOURS,
                "cs": colours,
                "api": reverse("signalement-list"),
                "vintages": reverse("vintage-list"),
                "labels": {
                    "current": _("actuel"),
                    "proposed": _("proposé"),
                    "numero": _("n°"),
                    "undo": pgettext("undo a decision", "Annuler"),
                    "undone": _("Décision annulée :"),
                },
                "bulk": reverse("signalement-bulk"),
                "actions": [a.value for a in Action],
                "statusLabels": {k: str(v) for k, v in Status.choices},
                # Both forms: the page picks one by the language's rule (`pluralFrom`).
                "closeRelated": [
                    _("Clore l'autre comme « déjà pris en compte »"),
                    _("Clore les %(n)s autres comme « déjà pris en compte »"),
                ],
                "picked": [
                    _("%(n)s coché : les décisions s'appliquent à lui"),
                    _("%(n)s cochés : les décisions s'appliquent à eux"),
                ],
                "confirmBulk": _("Appliquer « %(action)s » aux %(n)s signalements cochés ?"),
                "actionLabels": {k: str(v) for k, v in Action.choices},
                "chooseReason": _("Choisissez dans la liste un motif de la décision « %(kind)s »."),
                "related": [
                    _("%(n)s autre au même endroit : n° %(ids)s"),
                    _("%(n)s autres au même endroit : n° %(ids)s"),
                ],
                # The first count written in the plural: 2 in French (0 and 1 are
                # singular), 0 in English.
                "pluralFrom": 2 if get_language().startswith("fr") else 0,
            },
            "querystring": _without_page(request.GET),
            "saved_filters": SavedFilter.objects.filter(
                user=request.user.pk, departement=departement
            ),
        },
    )


def _ask_model(request, departement):
    """A production lead asks the retained model for its disagreements with a vintage (a task
    on the `gpu` queue); they come into the queue as « proposition du modèle »."""
    from apps.inference.models import ModelVersion
    from apps.inference.training import photos_of
    from apps.ops.dispatch import dispatch

    from .tasks import model_proposals_task

    if not may(request.user, Right.FINETUNE, departement):
        raise PermissionDenied
    vintage = (
        visible_vintages(request.user)
        .filter(departement=departement, pk=request.POST.get("vintage") or 0)
        .first()
    )
    if vintage is None or vintage.state == vintage.State.PUBLISHED:
        messages.error(request, _("Choisissez un millésime du département qui n'est pas publié."))
    elif photos_of(vintage) is None:
        messages.error(
            request,
            _("Les photos de ce millésime ne sont pas connues : le modèle ne peut le relire."),
        )
    elif ModelVersion.current_for(departement) is None:
        messages.error(request, _("Aucun modèle retenu dans le registre."))
    else:
        dispatch(model_proposals_task, vintage.pk)
        messages.success(
            request,
            _("Le modèle relit le %(rank)s : ses propositions arrivent dans la file.")
            % {"rank": vintage.rank},
        )
    return redirect(reverse("signalements:queue", args=[departement.code]))


def _saved_filters(request, departement):
    """Keep the current selection under a name, or forget one (the user's own only)."""
    from django.http import QueryDict

    if not request.user.is_authenticated:
        raise PermissionDenied
    mine = SavedFilter.objects.filter(user=request.user, departement=departement)
    query = QueryDict(request.POST.get("query", ""), mutable=True)
    for key in ("page", "format", "csrfmiddlewaretoken"):
        query.pop(key, None)
    back = reverse("signalements:queue", args=[departement.code])
    if request.POST.get("do") == "delete-filter":
        mine.filter(pk=request.POST.get("id") or 0).delete()
        return redirect(back)
    name = request.POST.get("name", "").strip()
    if not 0 < len(name) <= 80:
        messages.error(request, _("Donnez à la sélection un nom de 1 à 80 caractères."))
    elif not mine.filter(name=name).exists() and mine.count() >= MAX_SAVED_FILTERS:
        messages.error(
            request,
            _("%(n)d sélections enregistrées au plus : supprimez-en une.")
            % {"n": MAX_SAVED_FILTERS},
        )
    else:
        SavedFilter.objects.update_or_create(
            user=request.user,
            departement=departement,
            name=name,
            defaults={"query": query.urlencode()},
        )
        messages.success(request, _("Sélection « %(name)s » enregistrée.") % {"name": name})
    return redirect(f"{back}?{query.urlencode()}")


def _ordering(params):
    order = params.get("ordering", "priority")
    key = order.lstrip("-")
    if key not in {"priority", "created_at", "area"}:
        return ["priority", "-pk"]
    return [order, "-pk"]


def _without_page(get):
    q = get.copy()
    q.pop("page", None)
    return q.urlencode()


def detail(request, pk):
    """One signalement: its journal, comments and attachments; comment, answer, withdraw."""
    signalement = get_object_or_404(
        annotated(visible_signalements(request.user)).prefetch_related(
            "events__actor", "events__reason", "comments__author", "attachments"
        ),
        pk=pk,
    )
    if request.method == "POST":
        action = request.POST.get("do")
        text = request.POST.get("text", "").strip()
        try:
            if action == "comment":
                if not text:
                    raise errors.Refused(_("Le commentaire est vide."), "text")
                conversation.add_comment(request.user, signalement.pk, text)
            elif action in (Action.ANSWER, Action.WITHDRAW):
                decisions.apply_action(request.user, signalement.pk, action, message=text)
            elif action == "undo":
                decisions.undo(request.user, signalement.pk)
            else:
                raise errors.Refused(_("Action inconnue."), "do")
        except errors.Refused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("C'est enregistré."))
        return redirect("signalements:detail", pk=signalement.pk)
    is_author = signalement.author_id == request.user.pk
    return render(
        request,
        "signalements/detail.html",
        {
            "s": signalement,
            **_place_and_codes(signalement),
            "is_open": signalement.status in OPEN,
            "can_answer": is_author and signalement.status == Status.AWAITING_INFO,
            "can_withdraw": is_author and signalement.status in OPEN,
            # The journal is prefetched: its last event, without another query.
            "can_undo": request.user.is_authenticated
            and decisions.undo_refusal(
                request.user, signalement, (list(signalement.events.all()) or [None])[-1]
            )
            is None,
        },
    )


def _place_and_codes(signalement) -> dict:
    """The signalement's map (its place on the vintage's tiles, the drawn shape) and its
    codes with their labels and colours; once accepted, the polygon before and after."""
    from apps.landcover.models import CoverCode, PolygonRevision, UseCode

    cs = {c.code: c for c in CoverCode.objects.all()}  # 14 rows: labels and map colours
    us = {
        u.code: u
        for u in UseCode.objects.filter(
            code__in=[signalement.code_us_current, signalement.code_us_proposed]
        )
    }
    point = wgs84(signalement.location)
    shape = wgs84(signalement.geom)
    config = {
        "tiles": tiles.url_template("vintage", signalement.vintage_id),
        "location": [point.y, point.x] if point else None,
        "shape": json.loads(shape.geojson) if shape else None,
        "cs": {code: c.colour for code, c in cs.items()},
    }
    before_after = None
    # The last accept (an earlier one may have been undone, then accepted again).
    accept = next((e for e in reversed(signalement.events.all()) if e.corrected), None)
    if signalement.status == Status.ACCEPTED and accept is not None:
        revision = (
            PolygonRevision.objects.filter(
                polygon_id=accept.corrected["polygon"], revision=accept.corrected["revision"]
            )
            .only("code_cs_before", "code_us_before", "code_cs_after", "code_us_after")
            .first()
        )
        if revision is not None:
            before_after = {
                "before": (revision.code_cs_before, revision.code_us_before),
                "after": (signalement.code_cs_proposed, signalement.code_us_proposed),
                "split": bool(accept.corrected["pieces"]),
            }
    return {
        "current_cs": cs.get(signalement.code_cs_current),
        "current_us": us.get(signalement.code_us_current),
        "proposed_cs": cs.get(signalement.code_cs_proposed),
        "proposed_us": us.get(signalement.code_us_proposed),
        "place": config,
        "before_after": before_after,
    }


def attachment(request, pk, attachment_id):
    """An attachment, to those who may see its signalement (never a public media URL)."""
    signalement = get_object_or_404(visible_signalements(request.user), pk=pk)
    item = get_object_or_404(Attachment, pk=attachment_id, signalement=signalement)
    response = FileResponse(
        item.file.open("rb"),
        content_type=item.content_type,  # from the magic bytes checked at upload
        filename=item.name,
        as_attachment=item.content_type == "application/pdf",
    )
    # Shown on its own, the file can run nothing (defence in depth: only images and PDF
    # are accepted, and X-Content-Type-Options forbids sniffing another type).
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


def batch_filing(request, code):
    """File from a file (contributors of the département): the form; the file read at once
    (refused whole with the reason), then its rows checked and filed by a worker — the
    browser is sent to the filing's own page, which follows it (`batch_status`)."""
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not may(request.user, Right.FILE, departement):
        raise PermissionDenied(
            _("Seuls les contributeurs du territoire déposent des signalements.")
        )
    vintages = list(
        visible_vintages(request.user)
        .filter(departement=departement, feedback_open=True)
        .exclude(state="published")
        .order_by("rank")
    )
    refused = None
    if request.method == "POST":
        vintage_id = _int(request.POST.get("vintage"))
        upload = request.FILES.get("file")
        if vintage_id not in {v.pk for v in vintages}:
            refused = _("Choisissez un millésime dont la boucle de retours est ouverte.")
        elif upload is None:
            refused = _("Choisissez un fichier.")
        else:
            all_or_nothing = request.POST.get("mode", "all") != "valid"
            try:
                job = batch.start(request.user, vintage_id, upload, all_or_nothing)
            except (batch.BatchRefused, errors.Refused) as exc:
                refused = str(exc)
            else:
                return redirect("signalements:batch-status", code=code, job_id=job.pk)
    return render(
        request,
        "signalements/batch.html",
        {
            "departement": departement,
            "vintages": vintages,
            "refused": refused,
            "max_rows": settings.BATCH_FILING_MAX_ROWS,
            "max_mb": settings.BATCH_FILING_MAX_BYTES // 2**20,
            "recent": BatchFiling.objects.filter(
                user=request.user, vintage__departement=departement
            ).only("pk", "name", "state", "total", "filed", "created_at")[:5],
        },
    )


def _batch_job(request, code, job_id):
    """A filing from a file, its sender's only (404 to anyone else, as an unknown one)."""
    if not request.user.is_authenticated:
        raise Http404
    return get_object_or_404(
        BatchFiling.objects.select_related("vintage__departement").defer(
            "vintage__departement__geom", "rows"
        ),
        pk=job_id,
        user=request.user,
        vintage__departement__code=code,
    )


def batch_status(request, code, job_id):
    """A filing from a file: its progress while a worker checks the rows (the page asks
    `?format=json` every second), then each row's fate and the report."""
    job = _batch_job(request, code, job_id)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "state": job.state,
                "state_label": job.get_state_display(),
                "checked": job.checked,
                "total": job.total,
                "finished": job.finished,
            }
        )
    outcomes = batch.outcomes_of(job) if job.finished else None
    return render(
        request,
        "signalements/batch_status.html",
        {
            "departement": job.vintage.departement,
            "job": job,
            "outcomes": outcomes,
        },
    )


def batch_report(request, code, job_id):
    """A finished filing's report, for a spreadsheet (ligne, statut, signalement, message)."""
    from apps.ops.spreadsheet import csv_response

    job = _batch_job(request, code, job_id)
    if not job.finished:
        raise Http404
    return csv_response(f"rapport-depot-{job.pk}", batch.report_rows(batch.outcomes_of(job)))


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
