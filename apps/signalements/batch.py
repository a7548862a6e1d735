"""Filing from a file (issue 21): a collectivité sends its proposals as a GeoPackage, a
GeoJSON, a zipped Shapefile or a CSV of lon/lat points — each row a place (a point, or a
drawn shape), the proposed CS/US and a comment. Every row is checked by the same rules as a
filing from the map (`filing.prepare`); the user chooses « all or nothing » (nothing is filed
when one row is refused) or « the valid ones »; a report names each row's fate.

Columns, in any case: `code_cs`, `code_us` (or `cs`, `us`), `commentaire` (or `comment`);
CSV: `lon`/`lat` (or `longitude`/`latitude`), WGS84, separator `,` or `;`, decimal point or
comma. Vector files in WGS84 or in the département's own CRS (Lambert-93, or the DROM's).
Limits: `BATCH_FILING_MAX_BYTES`, `BATCH_FILING_MAX_ROWS`.

The file is read in the request (refused whole at once, nothing written); its rows are
checked and filed by a worker (`run`), which counts them as it goes so that the page and the
API show the progress of a large file, and keeps each row's fate (`models.BatchFiling`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import shapely
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from pyproj import CRS, Transformer

from apps.territories.permissions import files_anywhere
from ocsge.crs import identified_epsg

from .errors import Forbidden, Refused
from .filing import Filing, file_signalement, prepare

WGS84 = 4326
MAX_COMMENT = 5000  # as a filing from the map
KINDS = (".gpkg", ".geojson", ".json", ".zip", ".csv")
ALIASES = {
    "code_cs": ("code_cs", "cs", "code_cs_propose", "cs_propose"),
    "code_us": ("code_us", "us", "code_us_propose", "us_propose"),
    "comment": ("commentaire", "comment", "remarque"),
    "lon": ("lon", "longitude", "lng"),
    "lat": ("lat", "latitude"),
}


class BatchRefused(Exception):
    """The file as a whole cannot be read (type, size, rows, CRS): nothing is filed."""


@dataclass
class Row:
    number: int  # as the user counts: the first data row is 1
    code_cs: str = ""
    code_us: str = ""
    comment: str = ""
    lon: float | None = None
    lat: float | None = None
    geom: str | None = None  # EWKT of a drawn shape
    problem: str = ""  # unreadable row


@dataclass
class Outcome:
    number: int
    filed: bool
    signalement_id: int | None
    message: str


def _pick(fields: dict[str, str], key: str) -> str | None:
    """The file's column for one of our fields (names compared without regard to case)."""
    for alias in ALIASES[key]:
        if alias in fields:
            return fields[alias]
    return None


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def _csv_rows(data: bytes) -> list[Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    fields = {name.strip().lower(): name for name in reader.fieldnames or []}
    lon, lat = _pick(fields, "lon"), _pick(fields, "lat")
    if lon is None or lat is None:
        raise BatchRefused(
            _("CSV : colonnes lon et lat (WGS84) attendues ; trouvées : %(found)s.")
            % {"found": ", ".join(reader.fieldnames or []) or _("aucune")}
        )
    rows = []
    for number, record in enumerate(reader, start=1):
        if number > settings.BATCH_FILING_MAX_ROWS:
            raise _too_many()
        row = Row(number, **_codes(record, fields))
        try:
            row.lon, row.lat = _number(record[lon] or ""), _number(record[lat] or "")
        except ValueError:
            row.problem = _("lon/lat illisibles : « %(lon)s », « %(lat)s »") % {
                "lon": record[lon],
                "lat": record[lat],
            }
        rows.append(row)
    return rows


def _codes(record: dict, fields: dict[str, str]) -> dict:
    values = {}
    for key in ("code_cs", "code_us", "comment"):
        column = _pick(fields, key)
        value = record.get(column) if column else None
        values[key] = "" if value is None else str(value).strip()
    return values


def _too_many():
    return BatchRefused(
        _("Plus de %(n)d lignes : découpez le fichier.") % {"n": settings.BATCH_FILING_MAX_ROWS}
    )


def _vector_rows(path: Path, srid: int) -> list[Row]:
    from ocsge.ogr import pyogrio  # here: 0.1 s of imports no page start should pay

    source = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)
    try:
        info = pyogrio.read_info(source)
        meta, _fids, geoms, values = pyogrio.raw.read(
            source, max_features=settings.BATCH_FILING_MAX_ROWS + 1
        )
    except Exception as exc:  # GDAL reports malformed files in many ways
        raise BatchRefused(_("Fichier illisible : %(why)s") % {"why": exc}) from exc
    if int(info.get("features") or 0) > settings.BATCH_FILING_MAX_ROWS:
        raise _too_many()
    epsg = identified_epsg(CRS.from_user_input(meta["crs"])) if meta.get("crs") else WGS84
    if epsg not in (WGS84, srid):
        raise BatchRefused(
            _("Système de coordonnées EPSG:%(found)s : WGS84 ou EPSG:%(srid)d attendu.")
            % {"found": epsg, "srid": srid}
        )
    to_wgs84 = Transformer.from_crs(epsg, WGS84, always_xy=True) if epsg != WGS84 else None
    fields = {name.lower(): name for name in meta["fields"]}
    columns = dict(zip(meta["fields"], values, strict=True))
    rows = []
    for i, wkb in enumerate(geoms):
        record = {name: column[i] for name, column in columns.items()}
        row = Row(i + 1, **_codes(record, fields))
        shape = shapely.from_wkb(wkb) if wkb is not None else None
        if shape is None or shape.is_empty:
            row.problem = _("géométrie absente")
        elif shape.geom_type == "Point":
            x, y = (shape.x, shape.y) if to_wgs84 is None else to_wgs84.transform(shape.x, shape.y)
            row.lon, row.lat = x, y
        elif shape.geom_type in ("Polygon", "MultiPolygon"):
            row.geom = f"SRID={epsg};{shapely.to_wkt(shape, rounding_precision=-1)}"
        else:
            row.problem = _("géométrie %(kind)s : point ou polygone attendu") % {
                "kind": shape.geom_type
            }
        rows.append(row)
    return rows


