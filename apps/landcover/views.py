from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.contrib.gis.db.models.functions import Transform
from django.db.models import Count, F, Prefetch
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.territories.permissions import Right, files_anywhere, may

from . import contributions, tiles
from .derived import summarise
from .difference import vintage_pair
from .models import CoverCode, CoverSummary, UseCode, Vintage
from .scoping import visible_departements, visible_vintages


def home(request):
    departements = (
        visible_departements(request.user)
        .select_related("region")
        .prefetch_related(
            Prefetch(
                "vintages",
                queryset=visible_vintages(request.user).order_by("rank"),
                to_attr="visible",
            )
        )
        .annotate(commune_count=Count("communes", distinct=True))
        .order_by("code")
    )
    return render(request, "landcover/home.html", {"departements": departements})


def departement_detail(request, code):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    vintages = list(visible_vintages(request.user).filter(departement=departement).order_by("rank"))
    legend = {
        code: (label, colour)
        for code, label, colour in CoverCode.objects.values_list("code", "label", "colour")
    }
    # Derived after each change (`derived.summarise`); built here only for a vintage whose
    # summary is not there yet (just imported, its derived data on their way).
    summarised = set(
        CoverSummary.objects.filter(vintage__in=vintages).values_list("vintage_id", flat=True)
    )
    missing = [v.pk for v in vintages if v.pk not in summarised and v.polygon_count]
    if missing:
        summarise(missing)
    stats = {}
    for row in CoverSummary.objects.filter(vintage__in=vintages).values(
        "vintage_id", "code_cs", "area", n=F("polygons")
    ):
        stats.setdefault(row["code_cs"], {})[row["vintage_id"]] = row
    table = [
        {
            "code": cs,
            "label": legend.get(cs, ("", ""))[0],
            "colour": legend.get(cs, ("", "#000000"))[1],
            "cells": [
                {
                    "n": by_vintage.get(v.id, {}).get("n", 0),
                    "ha": (by_vintage.get(v.id, {}).get("area") or 0) / 10_000,
                }
                for v in vintages
            ],
        }
        for cs, by_vintage in sorted(stats.items())
    ]
    return render(
        request,
        "landcover/departement.html",
        {
            "departement": departement,
            "vintages": vintages,
            "table": table,
            # Only the links to what this user may open (a page they may not is a 403).
            "can_read_quality": may(request.user, Right.READ_QUALITY, departement),
            "can_file": may(request.user, Right.FILE, departement),
            "can_run_inference": may(request.user, Right.RUN_INFERENCE, departement),
        },
    )


# The model's confidence in classes (lowest first in the legend), then no confidence at all
# (a delivered polygon, or small polygons aggregated at low zoom).
CONFIDENCE_CLASSES = [
    (0.0, "#d7191c", "< 50 %"),
    (0.5, "#fdae61", "50 – 70 %"),
    (0.7, "#ffffbf", "70 – 85 %"),
    (0.85, "#a6d96a", "85 – 95 %"),
    (0.95, "#1a9641", "≥ 95 %"),
]
NO_CONFIDENCE = "#bdbdbd"


def departement_map(request, code):
    """The map of a département: its visible vintages as vector tiles, M1/M2 comparison."""
    departement = get_object_or_404(visible_departements(request.user), code=code)
    vintages = list(visible_vintages(request.user).filter(departement=departement).order_by("rank"))
    extent = departement.communes.aggregate(e=Extent(Transform("geom", 4326)))["e"]
    pair = vintage_pair(departement)
    visible_ids = {v.pk for v in vintages}
    changes = pair is not None and {pair[0].pk, pair[1].pk} <= visible_ids
    config = {
        "departement": departement.code,
        "bounds": [[extent[1], extent[0]], [extent[3], extent[2]]] if extent else None,
        "vintages": [
            {
                "id": v.pk,
                "rank": v.rank,
                "millesime": v.millesime,
                "tiles": tiles.url_template("vintage", v.pk),
                "identify": reverse("vintage-polygon-at", args=[v.pk]),
                "feedbackOpen": v.feedback_open,
                "published": v.state == Vintage.State.PUBLISHED,
            }
            for v in vintages
        ],
        "changes": tiles.url_template("changes", departement.code) if changes else None,
        "communes": reverse("commune-list"),
        "signalements": reverse("signalement-list"),
        # The signalement page (comments, answers, attachments); "0" is replaced by the id.
        "signalementPage": reverse("signalements:detail", args=[0]),
        "check": reverse("signalement-check"),
        "canFile": files_anywhere(request.user),
        "cs": {
            c: {"label": lb, "colour": col}
            for c, lb, col in CoverCode.objects.values_list("code", "label", "colour")
        },
        "us": {
            c: {"label": lb, "colour": col}
            for c, lb, col in UseCode.objects.values_list("code", "label", "colour")
        },
        "fullDetailZoom": tiles.FULL_DETAIL_ZOOM,
        # Colours by the model's confidence (vintages it produced): where to look first.
        "confidence": [
            {"min": low, "colour": colour, "label": label}
            for low, colour, label in CONFIDENCE_CLASSES
        ],
        "noConfidence": {"colour": NO_CONFIDENCE, "label": _("sans confiance (livraison)")},
        "ortho": {"url": settings.ORTHO_WMTS_URL, "attribution": settings.ORTHO_ATTRIBUTION}
        if settings.ORTHO_WMTS_URL
        else None,
        "i18n": {
            "loading": _("Chargement…"),
            "nothing": _("Aucun polygone de ce millésime ici."),
            "error": _("Erreur du serveur, réessayez."),
            "area": _("Surface"),
            "millesime": _("Millésime"),
            "revision": _("Révision"),
            "history": _("Historique"),
            "noHistory": _("Aucune correction depuis l'import."),
            "confidence": _("Confiance du modèle"),
            "noCommune": _("Aucune commune trouvée."),
            "signalementsTitle": _("Signalements"),
            "noSignalement": _("Aucun signalement sur ce polygone."),
            "commentOpen": _("Commenter"),
            "commentSent": _("Commentaire envoyé."),
            "commentFailed": _("Le commentaire n'a pas pu être envoyé."),
            "report": _("Signaler une erreur"),
            "proposedCs": _("Couverture proposée"),
            "proposedUs": _("Usage proposé"),
            "comment": _("Commentaire"),
            "attachments": _("Photos ou documents (4 au plus, 16 Mo chacun)"),
            "draw": _("Dessiner la bonne limite"),
            "drawn": _("Forme dessinée : le signalement porte sur elle."),
            "drawStart": _("Cliquez pour commencer la forme."),
            "drawCont": _("Cliquez pour continuer la forme."),
            "drawEnd": _("Cliquez sur le premier point pour fermer la forme."),
            "drawError": _("Les côtés de la forme ne peuvent pas se croiser."),
            "impact": _("Si le signalement est accepté :"),
            "send": _("Envoyer"),
            "cancel": _("Annuler"),
            "sent": _("Signalement n° %(id)s déposé."),
            "numero": _("n°"),
            "locate": _("Me localiser"),
            "locateFailed": _("Position introuvable (autorisez la localisation, en HTTPS)."),
            "camera": _("Prendre une photo"),
            "mapKeyboard": _(
                "Carte : les flèches la déplacent, + et − zooment, Entrée interroge le polygone "
                "au centre."
            ),
        },
    }
    contributions.add_map_config(config, request, departement)
    return render(
        request,
        "landcover/map.html",
        {
            "departement": departement,
            "vintages": vintages,
            "config": config,
            "has_confidence": any(v.source == Vintage.Source.INFERENCE for v in vintages),
        },
    )
