"""CSV for spreadsheet users (a French LibreOffice or Excel opens it as is): UTF-8 with a
BOM (the accents), `;` between columns, decimal commas."""

from __future__ import annotations

import csv

from django.http import HttpResponse


def french(value):
    """A cell as a French spreadsheet reads it: decimal comma, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return value


def csv_response(name: str, rows) -> HttpResponse:
    """`rows` (the header first) as the download `name`.csv."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response, delimiter=";")
    for row in rows:
        writer.writerow([french(value) for value in row])
    return response