def read_rows(path: Path, name: str, srid: int) -> list[Row]:
    """The proposals of an uploaded file (`name`: as the user named it), or BatchRefused."""
    suffix = Path(name).suffix.lower()
    if suffix not in KINDS:
        raise BatchRefused(
            _("Type de fichier %(kind)s : GeoPackage, GeoJSON, Shapefile zippé ou CSV attendu.")
            % {"kind": suffix or _("inconnu")}
        )
    size = path.stat().st_size
    if size > settings.BATCH_FILING_MAX_BYTES:
        raise BatchRefused(
            _("Fichier de %(mb).1f Mo : %(max)d Mo au plus.")
            % {"mb": size / 2**20, "max": settings.BATCH_FILING_MAX_BYTES // 2**20}
        )
    rows = _csv_rows(path.read_bytes()) if suffix == ".csv" else _vector_rows(path, srid)
    if not rows:
        raise BatchRefused(_("Le fichier ne contient aucune ligne."))
    return rows


def _filing(vintage_id: int, row: Row) -> Filing:
    return Filing(
        vintage_id=vintage_id,
        code_cs_proposed=row.code_cs,
        code_us_proposed=row.code_us,
        comment=row.comment,
        lon=row.lon,
        lat=row.lat,
        geom=row.geom,
    )


def file_rows(
    user, vintage_id: int, rows: list[Row], all_or_nothing: bool, progress=None
) -> list[Outcome]:
    """Check every row as a filing from the map would be; file the valid ones — or, with
    `all_or_nothing`, all of them only when none is refused (one transaction).
    `progress(checked)` is called as rows are checked, then `progress(None)` before filing."""
    checked = []
    for row in rows:
        if progress:
            progress(len(checked))
        if len(row.comment) > MAX_COMMENT:
            row.problem = _("commentaire de plus de %(n)d caractères") % {"n": MAX_COMMENT}
        if row.problem:
            checked.append((row, None, row.problem))
            continue
        try:
            plan = prepare(user, _filing(vintage_id, row), with_impact=False)
        except Refused as exc:
            checked.append((row, None, str(exc)))
            continue
        checked.append((row, plan, ""))
    refused = [number for number, (_row, plan, _m) in enumerate(checked) if plan is None]
    if all_or_nothing and refused:
        return [
            Outcome(
                row.number,
                False,
                None,
                message or _("valide, non déposé : une autre ligne est refusée (tout ou rien)"),
            )
            for row, _plan, message in checked
        ]
    if progress:
        progress(None)
    outcomes = []
    with transaction.atomic():
        for row, plan, message in checked:
            if plan is None:
                outcomes.append(Outcome(row.number, False, None, message))
                continue
            signalement = file_signalement(user, _filing(vintage_id, row), plan=plan)
            outcomes.append(
                Outcome(
                    row.number,
                    True,
                    signalement.pk,
                    _("déposé : signalement n° %(id)d") % {"id": signalement.pk}
                    + (f" — {signalement.hint}" if signalement.hint else ""),
                )
            )
    return outcomes


def report_rows(outcomes: list[Outcome]) -> list[list]:
    """The per-row report: ligne, statut, signalement, message (the header first)."""
    return [
        ["ligne", "statut", "signalement", "message"],
        *(
            [o.number, _("déposé") if o.filed else _("refusé"), o.signalement_id or "", o.message]
            for o in outcomes
        ),
    ]


def read_upload(user, vintage_id: int, upload) -> list[Row]:
    """The rows of an uploaded file (Django's UploadedFile): written to a temporary file of
    its own suffix (GDAL reads by path) and read. BatchRefused when the file as a whole is
    refused."""
    import tempfile

    from apps.landcover.models import Vintage

    if not files_anywhere(user):
        raise Forbidden(_("Seuls les contributeurs déposent des signalements."))
    vintage = (
        Vintage.objects.select_related("departement")
        .defer("departement__geom")
        .filter(pk=vintage_id)
        .first()
    )
    srid = vintage.srid if vintage is not None else WGS84
    suffix = Path(upload.name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="depot-") as folder:
        path = Path(folder) / f"fichier{suffix}"
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
                if out.tell() > settings.BATCH_FILING_MAX_BYTES:
                    break
        return read_rows(path, upload.name, srid)


def start(user, vintage_id: int, upload, all_or_nothing: bool):
    """Read the file now (a file refused as a whole creates nothing), then have a worker
    check and file its rows, counting them as it goes (`run`). Returns the BatchFiling —
    already done when tasks run in the request (no broker)."""
    from apps.ops.dispatch import dispatch

    from .models import BatchFiling
    from .tasks import file_batch

    rows = read_upload(user, vintage_id, upload)
    job = BatchFiling.objects.create(
        user=user,
        vintage_id=vintage_id,
        name=Path(upload.name).name[:255],
        all_or_nothing=all_or_nothing,
        total=len(rows),
        rows=[asdict(row) for row in rows],
    )
    transaction.on_commit(lambda: dispatch(file_batch, job.pk))
    return job


PROGRESS_EVERY = 10  # rows between two progress counts written


def run(job_id: int) -> str:
    """Check and file a BatchFiling's rows (the worker's part of `start`): the count of rows
    checked is written every PROGRESS_EVERY rows (its own short statement, seen by the page
    at once), each row's fate kept. Safe to run twice: a finished one is left as it is."""
    from django.utils import timezone

    from .models import BatchFiling

    job = BatchFiling.objects.select_related("user").get(pk=job_id)
    if job.finished:
        return job.state
    mine = BatchFiling.objects.filter(pk=job_id)
    mine.update(state=BatchFiling.State.CHECKING, checked=0)

    def progress(checked):
        if checked is None:
            mine.update(state=BatchFiling.State.FILING, checked=job.total)
        elif checked % PROGRESS_EVERY == 0:
            mine.update(checked=checked)

    def failed(message):
        mine.update(
            state=BatchFiling.State.FAILED, message=message, rows=[], finished_at=timezone.now()
        )
        return BatchFiling.State.FAILED

    rows = [Row(**row) for row in job.rows]
    try:
        outcomes = file_rows(job.user, job.vintage_id, rows, job.all_or_nothing, progress)
    except (Refused, Forbidden) as exc:  # e.g. the loop closed while the rows were checked
        return failed(str(exc))
    except Exception:
        # The rows are filed in one transaction: none of them was.
        failed(_("Erreur inattendue pendant le dépôt : aucun signalement n'a été déposé."))
        raise
    mine.update(
        state=BatchFiling.State.DONE,
        checked=job.total,
        filed=sum(o.filed for o in outcomes),
        outcomes=[asdict(o) for o in outcomes],
        rows=[],
        finished_at=timezone.now(),
    )
    return BatchFiling.State.DONE


def outcomes_of(job) -> list[Outcome]:
    return [Outcome(**o) for o in job.outcomes]
