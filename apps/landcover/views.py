from django.db.models import Count, Prefetch, Sum
from django.shortcuts import get_object_or_404, render

from .models import CoverCode, LandCoverPolygon
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
    legend = {code: (label, colour) for code, label, colour in
              CoverCode.objects.values_list("code", "label", "colour")}  # fmt: skip
    rows = (
        LandCoverPolygon.objects.filter(vintage__in=vintages)
        .values("vintage_id", "code_cs")
        .annotate(n=Count("id"), area=Sum("area"))
        .order_by("code_cs")
    )
    stats = {}
    for row in rows:
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
        {"departement": departement, "vintages": vintages, "table": table},
    )
