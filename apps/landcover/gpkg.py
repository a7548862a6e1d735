"""Import and export of OCS GE GeoPackages in the official layout.

Import streams the file with pyogrio (Arrow batches), validates and encodes each batch in
worker threads (GEOS, and our fast paths in validity.py, ewkb.py, projection.py,
copybin.py), and writes it with one binary COPY into the polygon table, all in one
transaction: a refused file leaves the database exactly as it was. Export reads the current
revision with a server-side cursor and writes the same layout.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import shapely
import shapely.errors
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.utils.translation import gettext as _
from pyproj import CRS, Transformer

from apps.territories.models import SRID_L93, Departement
from ocsge import copybin, ewkb, validity
from ocsge.copybin import Stream
from ocsge.crs import OFFICIAL_CRS, identified_epsg, official_epsg
from ocsge.lazy import lazy_module
from ocsge.ogr import pyogrio
from ocsge.outline import InnerCells
from ocsge.projection import LambertToWebMercator

from . import partitions
from .delivery import Delivery, DeliveryRefused, Layer, opened
from .models import (
    ChangePiece,
    CoverCode,
    LandCoverPolygon,
    PolygonRevision,
    UseCode,
    Vintage,
    ZoneConstruite,
)

pc = lazy_module("pyarrow.compute")  # loaded when a file is read, not at start

LAYER = "OCCUPATION_SOL"
ZC_LAYER = "ZONE_CONSTRUITE"
REQUIRED = ("id", "code_cs", "code_us", "millesime")
OPTIONAL = ("source", "ossature", "id_origine", "code_or", "artif", "crit_seuil")
# IGN's artificialisation flags (recent editions), read as booleans from the spellings seen:
# `artif` is « artif » / « non artif »; `crit_seuil` a GeoPackage boolean, or text.
_TRUE = ("artif", "artificialisé", "artificialise", "true", "t", "1", "oui", "o", "yes", "y")
_FALSE = (
    "non artif",
    "non artificialisé",
    "non artificialise",
    "false",
    "f",
    "0",
    "non",
    "n",
    "no",
)
# Rows per batch: small enough that a batch's arrays (a few MB) are reused by the allocator
# rather than mapped fresh from the kernel each time (32,768 rows spent twice the system
# time, page faults, for no gain elsewhere).
BATCH_SIZE = 8_192
# Columns of the COPY, in the order `_BatchChecker._block` encodes them.
COPY_COLUMNS = (
    "vintage_id",
    "millesime",
    "ossature",
    "area",
    "revision",
    "ocsge_id",
    "code_cs",
    "code_us",
    "source",
    "id_origine",
    "code_or",
    "ign_artif",
    "ign_crit_seuil",
    "geom",
    "geom_3857",
)
WORKERS = 2
MAX_LISTED = 10
# Polygons may overrun the département's outline by this much (digitising noise), in metres.
OUTLINE_TOLERANCE_M = 1.0

ProgressFn = Callable[[int, int], None]


class ImportRefused(Exception):
    """The file was refused; nothing was written. `problems` lists what is wrong."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or []
        text = message if not self.problems else message + "\n" + "\n".join(self.problems)
        super().__init__(text)


@dataclass
class _Problems:
    """First offending rows of each kind of problem, and how many there are in all."""

    rows: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, labels):
        labels = list(labels)
        if not labels:
            return
        self.counts[kind] = self.counts.get(kind, 0) + len(labels)
        kept = self.rows.setdefault(kind, [])
        kept.extend(labels[: MAX_LISTED - len(kept)])

    def __bool__(self):
        return bool(self.counts)

    def lines(self) -> list[str]:
        return [
            f"- {kind} : {self.counts[kind]} " + _("ligne(s)") + f", ex. {', '.join(rows)}"
            for kind, rows in self.rows.items()
        ]


def _labels(rownum: np.ndarray, ids: np.ndarray, mask: np.ndarray) -> list[str]:
    """'#row (id)' for the rows selected by `mask`, to name offending rows."""
    return [f"#{r} ({i or '?'})" for r, i in zip(rownum[mask], ids[mask], strict=True)]


def _layer_info(layer: Layer) -> dict:
    """The OCCUPATION_SOL layer's fields, CRS, geometry type and count."""
    try:
        return pyogrio.read_info(layer.path, layer=layer.name)
    except Exception as exc:  # GDAL reports malformed tables in many ways
        raise ImportRefused(
            _("Couche %(layer)s illisible : %(why)s") % {"layer": layer, "why": exc}
        ) from exc


