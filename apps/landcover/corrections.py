"""Corrections of a vintage's polygons — the one owner of applying, simulating and undoing.

A correction gives a polygon new codes: the whole polygon, or the part of it inside a drawn
shape (the polygon is split along the shape: the outside part keeps its codes, the inside
part becomes a new polygon). Every change writes a revision (append-only history).

* `apply` makes it (a signalement accepted, an operator's correction);
* `simulated` makes it inside a savepoint that is always rolled back, so that an estimate
  (the artificialisation impact of a filing) runs the very code a decision runs: they
  cannot disagree, conflicts included;
* `restore_original` takes the given polygons back to their state before any correction
  (their first revision's "before"; pieces split off removed) — set-based, for the quality
  report's "before corrections" figures, inside `simulated()`.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from apps.ops.rows import binary_cursor

from . import tiles
from .models import LandCoverPolygon, PolygonRevision, Vintage

# A part thinner than this (m²) is not a part: a split leaving less outside recodes the whole
# polygon; a shape covering less of the polygon is a conflict.
MIN_PART_M2 = 1.0


class CorrectionConflict(Exception):
    """The correction no longer applies to the polygon as it is (409 for a decision)."""


@contextmanager
def simulated():
    """Run a block in a transaction (a savepoint when nested) that is always rolled back:
    what-if computations with the real code, leaving nothing behind."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def split(polygon: LandCoverPolygon, shape):
    """(inside, outside) parts of a polygon along a drawn shape, as shapely multipolygons;
    (None, None) when the whole polygon takes the codes (a shape covering all but
    < MIN_PART_M2 of it). The outline is read from the database as WKB straight into
    shapely (a road network is 12 MB)."""
    import shapely

    with binary_cursor() as cur:
        cur.execute(
            f"SELECT ST_AsBinary(geom) FROM {LandCoverPolygon._meta.db_table} "
            "WHERE id = %s AND vintage_id = %s",
            [polygon.pk, polygon.vintage_id],
        )
        whole = shapely.from_wkb(bytes(cur.fetchone()[0]))
    drawn = shapely.from_wkb(bytes(shape.wkb))
    inside = _polygons(shapely.intersection(whole, drawn))
    if inside.is_empty or inside.area < MIN_PART_M2:
        raise CorrectionConflict(_("La forme dessinée ne recouvre plus le polygone."))
    outside = _polygons(cut_out(whole, drawn, inside.area))
    if outside.is_empty or outside.area < MIN_PART_M2:
        return None, None
    return inside, outside


