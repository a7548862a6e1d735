"""The queue as filtered, exported: a CSV for spreadsheets (French headers, `;`, decimal
comma, a BOM so that spreadsheet software reads the accents) and a GeoPackage of points
for GIS (where each signalement was filed, in the département's CRS)."""

from __future__ import annotations

import io
import tempfile

import numpy as np
from django.http import FileResponse, HttpResponse

from .transitions import Status

# At most this many rows in one export (the filtered queue's first ones, in its order).
EXPORT_MAX_ROWS = 20_000

COLUMNS = [
    ("numero", lambda s: s.pk),
    ("statut", lambda s: Status(s.status).label),
    ("millesime", lambda s: s.rank),
    ("cs_actuel", lambda s: s.code_cs_current),
    ("us_actuel", lambda s: s.code_us_current),
    ("cs_propose", lambda s: s.code_cs_proposed),
    ("us_propose", lambda s: s.code_us_proposed),
    ("surface_m2", lambda s: s.area),
    ("confiance_modele", lambda s: s.model_confidence),
    ("impact_artif_m2", lambda s: s.artif_impact),
    ("organisation", lambda s: s.organisation.name if s.organisation else ""),
    ("depose_le", lambda s: s.created_at.strftime("%d/%m/%Y %H:%M")),
    ("commentaire", lambda s: s.comment),
]

# The GeoPackage's numeric columns (the others are text; a missing figure is NULL).
GPKG_TYPES = {
    "numero": np.int64,
    "surface_m2": np.float64,
    "confiance_modele": np.float64,
    "impact_artif_m2": np.float64,
}


def as_csv(rows, name: str) -> HttpResponse:
    from apps.ops.spreadsheet import csv_response

    return csv_response(
        name,
        [
            [column for column, _value in COLUMNS],
            *([value(s) for _column, value in COLUMNS] for s in rows),
        ],
    )


def as_geopackage(rows, name: str, srid: int) -> FileResponse:
    from ocsge.ogr import pyogrio

    rows = list(rows)
    fields = [
        np.array([value(s) for s in rows], dtype=GPKG_TYPES.get(column, object))
        for column, value in COLUMNS
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/{name}.gpkg"
        pyogrio.raw.write(
            path,
            np.array([bytes(s.location.wkb) for s in rows], dtype=object),
            fields,
            [column for column, _value in COLUMNS],
            layer="signalements",
            driver="GPKG",
            geometry_type="Point",
            crs=f"EPSG:{srid}",
        )
        with open(path, "rb") as f:
            data = io.BytesIO(f.read())
    return FileResponse(
        data,
        as_attachment=True,
        filename=f"{name}.gpkg",
        content_type="application/geopackage+sqlite3",
    )