def _field_map(info: dict, layer: str, required=REQUIRED) -> dict[str, str]:
    """Our field name -> the file's (matched without regard to case)."""
    by_lower = {name.lower(): name for name in info["fields"]}
    missing = [name for name in required if name not in by_lower]
    if missing:
        raise ImportRefused(
            _("Champ(s) manquant(s) dans la couche %(layer)s : %(missing)s (présents : %(found)s).")
            % {"layer": layer, "missing": ", ".join(missing), "found": ", ".join(info["fields"])}
        )
    return {name: by_lower[name] for name in (*REQUIRED, *OPTIONAL) if name in by_lower}


def _crs_name(epsg: int | None, src) -> str:
    if epsg in OFFICIAL_CRS:
        return f"EPSG:{epsg} ({OFFICIAL_CRS[epsg]})"
    return f"EPSG:{epsg}" if epsg else src.name


def _transformers(info: dict, reproject: bool, srid: int, departement_code: str):
    """Transformer to the département's official CRS `srid`, or None when the file is in it
    already. Never implied: a file in another CRS is refused unless --reproject."""
    expected = f"EPSG:{srid} ({OFFICIAL_CRS[srid]})"
    crs = info.get("crs")
    if not crs:
        raise ImportRefused(
            _("Système de coordonnées absent : %(expected)s attendu pour le département %(code)s.")
            % {"expected": expected, "code": departement_code}
        )
    src = CRS.from_user_input(crs)
    epsg = identified_epsg(src)
    if epsg == srid:
        return None
    if not reproject:
        raise ImportRefused(
            _(
                "Système de coordonnées %(crs)s : le département %(code)s est en %(expected)s, "
                "son système officiel. Utilisez --reproject pour reprojeter."
            )
            % {"crs": _crs_name(epsg, src), "code": departement_code, "expected": expected}
        )
    return Transformer.from_crs(src, srid, always_xy=True)


def _apply(transformer: Transformer | None, geoms: np.ndarray) -> np.ndarray:
    if transformer is None:
        return geoms
    return shapely.transform(
        geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def _as_multi(geoms: np.ndarray) -> np.ndarray:
    single = shapely.get_type_id(geoms) == 3  # Polygon
    if single.any():
        out = geoms.copy()
        idx = np.flatnonzero(single)
        out[idx] = shapely.multipolygons(geoms[idx], indices=np.arange(len(idx)))
        return out
    return geoms


def _column(table, name: str | None, n: int, default, dtype=object):
    if name is None:
        return np.full(n, default, dtype=dtype)
    values = table.column(name).to_numpy(zero_copy_only=False)
    if dtype is object:
        return np.array(["" if v is None else str(v) for v in values], dtype=object)
    return values


@contextlib.contextmanager
def _gc_paused():
    """No cyclic garbage collection while batches stream: each batch makes some hundred
    thousand short-lived objects (freed by reference counting), and the collector's
    passes over them cost about a tenth of the import's time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _member(values: np.ndarray, known: set) -> np.ndarray:
    return np.fromiter((v in known for v in values), dtype=bool, count=len(values))


def _ewkb(geoms: np.ndarray, srid: int) -> np.ndarray:
    return shapely.to_wkb(shapely.set_srid(geoms, srid), include_srid=True, flavor="extended")


def _local_geometry(buf, geoms: np.ndarray, srid: int):
    """A geometry field of COPY rows in the département's CRS `srid`, as (its lengths, the
    head streams after the length, the tail): with `buf` (the file's WKB from
    `ewkb.multipolygons`), the file's own bytes after a shared 9-byte EWKB header, not
    copied; without, GEOS's EWKB of `geoms`."""
    if buf is None:
        local = Stream.of_items(_ewkb(geoms, srid))
        return local.lengths, [], local
    body = ewkb.bodies(buf)
    return body.lengths + 9, [ewkb.srid_header(len(body.starts) - 1, srid)], body


class _Undecodable(Exception):
    """A batch's text is not valid in its layer's declared encoding (the field, the error)."""


@dataclass
class _Checked:
    """One batch after checking: its problems and the columns ready for COPY."""

    n: int
    ids: np.ndarray
    label: Callable
    problems: list[tuple[str, list[str]]]
    invalid: int
    millesimes: dict[int, int]
    block: bytes | memoryview | None
    outline: object = None  # the batch's union, when the département's outline is built