def web_mercator(geom, srid: int):
    """A shapely geometry of `srid` in EPSG:3857: Lambert-93 by the fast projection
    (`ocsge.projection`, checked against PROJ), other CRS by PROJ."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    from ocsge.crs import LAMBERT_93
    from ocsge.projection import LambertToWebMercator

    if srid == LAMBERT_93:
        project = LambertToWebMercator()
    else:
        project = Transformer.from_crs(srid, 3857, always_xy=True).transform

    def transform(coords):
        x, y = project(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, transform)


def _polygons(geom):
    """The polygonal part of a shapely geometry, as a MultiPolygon."""
    import shapely

    return shapely.MultiPolygon([p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"])


def _ewkb(geom, srid: int) -> bytes:
    import shapely

    return shapely.to_wkb(shapely.set_srid(geom, srid), include_srid=True)


def cut_out(polygon, shape, inside_area: float):
    """`polygon` − `shape` (shapely geometries), ring by ring: holes the shape does not
    meet are kept as they are, the rest (each part's shell less the shape and the holes it
    meets) goes through GEOS's overlay. The difference of a 793,000-vertex road network with
    6,000 holes and a 1 km square took 6.7 s whole; its shell alone, 0.3 s. Checked by
    area (polygon = inside + outside), else the whole overlay."""
    import numpy as np
    import shapely

    pieces = []
    for part in shapely.get_parts(polygon):
        rings = shapely.get_rings(part)  # the shell, then the holes
        holes = shapely.polygons(rings[1:])
        met = np.zeros(len(holes), dtype=bool)
        if len(holes):
            met[shapely.STRtree(holes).query(shape, predicate="intersects")] = True
        cut = shapely.union_all([shape, *holes[met]])
        kept = rings[1:][~met]
        shell = shapely.Polygon(rings[0])
        if (
            cut.geom_type == "Polygon"
            and not cut.interiors
            and shapely.contains_properly(shell, cut)
        ):
            # Wholly inside the shell: a new hole, no overlay at all.
            rest = [shapely.Polygon(rings[0], [cut.exterior])]
        else:
            rest = shapely.get_parts(shapely.difference(shell, cut))
            rest = [r for r in rest if r.geom_type == "Polygon"]
        # Each kept hole goes back into the piece of the shell that holds it.
        owner = np.zeros(len(kept), dtype=np.int64)
        if len(rest) > 1 and len(kept):
            # Each piece (prepared once) asked which holes' points it contains.
            inner = shapely.STRtree(shapely.point_on_surface(shapely.polygons(kept)))
            owner[:] = -1
            for k, piece in enumerate(rest):
                owner[inner.query(piece, predicate="contains")] = k
        for k, r in enumerate(rest):
            holes_of = [*shapely.get_rings(r)[1:], *kept[owner == k]]
            pieces.append(shapely.polygons(shapely.get_exterior_ring(r), holes=holes_of or None))
    outside = shapely.MultiPolygon(pieces) if pieces else shapely.MultiPolygon()
    if abs(polygon.area - inside_area - outside.area) > 1e-8 * polygon.area + 0.01:
        return whole_difference(polygon, shape)
    return outside


def whole_difference(polygon, shape):
    """The plain overlay (what `cut_out` falls back to)."""
    import shapely

    return shapely.difference(polygon, shape)


def apply(
    polygon: LandCoverPolygon,
    code_cs: str,
    code_us: str,
    shape=None,
    *,
    author=None,
    cause: str = PolygonRevision.Cause.CORRECTION,
    origin: str = "",
    tag: str = "",
) -> list[int]:
    """Give `polygon` (or its part inside `shape`) the codes; returns the ids of the polygons
    written (the change layer and the indicators follow them).

    `origin` names the change in the revisions and the new piece's source (« signalement
    12 »); `tag` suffixes the piece's OCS GE id (« S12 »). The caller holds the polygon's row
    lock when decisions may race."""
    # The outline is read only to be split (a code-only correction never reads it).
    inside, outside = split(polygon, shape) if shape is not None else (None, None)
    touched = [polygon.pk]
    if inside is None:
        if (polygon.code_cs, polygon.code_us) == (code_cs, code_us):
            raise CorrectionConflict(
                _("Le polygone porte déjà ces codes : « déjà pris en compte ».")
            )
        _revise(polygon, code_cs, code_us, None, author, cause, origin)
    else:
        srid = shape.srid
        _revise(polygon, polygon.code_cs, polygon.code_us, outside, author, cause, origin, srid)
        inside = GEOSGeometry(memoryview(_ewkb(inside, srid)))
        piece = LandCoverPolygon.objects.create(
            vintage_id=polygon.vintage_id,
            # Without a tag, the revision that split it: a polygon split twice gets two ids.
            ocsge_id=f"{polygon.ocsge_id[:20]}-{tag or f'C{polygon.revision}'}"[:32],
            code_cs=code_cs,
            code_us=code_us,
            millesime=polygon.millesime,
            source=origin[:64],
            geom=inside,
            # IGN's flags describe the delivered polygon, this piece included.
            ign_artif=polygon.ign_artif,
            ign_crit_seuil=polygon.ign_crit_seuil,
        )
        PolygonRevision.objects.create(
            polygon=piece,
            revision=1,
            code_cs_before=polygon.code_cs,
            code_us_before=polygon.code_us,
            code_cs_after=code_cs,
            code_us_after=code_us,
            geom_before=inside,
            geom_after=inside,
            author=author,
            cause=cause,
            comment=_("découpé du polygone %(id)s (%(origin)s)")
            % {"id": polygon.ocsge_id, "origin": origin},
        )
        Vintage.objects.filter(pk=polygon.vintage_id).update(polygon_count=F("polygon_count") + 1)
        touched.append(piece.pk)
    _revised(polygon.vintage_id, [polygon.pk])  # the piece lies within the polygon
    return touched


def _revised(vintage_id: int, polygon_ids: list[int], removed: int = 0):
    """The vintage's revision (and polygon count, less `removed`) after a correction of
    these polygons, and the kept tiles that read them forgotten: one round trip."""
    forget, params = tiles.forget_statements(vintage_id, polygon_ids)
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {Vintage._meta.db_table} SET revision = revision + 1, "
            f"polygon_count = polygon_count - %s WHERE id = %s;\n{forget}",
            [removed, vintage_id, *params],
        )


def _revise(polygon, code_cs, code_us, geom, author, cause, origin, srid=None):
    """The polygon's new codes (and outline, when `geom`, a shapely geometry of `srid`, is
    given, with its Web Mercator copy) and its revision, in one
    statement: the revision's outlines before and after are copied from the row as it was
    and as it becomes, so an outline is sent at most once (a road network's 12 MB were sent
    three times, a second of the accept)."""
    set_geom = ""
    if geom is not None:
        set_geom = ", geom = ST_GeomFromEWKB(%(geom)b), geom_3857 = ST_GeomFromEWKB(%(mercator)b)"
    with binary_cursor() as cur:
        cur.execute(
            f"""
            WITH old AS (
                SELECT geom FROM {LandCoverPolygon._meta.db_table}
                WHERE id = %(id)s AND vintage_id = %(vintage)s
            ), new AS (
                UPDATE {LandCoverPolygon._meta.db_table}
                SET code_cs = %(cs)s, code_us = %(us)s, revision = %(revision)s{set_geom}
                WHERE id = %(id)s AND vintage_id = %(vintage)s RETURNING geom
            )
            INSERT INTO {PolygonRevision._meta.db_table} (
                polygon_id, revision, code_cs_before, code_us_before, code_cs_after,
                code_us_after, geom_before, geom_after, author_id, cause, comment, created_at)
            SELECT %(id)s, %(revision)s, %(cs_before)s, %(us_before)s, %(cs)s, %(us)s,
                   old.geom, new.geom, %(author)s, %(cause)s, %(comment)s, now()
            FROM old, new
            """,
            {
                "id": polygon.pk,
                "vintage": polygon.vintage_id,  # its partition alone is planned and read
                "cs": code_cs,
                "us": code_us,
                "revision": polygon.revision + 1,
                "geom": None if geom is None else _ewkb(geom, srid),
                "mercator": None if geom is None else _ewkb(web_mercator(geom, srid), 3857),
                "cs_before": polygon.code_cs,
                "us_before": polygon.code_us,
                "author": getattr(author, "pk", None),
                "cause": cause,
                "comment": origin,
            },
        )
    polygon.code_cs, polygon.code_us = code_cs, code_us
    polygon.revision += 1
    if geom is not None:
        # Changed in the database: read again if ever used (not here: 12 MB for a network).
        for name in ("geom", "geom_3857", "area"):
            polygon.__dict__.pop(name, None)


def revert(
    polygon_id: int, revision: int, pieces: list[int], *, author=None, origin=""
) -> list[int]:
    """Undo the correction that gave polygon `polygon_id` its revision `revision` (and split
    `pieces` off it): the pieces removed, the polygon given back its codes and outline as
    they were before, as a new revision (the history keeps both). Refused with
    CorrectionConflict when anything changed since. Returns the ids written (the change
    layer and indicators follow them); the caller holds the decision's lock."""
    table = LandCoverPolygon._meta.db_table
    polygon = (
        LandCoverPolygon.objects.select_for_update()
        .defer("geom", "geom_3857")
        .filter(pk=polygon_id)
        .first()
    )
    unchanged = LandCoverPolygon.objects.filter(pk__in=pieces, revision=1).count()
    if polygon is None or polygon.revision != revision or unchanged != len(pieces):
        raise CorrectionConflict(
            _("Le polygone a changé depuis cette décision : elle ne peut plus être annulée.")
        )
    split_off = bool(pieces)
    with connection.cursor() as cur:
        if pieces:
            cur.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [list(pieces)])
            cur.execute(
                f"DELETE FROM {PolygonRevision._meta.db_table} WHERE polygon_id = ANY(%s)",
                [list(pieces)],
            )
        # Outline and codes from the undone revision's « before », copied on the server; the
        # Web Mercator copy and the area follow the outline (the table's trigger).
        cur.execute(
            f"""
            WITH undone AS (
                SELECT code_cs_before, code_us_before, geom_before
                FROM {PolygonRevision._meta.db_table}
                WHERE polygon_id = %(id)s AND revision = %(revision)s
            ), old AS (
                SELECT code_cs, code_us, geom FROM {table}
                WHERE id = %(id)s AND vintage_id = %(vintage)s
            ), new AS (
                UPDATE {table} p
                SET code_cs = undone.code_cs_before, code_us = undone.code_us_before,
                    revision = %(revision)s + 1,
                    geom = CASE WHEN %(split)s THEN undone.geom_before ELSE p.geom END
                FROM undone WHERE p.id = %(id)s AND p.vintage_id = %(vintage)s
                RETURNING p.code_cs, p.code_us, p.geom
            )
            INSERT INTO {PolygonRevision._meta.db_table} (
                polygon_id, revision, code_cs_before, code_us_before, code_cs_after,
                code_us_after, geom_before, geom_after, author_id, cause, comment, created_at)
            SELECT %(id)s, %(revision)s + 1, old.code_cs, old.code_us, new.code_cs, new.code_us,
                   old.geom, new.geom, %(author)s, %(cause)s, %(comment)s, now()
            FROM old, new
            """,
            {
                "id": polygon_id,
                "vintage": polygon.vintage_id,  # its partition alone is planned and read
                "revision": revision,
                "split": split_off,
                "author": getattr(author, "pk", None),
                "cause": PolygonRevision.Cause.UNDO,
                "comment": origin,
            },
        )
    _revised(polygon.vintage_id, [polygon_id, *pieces], removed=len(pieces))
    return [polygon_id, *pieces]


