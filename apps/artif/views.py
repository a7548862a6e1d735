from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.landcover.models import CoverCode
from apps.ops.timeouts import longer_statements
from apps.territories.models import Epci

from .queries import Level, per_commune, summary, territory_or_404, write_csv


def _bars(rows, keys=("M1", "M2"), width=360):
    """Bar lengths (px) for an SVG chart of rows with one value per key."""
    top = max((row.get(k) or 0.0 for row in rows for k in keys), default=0.0) or 1.0
    for row in rows:
        row["bars"] = [
            {"key": k, "value": row.get(k), "px": round(width * (row.get(k) or 0.0) / top, 1)}
            for k in keys
        ]
    return rows


def _chart(data, width=360):
    """Horizontal bars: artificialised area M1 and M2, then the flows (ha)."""
    rows = [
        (f"{rank} {_('artificialisé')}", v["artif_ha"], f"bar-{rank}")
        for rank, v in sorted(data["vintages"].items())
    ]
    flows = data["flows"]
    if flows["available"]:
        rows += [
            (_("Artificialisation"), flows["artificialisation_ha"], "bar-artif"),
            (_("Désartificialisation"), flows["desartificialisation_ha"], "bar-desartif"),
            (_("Nette"), flows["net_ha"], "bar-net"),
        ]
    top = max((abs(v) for _label, v, _cls in rows), default=0.0) or 1.0
    bars = [
        {
            "label": label,
            "value": value,
            "px": round(width * abs(value) / top, 1),
            "y": 4 + 24 * i,
            "cls": cls,
        }
        for i, (label, value, cls) in enumerate(rows)
    ]
    return {"bars": bars, "height": 8 + 24 * len(rows)}


@longer_statements(settings.FIGURES_STATEMENT_TIMEOUT_MS)
def territory_page(request, level, code):
    """Figures of a territory: M1 vs M2, flows, breakdown by CS and US, choropleth."""
    found = territory_or_404(request.user, level, code)
    data = summary(request.user, found)
    communes = per_commune(request.user, found)
    colours = dict(CoverCode.objects.values_list("code", "colour"))
    for row in data["by_cs"]:
        row["colour"] = colours.get(row["code"], "#999999")
    context_chart = _chart(data)
    sub = []
    if level == Level.REGION:
        sub = [(d.code, d.name, Level.DEPARTEMENT) for d in found.departements]
    elif level == Level.DEPARTEMENT:
        epcis = Epci.objects.filter(communes__in=found.communes).distinct().order_by("name")
        sub = [(e.siren, e.name, Level.EPCI) for e in epcis]
    context = {
        "territory": found,
        "data": data,
        "communes": communes,
        "by_cs": _bars(data["by_cs"]),
        "by_us": data["by_us"],
        "chart": context_chart,
        "sub": sub,
        "levels": Level,
        "map_config": {
            "geojson": reverse("artif-communes", args=[level, code]),
            "labels": {
                "M1_share": _("Part artificialisée M1 (%)"),
                "M2_share": _("Part artificialisée M2 (%)"),
                "net_ha": _("Artificialisation nette M1→M2 (ha)"),
                "none": _("pas de données"),
            },
            "units": {"M1_share": "%", "M2_share": "%", "net_ha": "ha"},
        },
    }
    return render(request, "artif/territory.html", context)


@longer_statements(settings.FIGURES_STATEMENT_TIMEOUT_MS)
def territory_csv(request, level, code):
    """The territory's communes and their figures, one row each (UTF-8, comma, dot)."""
    found = territory_or_404(request.user, level, code)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="artificialisation_{level}_{found.code}.csv"'
    )
    write_csv(response, per_commune(request.user, found))
    return response


@longer_statements(settings.FIGURES_STATEMENT_TIMEOUT_MS)
def territory_pdf(request, level, code):
    """The territory's report as a PDF made on the server (`report.render_pdf`)."""
    from .report import render_pdf

    found = territory_or_404(request.user, level, code)
    pdf = render_pdf(found, summary(request.user, found), per_commune(request.user, found))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="artificialisation_{level}_{found.code}.pdf"'
    )
    return response