@dataclass
class _BatchChecker:
    fields: dict[str, str]
    known_cs: set[str]
    known_us: set[str]
    to_local: Transformer | None  # into the département's CRS; None: the file is in it
    outline: object
    repair: bool
    srid: int = SRID_L93  # the département's official CRS
    vintage_id: int = 0
    geom_col: str = "geom"
    inner_cells: InnerCells | None = None
    build_outline: bool = False  # a new département: its outline is the polygons' union
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _transformer(self, target: str = "local"):
        """This thread's own transformer into the département's CRS (None when the file is
        in it) or to Web Mercator (pyproj transformers are not thread-safe). From Lambert-93,
        Web Mercator is computed by our checked fast projection (`ocsge.projection`); from
        the DROM's CRS, by PROJ."""
        if target == "local" and self.to_local is None:
            return None
        key = f"to_{target}"
        if getattr(self._local, key, None) is None:
            if target == "local":
                src, dst = self.to_local.source_crs, self.to_local.target_crs
            elif target == "3857_fast":  # a function of (x, y) arrays
                fast = LambertToWebMercator() if self.srid == SRID_L93 else None
                proj = Transformer.from_crs(self.srid, 3857, always_xy=True)
                setattr(self._local, key, fast or proj.transform)
                return getattr(self._local, key)
            else:
                src, dst = self.srid, 3857
            setattr(self._local, key, Transformer.from_crs(src, dst, always_xy=True))
        return getattr(self._local, key)

    def _outline(self):
        """This thread's own prepared copy of the outline (GEOS prepared geometries build
        their index lazily and must not be shared between threads)."""
        if getattr(self._local, "outline", None) is None:
            own = shapely.from_wkb(shapely.to_wkb(self.outline))
            shapely.prepare(own)
            self._local.outline = own
        return self._local.outline

    def _outside(self, geoms: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Polygons not covered by the outline. Those whose bounding box lies in grid cells
        wholly inside the outline are covered for sure; GEOS tests the others."""
        with self._lock:  # built once, by the first thread that needs it
            if self.inner_cells is None:
                self.inner_cells = InnerCells(self.outline)
        out = ~missing
        out[out] = ~self.inner_cells.covers_boxes(shapely.bounds(geoms[out]))
        idx = np.flatnonzero(out)
        # The prepared outline must be the first argument for GEOS to use its index.
        out[idx] = ~shapely.covers(self._outline(), geoms[idx])
        return out

    def _encoded(self, column, geoms: np.ndarray):
        """The EWKB of a batch (MultiPolygons) in the département's CRS with its SRID — as
        (length, head streams, tail) for COPY: the file's own bytes after a shared 9-byte
        header, not copied, when they can be — and the WKB in Web Mercator."""
        buf = ewkb.multipolygons(column) if self.to_local is None else None
        found = ewkb.rings(buf) if buf is not None else None
        if found is None:  # reprojected file, or WKB other than 2D little-endian
            mercator = Stream.of_items(_ewkb(_apply(self._transformer("3857"), geoms), 3857))
            return _local_geometry(None, geoms, self.srid), mercator
        mercator = ewkb.reprojected(buf, *found, self._transformer("3857_fast"))
        return _local_geometry(buf, geoms, self.srid), mercator

    def _text(self, batch, name: str | None, values: np.ndarray | None = None) -> Stream:
        """A text column as COPY sends it: Arrow's own UTF-8 buffers for string columns;
        other types through `values` (the strings the checks saw) or read again."""
        n = batch.num_rows
        if name is None:
            return Stream(np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64))
        column = batch.column(name)
        if pa.types.is_string(column.type):
            return Stream.text(column)
        if values is None:
            values = _column(batch, name, n, "")
        return Stream.of_items([v.encode() for v in values])

    def _check_encoding(self, batch):
        """Text that is not valid in the declared encoding (a Shapefile whose .cpg names
        another one): refused, naming the field (the server would refuse the bytes)."""
        for name in self.fields.values():
            column = batch.column(name)
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            try:
                column.validate(full=True)
            except pa.ArrowInvalid as exc:
                raise _Undecodable(f"{name}: {exc}") from exc

    def _millesime(self, batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(years as floats, NaN where none, absent mask, unreadable mask): the year is an
        integer in some editions, text in others."""
        text = pc.utf8_trim_whitespace(
            pc.fill_null(pc.cast(batch.column(self.fields["millesime"]), pa.string()), "")
        )
        absent = np.asarray(pc.equal(text, ""), dtype=bool)
        year = np.asarray(pc.match_substring_regex(text, r"^[0-9]{4}(\.0+)?$"), dtype=bool)
        bad = ~absent & ~year
        mill = np.full(batch.num_rows, np.nan)
        if year.any():
            digits = pc.utf8_slice_codeunits(text, 0, 4).to_numpy(zero_copy_only=False)
            mill[year] = digits[year].astype(float)
        return mill, absent, bad

    def _ossature(self, batch, label) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(values, null mask, offending rows) of the optional integer field OSSATURE."""
        n = batch.num_rows
        name = self.fields.get("ossature")
        if name is None:
            return np.zeros(n, dtype=np.int16), np.ones(n, dtype=bool), []
        text = pc.utf8_trim_whitespace(pc.fill_null(pc.cast(batch.column(name), pa.string()), ""))
        empty = np.asarray(pc.equal(text, ""), dtype=bool)
        numeric = np.asarray(pc.match_substring_regex(text, r"^-?[0-9]{1,4}$"), dtype=bool)
        bad = ~empty & ~numeric
        if bad.any():
            return np.zeros(n, dtype=np.int16), empty, label(bad)
        values = pc.cast(pc.if_else(pa.array(empty), pa.scalar("0"), text), pa.int16())
        return np.asarray(values, dtype=np.int16), empty, []

    def _flag(self, batch, name, label) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(values, null mask, offending rows) of an optional yes/no field (IGN's `artif`,
        `crit_seuil`)."""
        n = batch.num_rows
        column = self.fields.get(name)
        if column is None:
            return np.zeros(n, dtype=np.uint8), np.ones(n, dtype=bool), []
        text = pc.utf8_lower(
            pc.utf8_trim_whitespace(pc.fill_null(pc.cast(batch.column(column), pa.string()), ""))
        )
        yes = np.asarray(pc.is_in(text, pa.array(_TRUE)), dtype=bool)
        no = np.asarray(pc.is_in(text, pa.array(_FALSE)), dtype=bool)
        empty = np.asarray(pc.equal(text, ""), dtype=bool)
        bad = ~(yes | no | empty)
        return yes.astype(np.uint8), empty, label(bad) if bad.any() else []

    def _block(self, batch, ids, mill, ossature, no_ossature, flags, geoms) -> memoryview:
        """The batch's rows in COPY's binary format (columns as in `COPY_COLUMNS`)."""
        n, fields = batch.num_rows, self.fields
        (length, prefix, local), mercator = self._encoded(batch.column(self.geom_col), geoms)
        head = [
            copybin.field_count(n, len(COPY_COLUMNS)),
            *Stream.fixed(np.full(n, self.vintage_id), ">i8").with_length(),
            *Stream.fixed(mill, ">i2").with_length(),
            *Stream.fixed(ossature, ">i2", null=no_ossature).with_length(null=no_ossature),
            *Stream.fixed(shapely.area(geoms), ">f8").with_length(),
            *Stream.fixed(np.ones(n), ">i4").with_length(),
            *self._text(batch, fields["id"], ids).with_length(),
            *self._text(batch, fields["code_cs"]).with_length(),
            *self._text(batch, fields["code_us"]).with_length(),
            *self._text(batch, fields.get("source")).with_length(),
            *self._text(batch, fields.get("id_origine")).with_length(),
            *self._text(batch, fields.get("code_or")).with_length(),
            *[
                part
                for values, null in flags
                for part in Stream.fixed(values, "u1", null=null).with_length(null=null)
            ],
            Stream.fixed(length, ">i4"),
            *prefix,
        ]
        return copybin.rows([*head, local, *mercator.with_length()])

    def check(self, batch, first_row: int) -> _Checked:
        fields, n = self.fields, batch.num_rows
        self._check_encoding(batch)
        rownum = np.arange(first_row, first_row + n)
        ids = _column(batch, fields["id"], n, "")
        cs = _column(batch, fields["code_cs"], n, "")
        us = _column(batch, fields["code_us"], n, "")
        label = functools.partial(_labels, rownum, ids)
        found: list[tuple[str, list[str]]] = []

        def add(kind, mask):
            if mask.any():
                found.append((kind, label(mask)))

        add(_("code CS inconnu"), ~_member(cs, self.known_cs))
        add(_("code US inconnu"), ~_member(us, self.known_us))
        add(_("identifiant vide"), ids == "")
        _u, first = np.unique(ids, return_index=True)
        in_batch_dup = np.ones(n, dtype=bool)
        in_batch_dup[first] = False
        add(_("identifiant en double"), in_batch_dup)
        wkb = batch.column(self.geom_col).to_numpy(zero_copy_only=False)
        geoms = shapely.from_wkb(wkb, on_invalid="fix")
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        add(_("géométrie absente"), missing)
        add(
            _("géométrie autre que polygone"),
            ~missing & ~np.isin(shapely.get_type_id(geoms), (3, 6)),
        )
        geoms = _as_multi(_apply(self._transformer(), geoms))
        invalid = ~missing & ~validity.is_valid(geoms)
        if not self.repair:
            add(_("géométrie invalide (--repair pour la corriger)"), invalid)
        if self.outline is not None:
            add(_("polygone hors du département"), self._outside(geoms, missing))
        mill, no_mill, bad_mill = self._millesime(batch)
        add(_("millésime absent"), no_mill)
        add(_("millésime illisible (une année attendue)"), bad_mill)
        ossature, no_ossature, bad_ossature = self._ossature(batch, label)
        if bad_ossature:
            found.append((_("ossature non entière"), bad_ossature))
        flags = []
        for name in ("artif", "crit_seuil"):
            values, null, bad = self._flag(batch, name, label)
            if bad:
                found.append((_("%(field)s illisible (oui/non attendu)") % {"field": name}, bad))
            flags.append((values, null))
        years, counts = np.unique(mill[~np.isnan(mill)], return_counts=True)
        checked = _Checked(
            n,
            ids,
            label,
            found,
            int(invalid.sum()),
            {int(y): int(c) for y, c in zip(years, counts, strict=True)},
            None,
        )
        if found:
            return checked  # the file is refused: no need to encode anything
        checked.block = self._block(
            batch, ids, mill.astype(np.int16), ossature, no_ossature, flags, geoms
        )
        if self.build_outline:
            checked.outline = _union(geoms[~invalid])
        return checked


def import_ocsge(
    path,
    departement_code: str,
    rank: str,
    *,
    name: str | None = None,
    reproject: bool = False,
    repair: bool = False,
    replace: bool = False,
    progress: ProgressFn | None = None,
) -> Vintage:
    """Import an OCS GE delivery into a new vintage; refuse it whole on any problem.

    `path`: the archive as downloaded (.7z, .zip), its extracted folder, a GeoPackage, or a
    Shapefile OCCUPATION_SOL.shp (`delivery.opened`)."""
    if rank not in Vintage.Rank.values:
        raise ImportRefused(_("Rang %s inconnu : M1 ou M2.") % rank)
    with contextlib.ExitStack() as stack:
        try:
            delivery = stack.enter_context(opened(path))
        except DeliveryRefused as exc:
            raise ImportRefused(str(exc)) from exc
        return _import(
            delivery,
            departement_code,
            rank,
            name=name,
            reproject=reproject,
            repair=repair,
            replace=replace,
            progress=progress,
            after=stack.callback,
        )


def _import(
    delivery: Delivery,
    departement_code: str,
    rank: str,
    *,
    name: str | None,
    reproject: bool,
    repair: bool,
    replace: bool,
    progress: ProgressFn | None,
    after: Callable,
) -> Vintage:
    """`after(f)`: f is called once the import's transaction has ended."""
    info = _layer_info(delivery.occupation)
    fields = _field_map(info, LAYER)
    geom_type = (info.get("geometry_type") or "").replace(" Z", "").replace(" M", "")
    if geom_type not in ("Polygon", "MultiPolygon", "Unknown"):
        raise ImportRefused(
            _("Géométries de type %s : Polygon ou MultiPolygon attendu.") % info["geometry_type"]
        )
    total = int(info.get("features") or 0)
    if total <= 0:
        raise ImportRefused(_("La couche %s est vide.") % LAYER)
    srid = official_epsg(departement_code)
    to_local = _transformers(info, reproject, srid, departement_code)
    if delivery.zones is not None:
        zones_crs = pyogrio.read_info(delivery.zones.path, layer=delivery.zones.name).get("crs")
        if not zones_crs or identified_epsg(zones_crs) != identified_epsg(info["crs"]):
            raise ImportRefused(
                _("%(zones)s n'est pas dans le système de coordonnées de %(occupation)s.")
                % {"zones": delivery.zones, "occupation": delivery.occupation}
            )
    started = time.perf_counter()
    known_cs = set(CoverCode.objects.values_list("code", flat=True))
    known_us = set(UseCode.objects.values_list("code", flat=True))
    # Our own transaction (a command, a worker): the rows are loaded from a second
    # connection and the indexes built two at a time (`partitions.BulkLoad`). Inside a
    # caller's transaction, everything stays in it.
    bulk = not connection.in_atomic_block

    with transaction.atomic():
        departement = Departement.objects.select_for_update().filter(code=departement_code).first()
        created_departement = departement is None
        if created_departement:
            departement = Departement.objects.create(
                code=departement_code, name=name or f"Département {departement_code}"
            )
        existing = Vintage.objects.filter(departement=departement, rank=rank).first()
        if existing is not None:
            if not replace:
                raise ImportRefused(
                    _(
                        "Le millésime %(rank)s du département %(code)s existe déjà "
                        "(%(n)d polygones) ; --replace pour le remplacer."
                    )
                    % {"rank": rank, "code": departement_code, "n": existing.polygon_count}
                )
            if existing.state == Vintage.State.PUBLISHED:
                raise ImportRefused(
                    _(
                        "Le millésime %(rank)s du département %(code)s est publié : il ne change "
                        "plus."
                    )
                    % {"rank": rank, "code": departement_code}
                )
            signalements = existing.signalements.count()
            if signalements:
                raise ImportRefused(
                    _(
                        "Le millésime %(rank)s du département %(code)s a %(n)d signalement(s) : "
                        "il ne peut pas être remplacé (ils porteraient sur des polygones "
                        "disparus)."
                    )
                    % {"rank": rank, "code": departement_code, "n": signalements}
                )
            _delete_vintage(existing)
        outline = None
        if departement.geom is not None:
            outline = departement.geom.buffer(OUTLINE_TOLERANCE_M)
            outline = shapely.from_wkb(bytes(outline.wkb))
        with partitions.staged_by_caller():
            vintage = Vintage.objects.create(
                departement=departement, rank=rank, millesime=0, source=Vintage.Source.IMPORT
            )
        # Rows go into a bare table; its indexes are built once, before or when it is
        # attached.
        if bulk:
            load = partitions.BulkLoad(vintage.id)
            after(load.close)
            staged, raw = load.table, load.cursor()
        else:
            staged = partitions.stage(vintage.id)
            raw = connection.cursor().cursor  # psycopg cursor under Django's wrapper
        problems = _Problems()
        seen_ids: set[str] = set()
        outline_parts: list = []
        millesimes: dict[int, int] = {}
        invalid_count = 0
        done = 0
        columns = [fields[k] for k in (*REQUIRED, *OPTIONAL) if k in fields]
        # FREEZE: the table is new in this transaction, so its rows are written frozen and
        # all-visible (no hint bits to set on first read, nothing for vacuum to do).
        copy_sql = f"COPY {staged} ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY, FREEZE)"
        checker = _BatchChecker(
            fields,
            known_cs,
            known_us,
            to_local,
            outline,
            repair,
            srid=srid,
            vintage_id=vintage.id,
            build_outline=created_departement,
        )
        # Batches are checked and encoded in worker threads (GEOS and numpy release the GIL)
        # while the main thread streams the previous ones into COPY.
        with (
            _gc_paused(),
            pyogrio.open_arrow(
                delivery.occupation.path,
                layer=delivery.occupation.name,
                columns=columns,
                batch_size=BATCH_SIZE,
                use_pyarrow=True,
            ) as src,
            raw.copy(copy_sql) as copy,
            ThreadPoolExecutor(max_workers=WORKERS) as pool,
        ):
            copy.write(copybin.SIGNATURE)
            meta, reader = src
            checker.geom_col = meta["geometry_name"] or "wkb_geometry"
            pending: deque = deque()
            first_row = 1

            def consume(checked: _Checked):
                nonlocal done, invalid_count
                for kind, labels in checked.problems:
                    problems.add(kind, labels)
                dup = np.array([i in seen_ids for i in checked.ids], dtype=bool)
                seen_ids.update(checked.ids)
                problems.add(_("identifiant en double"), checked.label(dup))
                invalid_count += checked.invalid
                for year, count in checked.millesimes.items():
                    millesimes[year] = millesimes.get(year, 0) + count
                if not problems:  # once refused, keep validating to list problems
                    copy.write(checked.block)
                    if checked.outline is not None:
                        outline_parts.append(checked.outline)
                done += checked.n
                if progress:
                    progress(done, total)

            try:
                for batch in reader:
                    pending.append(pool.submit(checker.check, batch, first_row))
                    first_row += batch.num_rows
                    if len(pending) > WORKERS:
                        consume(pending.popleft().result())
                while pending:
                    consume(pending.popleft().result())
            except _Undecodable as exc:
                # A Shapefile whose .cpg names another encoding than its text is in.
                raise ImportRefused(
                    _(
                        "%(layer)s : texte illisible dans l'encodage déclaré (%(why)s). "
                        "Vérifiez le fichier .cpg."
                    )
                    % {"layer": delivery.occupation, "why": exc}
                ) from exc
            if problems:
                # Leaving the COPY block would send the data: abort it instead.
                raise ImportRefused(
                    _("Fichier refusé, rien n'a été importé (%s) :") % delivery.source,
                    problems.lines(),
                )
            copy.write(copybin.TRAILER)
        count = raw.rowcount  # rows the COPY wrote
        streamed_s = time.perf_counter() - started
        with ThreadPoolExecutor(max_workers=2) as side:
            # The built-up zones are read and encoded, and a new département's outline is
            # joined from the batches' unions, while the server builds the indexes.
            zones = (
                side.submit(_zone_rows, delivery.zones, vintage.id, to_local, srid)
                if delivery.zones is not None
                else None
            )
            joined = (
                side.submit(_union, np.array(outline_parts, dtype=object))
                if created_departement and not invalid_count and outline_parts
                else None
            )
            if bulk:
                load.build()
                load.attach()
            else:
                partitions.attach(vintage.id)  # builds the partition's indexes
            indexed_s = time.perf_counter() - started - streamed_s
            if zones is not None:
                _write_zones(zones.result())
        if invalid_count and repair:
            _repair_invalid(vintage.id)
        vintage.polygon_count = count
        vintage.millesime = max(millesimes, key=millesimes.get) if millesimes else 0
        vintage.save(update_fields=["polygon_count", "millesime"])
        if created_departement and joined is not None:
            _set_outline(departement, joined.result())
        elif created_departement:
            # Polygons repaired after the COPY (--repair) are not in the batches' unions.
            _outline_from_polygons(departement, vintage)
    vintage.invalid_repaired = invalid_count if repair else 0
    vintage.import_seconds = {"streamed": streamed_s, "indexed": indexed_s}
    return vintage


def _delete_vintage(vintage: Vintage):
    """Delete a vintage and its polygons set-based (Django's collector would load them all)."""
    poly = LandCoverPolygon._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {ChangePiece._meta.db_table} WHERE departement_id = %s",
            [vintage.departement_id],
        )
        cur.execute(
            f"DELETE FROM {PolygonRevision._meta.db_table} WHERE polygon_id IN "
            f"(SELECT id FROM {poly} WHERE vintage_id = %s)",
            [vintage.id],
        )
        cur.execute(
            f"DELETE FROM {ZoneConstruite._meta.db_table} WHERE vintage_id = %s", [vintage.id]
        )
    partitions.drop(vintage.id)  # its rows with it, no dead rows left behind
    vintage.delete()