def corrected_polygons(vintage) -> list[int]:
    """Ids of the vintage's polygons changed by a correction (not by the inference)."""
    revised = PolygonRevision.objects.filter(polygon__vintage=vintage).exclude(
        cause=PolygonRevision.Cause.INFERENCE
    )
    return list(revised.values_list("polygon_id", flat=True).distinct())


def restore_original(polygon_ids: list[int]):
    """The polygons back as they were before their first revision: pieces split off by a
    correction (their history starts at revision 1) removed, the others given back the codes
    and geometry their first revision had before. Two statements. Use inside `simulated()`
    (the revisions are kept: this is a view of the past, not an undo)."""
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM landcover_landcoverpolygon WHERE id IN (SELECT polygon_id FROM "
            "landcover_polygonrevision WHERE revision = 1 AND polygon_id = ANY(%s))",
            [polygon_ids],
        )
        cur.execute(
            """
            UPDATE landcover_landcoverpolygon p
            SET code_cs = r.code_cs_before, code_us = r.code_us_before, geom = r.geom_before
            FROM (
              SELECT DISTINCT ON (polygon_id) polygon_id, code_cs_before, code_us_before,
                     geom_before
              FROM landcover_polygonrevision WHERE polygon_id = ANY(%s)
              ORDER BY polygon_id, revision
            ) r
            WHERE p.id = r.polygon_id
            """,
            [polygon_ids],
        )
