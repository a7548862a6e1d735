"""A territory's artificialisation report as a PDF, made on the server (ReportLab): what
an elected official or a DDT files in a dossier — the figures M1 and M2, the flows, the
breakdown by cover and use, the main changes, for an EPCI or a département each commune —
with the rule, the source and the date."""

from __future__ import annotations

from io import BytesIO

from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from ocsge.licence import LICENCE

from .queries import Level


def _ha(value, digits=2) -> str:
    return "—" if value is None else number_format(value, digits, force_grouping=True)


def render_pdf(territory, data: dict, communes: list[dict]) -> bytes:
    """The report of `territory` (`queries.summary` and `per_commune` as the page shows)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    out = BytesIO()
    level_name = {
        Level.COMMUNE: _("commune"),
        Level.EPCI: _("EPCI"),
        Level.DEPARTEMENT: _("département"),
        Level.REGION: _("région"),
    }[territory.level]
    title = f"{territory.name} ({level_name} {territory.code})"
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=_("Artificialisation — %(name)s") % {"name": title},
        author="OCS GE",
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.6 * cm,
        bottomMargin=1.6 * cm,
    )
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e9f0")),
            ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
            ("FONTSIZE", (0, 0), (-1, -1), 9),
        ]
    )

    def table(rows, widths=None):
        shown = Table(rows, colWidths=widths, repeatRows=1)
        shown.setStyle(grid)
        return shown

    story = [
        Paragraph(_("Artificialisation des sols"), styles["Title"]),
        Paragraph(title, styles["Heading2"]),
        Paragraph(
            _("OCS GE corrigée après la revue collaborative — état au %(date)s")
            % {"date": timezone.localdate().strftime("%d/%m/%Y")},
            styles["Normal"],
        ),
        Spacer(1, 0.4 * cm),
        Paragraph(_("Surfaces artificialisées"), styles["Heading3"]),
    ]
    rows = [[_("Millésime"), _("Artificialisé (ha)"), _("Surface (ha)"), _("Part (%)")]]
    for rank, figures in sorted(data["vintages"].items()):
        years = ", ".join(str(y) for y in figures.get("millesimes", []))
        rows.append(
            [
                f"{rank} {years}".strip(),
                _ha(figures["artif_ha"]),
                _ha(figures["total_ha"]),
                _ha(figures["share"]),
            ]
        )
    story.append(table(rows))
    flows = data["flows"]
    if flows["available"]:
        story += [
            Paragraph(_("Flux M1 → M2"), styles["Heading3"]),
            table(
                [
                    [_("Artificialisation (ha)"), _("Désartificialisation (ha)"), _("Nette (ha)")],
                    [
                        _ha(flows["artificialisation_ha"]),
                        _ha(flows["desartificialisation_ha"]),
                        _ha(flows["net_ha"]),
                    ],
                ]
            ),
        ]
        if flows["main_transitions"]:
            rows = [[_("Flux"), _("Avant"), _("Après"), _("ha")]]
            rows += [
                [
                    _("artificialisation") if t["kind"] == "artif" else _("désartificialisation"),
                    f"{t['cs_avant']} / {t['us_avant']}",
                    f"{t['cs_apres']} / {t['us_apres']}",
                    _ha(t["ha"]),
                ]
                for t in flows["main_transitions"][:10]
            ]
            story += [
                Paragraph(_("Principales évolutions M1 → M2"), styles["Heading3"]),
                table(rows),
            ]
    ranks = sorted(data["vintages"])
    for key, heading in (
        ("by_cs", _("Surface artificialisée par couverture (CS)")),
        ("by_us", _("Surface artificialisée par usage (US)")),
    ):
        if data[key]:
            rows = [[_("Code"), _("Libellé"), *[f"{r} (ha)" for r in ranks]]]
            rows += [
                [
                    row["code"],
                    Paragraph(row["label"], styles["BodyText"]),
                    *[_ha(row.get(r)) for r in ranks],
                ]
                for row in data[key]
            ]
            story += [
                Paragraph(heading, styles["Heading3"]),
                table(rows, [2.4 * cm, 7.6 * cm, *[3 * cm] * len(ranks)]),
            ]
    if territory.level != Level.COMMUNE and communes:
        rows = [[_("Commune"), _("INSEE"), _("Part M1 (%)"), _("Part M2 (%)"), _("Nette (ha)")]]
        rows += [
            [
                Paragraph(c["name"], styles["BodyText"]),
                c["code"],
                _ha(c.get("M1_share")),
                _ha(c.get("M2_share")),
                _ha(c.get("net_ha")),
            ]
            for c in communes
        ]
        story += [Paragraph(_("Par commune"), styles["Heading3"]), table(rows)]
    story += [
        Spacer(1, 0.5 * cm),
        Paragraph(
            _(
                "Règle du décret n° 2023-1096 (couples CS/US) ; les enclaves de moins de "
                "2 500 m² entourées de l'autre type de sol comptent avec lui (sauf le bâti de "
                "50 m² et plus). Source : OCS GE, IGN — %(licence)s."
            )
            % {"licence": LICENCE},
            styles["Italic"],
        ),
    ]
    doc.build(story)
    return out.getvalue()