def _repair_invalid(vintage_id: int):
    """Repair invalid geometries in place with ST_MakeValid (polygonal part kept)."""
    table = LandCoverPolygon._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""
            UPDATE {table} SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(geom), 3))
            WHERE vintage_id = %s AND NOT ST_IsValid(geom)
            """,
            [vintage_id],
        )


def _zone_rows(layer: Layer, vintage_id: int, to_local, srid: int) -> bytes:
    """The ZONE_CONSTRUITE layer as binary COPY rows: read, made valid where it is not,
    encoded (prepared while the server builds the polygons' indexes)."""
    meta, table = pyogrio.read_arrow(layer.path, layer=layer.name)
    fields = {name.lower(): name for name in meta["fields"]}
    column = table.column(meta["geometry_name"] or "wkb_geometry")
    geoms = _as_multi(_apply(to_local, shapely.from_wkb(column.to_numpy(zero_copy_only=False))))
    n = len(geoms)
    invalid = ~validity.is_valid(geoms)
    buf = ewkb.multipolygons(column) if to_local is None and not invalid.any() else None
    if buf is None:
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    length, prefix, local = _local_geometry(buf, geoms, srid)
    ids = _column(table, fields.get("id"), n, "")
    mill = _column(table, fields.get("millesime"), n, None, dtype=object)
    no_mill = np.array([m is None for m in mill], dtype=bool)
    head = [
        copybin.field_count(n, 4),
        *Stream.fixed(np.full(n, vintage_id), ">i8").with_length(),
        *Stream.of_items([i.encode() for i in ids]).with_length(),
        *Stream.fixed([0 if m is None else int(m) for m in mill], ">i2", null=no_mill).with_length(
            null=no_mill
        ),
        Stream.fixed(length, ">i4"),
        *prefix,
    ]
    return b"".join([copybin.SIGNATURE, copybin.rows([*head, local]), copybin.TRAILER])


def _write_zones(rows: bytes):
    with (
        connection.cursor() as cur,
        cur.cursor.copy(
            f"COPY {ZoneConstruite._meta.db_table} (vintage_id, ocsge_id, millesime, geom) "
            "FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(rows)


def _union(geoms: np.ndarray):
    """The union of polygons of a tessellation: GEOS's coverage union (linear in the edges,
    seconds faster than a general union on 300,000 polygons), or the general union when they
    are not a clean coverage (overlaps, gaps misaligned): its result is then invalid."""
    geoms = geoms[~shapely.is_missing(geoms)]
    if len(geoms) == 0:
        return None
    try:
        union = shapely.coverage_union_all(geoms)
        if shapely.is_valid(union):
            return union
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(geoms)


def _set_outline(departement: Departement, outline):
    """A new département's outline: the union of its polygons (the union of each batch's
    union, built while they streamed)."""
    if outline is None or outline.is_empty:
        return
    outline = shapely.get_parts(outline)
    outline = shapely.multipolygons(outline[shapely.get_type_id(outline) == 3])
    Departement.objects.filter(pk=departement.pk).update(
        geom=GEOSGeometry(memoryview(shapely.to_wkb(outline)), srid=departement.srid)
    )


def _outline_from_polygons(departement: Departement, vintage: Vintage):
    with connection.cursor() as cur:
        cur.execute(
            f"""
            UPDATE {Departement._meta.db_table} SET geom = (
              SELECT ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3))
              FROM {LandCoverPolygon._meta.db_table} WHERE vintage_id = %s)
            WHERE id = %s
            """,
            [vintage.id, departement.id],
        )


def polygon_chunks(cur, vintage: Vintage, chunk: int):
    """A vintage's polygons as the exports write them — the official layout's fields, then
    the geometry as WKB —, by chunks of rows from a server-side cursor (inside the caller's
    transaction): memory stays bounded on a million polygons."""
    rows = cur.connection.cursor(name=f"export_{vintage.pk}")
    rows.itersize = chunk
    try:
        rows.execute(
            f"SELECT ocsge_id, code_cs, code_us, millesime, source, ossature, id_origine, "
            f"code_or, ST_AsBinary(geom) FROM {LandCoverPolygon._meta.db_table} "
            "WHERE vintage_id = %s ORDER BY id",
            [vintage.pk],
        )
        while batch := rows.fetchmany(chunk):
            yield batch
    finally:
        rows.close()


def export_ocsge(
    departement_code: str,
    rank: str,
    out_path,
    progress: ProgressFn | None = None,
    chunk: int = 100_000,
) -> int:
    """Write the current revision of a vintage in the official layout; return its size."""
    vintage = (
        Vintage.objects.select_related("departement")
        .defer("departement__geom")
        .filter(departement__code=departement_code, rank=rank)
        .first()
    )
    if vintage is None:
        raise ImportRefused(
            _("Aucun millésime %(rank)s pour le département %(code)s.")
            % {"rank": rank, "code": departement_code}
        )
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.stem + ".part.gpkg")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    names = ["id", "code_cs", "code_us", "millesime", "source", "ossature", "id_origine", "code_or"]
    total = vintage.polygon_count
    written = 0
    with transaction.atomic(), connection.cursor() as cur:
        # The layer is created empty, then each chunk appended (a vintage may have none).
        for rows in [[], *polygon_chunks(cur, vintage, chunk)]:
            cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(9)]
            arrays = [
                np.array(cols[0], dtype=object),
                np.array(cols[1], dtype=object),
                np.array(cols[2], dtype=object),
                np.array([-1 if v is None else v for v in cols[3]], dtype=np.int32),
                np.array(cols[4], dtype=object),
                np.array([-1 if v is None else v for v in cols[5]], dtype=np.int32),
                np.array(cols[6], dtype=object),
                np.array(cols[7], dtype=object),
            ]
            geoms = np.array([bytes(g) for g in cols[8]], dtype=object)
            pyogrio.raw.write(
                str(tmp),
                geoms,
                arrays,
                names,
                layer=LAYER,
                driver="GPKG",
                geometry_type="MultiPolygon",
                crs=f"EPSG:{vintage.departement.srid}",
                append=bool(rows),
            )
            written += len(rows)
            if progress and rows:
                progress(written, total)
        cur.execute(
            f"SELECT ocsge_id, millesime, ST_AsBinary(geom) FROM "
            f"{ZoneConstruite._meta.db_table} WHERE vintage_id = %s ORDER BY id",
            [vintage.id],
        )
        zones = cur.fetchall()
    if zones:
        ids, mills, wkbs = zip(*zones, strict=True)
        pyogrio.raw.write(
            str(tmp),
            np.array([bytes(g) for g in wkbs], dtype=object),
            [
                np.array(ids, dtype=object),
                np.array([-1 if m is None else m for m in mills], dtype=np.int32),
            ],
            ["id", "millesime"],
            layer=ZC_LAYER,
            driver="GPKG",
            geometry_type="MultiPolygon",
            crs=f"EPSG:{vintage.departement.srid}",
            append=True,
        )
    tmp.replace(out_path)
    return written


DIFF_LAYER = "DIFFERENCE"


def export_difference(departement, out_path) -> int:
    """Write the M1→M2 difference product (cs_avant, us_avant, cs_apres, us_apres and the
    geometry of each changed piece); return the number of pieces."""
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.stem + ".part.gpkg")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT cs_avant, us_avant, cs_apres, us_apres, ST_AsBinary(geom) "
            f"FROM {ChangePiece._meta.db_table} WHERE departement_id = %s ORDER BY id",
            [departement.pk],
        )
        rows = cur.fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(5)]
    pyogrio.raw.write(
        str(tmp),
        np.array([bytes(g) for g in cols[4]], dtype=object),
        [np.array(c, dtype=object) for c in cols[:4]],
        ["cs_avant", "us_avant", "cs_apres", "us_apres"],
        layer=DIFF_LAYER,
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=f"EPSG:{departement.srid}",
    )
    tmp.replace(out_path)
    return len(rows)
