"""The M1→M2 difference product, set-based in PostGIS.

A piece is the intersection of an M1 polygon and an M2 polygon whose (CS, US) differ, with
`cs_avant, us_avant, cs_apres, us_apres` (the official difference layout).

Most polygons of M2 repeat an M1 polygon exactly (same boundary: the vintages share their
ossature). Such twins are matched first by an indexed equality test, and a twin pair whose
codes differ is a piece as is, with no overlay. Only the remaining polygons are overlaid,
after `ST_Subdivide` into parts of at most 256 vertices, so a huge polygon (a river, a road
network of 100,000 vertices) is never intersected whole with each of its small neighbours.
Such a polygon is first cut down to where it can make a piece — the boxes of the other
vintage's overlaid polygons of other codes that it meets — in one intersection: a road
network is then subdivided around its few changed neighbours, not whole (subdividing a
network of 300,000 vertices takes seconds).
Computed for a whole département in a few set-based statements, or for the polygons a
correction touched (`polygon_ids`), so an accepted signalement never recomputes the
département.
"""

from django.db import connection, transaction

from apps.ops.scratch import Scratch

from .models import ChangePiece, Vintage

# Pieces smaller than this (m²) are numerical noise of two boundaries drawn the same way.
MIN_PIECE_AREA = 1.0
SUBDIVIDE_VERTICES = 256
# A polygon of more vertices (a road network, a river) is too costly to relate, cut or
# subdivide whole: the change layer cuts it down to its neighbours' boxes before it is
# subdivided, the indicators intersect it with each commune (apps/artif/compute.py).
BIG_VERTICES = 10_000

_COLUMNS = (
    "departement_id, polygon_before_id, polygon_after_id, cs_avant, us_avant, cs_apres, "
    "us_apres, geom, geom_3857, area"
)

# Twins: same coordinates in both vintages (the box test uses the GiST index). Both vintages
# are partitions, so a twinned polygon overlaps nothing else: no overlay needed.
_TWINS = """
SELECT a.id AS aid, b.id AS bid
FROM landcover_landcoverpolygon a
JOIN landcover_landcoverpolygon b
  ON b.vintage_id = %(m2)s AND b.geom ~= a.geom AND b.geom = a.geom
WHERE a.vintage_id = %(m1)s {scope_a}
"""
_TWINS_OF_M2 = """
UNION
SELECT a.id, b.id
FROM landcover_landcoverpolygon b
JOIN landcover_landcoverpolygon a
  ON a.vintage_id = %(m1)s AND a.geom ~= b.geom AND a.geom = b.geom
WHERE b.vintage_id = %(m2)s AND b.id = ANY(%(ids)s)
"""

_TWIN_PIECES = f"""
INSERT INTO landcover_changepiece ({_COLUMNS})
SELECT %(dept)s, a.id, b.id, a.code_cs, a.code_us, b.code_cs, b.code_us,
       a.geom, a.geom_3857, a.area
FROM {{diff_twins}} t
JOIN landcover_landcoverpolygon a ON a.id = t.aid AND a.vintage_id = %(m1)s
JOIN landcover_landcoverpolygon b ON b.id = t.bid AND b.vintage_id = %(m2)s
WHERE (a.code_cs, a.code_us) IS DISTINCT FROM (b.code_cs, b.code_us)
"""

# The polygons to overlay, subdivided. {members}: which polygons take part.
_SIDES = f"""
SELECT p.id, p.vintage_id = %(m1)s AS is_a, p.code_cs, p.code_us,
       ST_Subdivide({{geom}}, {SUBDIVIDE_VERTICES}) AS g
FROM landcover_landcoverpolygon p {{join}}
WHERE p.vintage_id IN (%(m1)s, %(m2)s)
  AND NOT EXISTS (SELECT 1 FROM {{diff_twins}} t WHERE t.aid = p.id)
  AND NOT EXISTS (SELECT 1 FROM {{diff_twins}} t WHERE t.bid = p.id)
  {{members}}
"""
# Full: a polygon of many vertices is kept where it can make a piece only: within 1 m of the
# boxes of the other vintage's overlaid (not twinned) polygons of other codes that its box
# meets — their union, one row per such polygon. Without a row it makes no piece (its
# intersection with NULL subdivides into nothing). Work tables of their own (the overlaid
# polygons' boxes, `_LOOSE`, indexed; then the regions), joined by `_SIDES`, so that the
# overlay's sides are still cut by the parallel workers.
_LOOSE = f"""
SELECT p.id, p.vintage_id AS v, p.code_cs, p.code_us, ST_Expand(ST_Envelope(p.geom), 1) AS b,
       ST_NPoints(p.geom) > {BIG_VERTICES} AS big
FROM landcover_landcoverpolygon p
WHERE p.vintage_id IN (%(m1)s, %(m2)s)
  AND NOT EXISTS (SELECT 1 FROM {{diff_twins}} t WHERE t.aid = p.id)
  AND NOT EXISTS (SELECT 1 FROM {{diff_twins}} t WHERE t.bid = p.id)
"""
_TRIM_REGIONS = """
SELECT p.id, ST_Union(o.b) AS r
FROM {diff_loose} p
JOIN {diff_loose} o ON o.v <> p.v AND o.b && p.b
 AND (o.code_cs, o.code_us) IS DISTINCT FROM (p.code_cs, p.code_us)
WHERE p.big
GROUP BY p.id
"""
_TRIMMED = f"""
  CASE WHEN ST_NPoints(p.geom) <= {BIG_VERTICES} THEN p.geom
       ELSE ST_CollectionExtract(ST_Intersection(p.geom, tr.r), 3) END
"""
_TRIM_JOIN = "LEFT JOIN {diff_trim} tr ON tr.id = p.id"
# Incremental: the given polygons and the polygons of the other vintage their boxes meet,
# those cut to the box of the given polygons first (a neighbour may be huge).
_CLIPPED = """
  CASE WHEN p.id = ANY(%(ids)s) THEN p.geom
       ELSE ST_CollectionExtract(ST_MakeValid(ST_ClipByBox2D(p.geom, (
              SELECT ST_Extent(geom) FROM landcover_landcoverpolygon WHERE id = ANY(%(ids)s)
            ))), 3) END
"""
_MEMBERS_OF = """
  AND p.id IN (
    SELECT s.id FROM landcover_landcoverpolygon s
    WHERE s.id = ANY(%(ids)s) AND s.vintage_id IN (%(m1)s, %(m2)s)
    UNION
    SELECT n.id FROM landcover_landcoverpolygon s
    JOIN landcover_landcoverpolygon n
      ON n.vintage_id IN (%(m1)s, %(m2)s) AND n.vintage_id <> s.vintage_id AND n.geom && s.geom
    WHERE s.id = ANY(%(ids)s) AND s.vintage_id IN (%(m1)s, %(m2)s)
  )
"""

# Built as a work table (so it may run in parallel), then inserted.
_OVERLAY = """
SELECT %(dept)s AS dept, aid, bid, cs_a, us_a, cs_b, us_b, g, ST_Transform(g, 3857) AS g3857,
       ST_Area(g) AS area
FROM (
  SELECT aid, bid, cs_a, us_a, cs_b, us_b,
         ST_Multi(ST_CollectionExtract(ST_Union(piece), 3)) AS g
  FROM (
    SELECT pa.id AS aid, pb.id AS bid, pa.code_cs AS cs_a, pa.code_us AS us_a,
           pb.code_cs AS cs_b, pb.code_us AS us_b,
           ST_CollectionExtract(ST_Intersection(pa.g, pb.g), 3) AS piece
    FROM {diff_parts} pa
    JOIN {diff_parts} pb ON NOT pb.is_a AND pb.g && pa.g
    WHERE pa.is_a AND (pa.code_cs, pa.code_us) IS DISTINCT FROM (pb.code_cs, pb.code_us)
      AND ST_Intersects(pa.g, pb.g) {pair_scope}
  ) cut
  WHERE NOT ST_IsEmpty(piece)
  GROUP BY aid, bid, cs_a, us_a, cs_b, us_b
) pieces
WHERE NOT ST_IsEmpty(g) AND ST_Area(g) >= %(min_area)s
"""


DERIVED_LOCK = 7301  # advisory lock class: derived products of one département


def lock_derived(departement_id: int):
    """Serialise the updates of a département's derived data (change pieces, indicators) for
    the rest of the transaction: two corrections accepted at once in the same area would
    otherwise each delete, then each re-insert, the same pieces."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DERIVED_LOCK, departement_id])


def vintage_pair(departement) -> tuple[Vintage, Vintage] | None:
    """(M1, M2) of a département, or None while it lacks one of them."""
    by_rank = {v.rank: v for v in Vintage.objects.filter(departement=departement)}
    if Vintage.Rank.M1 in by_rank and Vintage.Rank.M2 in by_rank:
        return by_rank[Vintage.Rank.M1], by_rank[Vintage.Rank.M2]
    return None


def compute_difference(departement, polygon_ids=None) -> int:
    """(Re)compute the difference pieces of a département; returns the number written.

    With `polygon_ids` (polygons of M1 or M2 created, changed or deleted), only the pieces
    touching them are replaced. Without, the whole product is rebuilt.
    """
    pair = vintage_pair(departement)
    with transaction.atomic():
        lock_derived(departement.pk)
        if pair is None:
            ChangePiece.objects.filter(departement=departement).delete()
            return 0
        m1, m2 = pair
        params = {"dept": departement.pk, "m1": m1.pk, "m2": m2.pk, "min_area": MIN_PIECE_AREA}
        with connection.cursor() as cur:
            work = Scratch(
                cur,
                "diff_twins",
                "diff_loose",
                "diff_trim",
                "diff_parts",
                "diff_pieces",
                parallel_scans=polygon_ids is None,
            )
            if polygon_ids is None:
                cur.execute(
                    "DELETE FROM landcover_changepiece WHERE departement_id = %s",
                    [departement.pk],
                )
                twins, scope_a, members, pair_scope = _TWINS, "", "", ""
                geom, join = _TRIMMED, work.sql(_TRIM_JOIN)
            else:
                params["ids"] = list(polygon_ids)
                cur.execute(
                    "DELETE FROM landcover_changepiece WHERE departement_id = %(dept)s "
                    "AND (polygon_before_id = ANY(%(ids)s) OR polygon_after_id = ANY(%(ids)s))",
                    params,
                )
                twins, scope_a = _TWINS + _TWINS_OF_M2, "AND a.id = ANY(%(ids)s)"
                members, geom, join = _MEMBERS_OF, _CLIPPED, ""
                pair_scope = "AND (pa.id = ANY(%(ids)s) OR pb.id = ANY(%(ids)s))"
            work.create("diff_twins", twins, params, index=("(aid)", "(bid)"), scope_a=scope_a)
            cur.execute(work.sql(_TWIN_PIECES), params)
            written = cur.rowcount
            if polygon_ids is None:
                work.create("diff_loose", _LOOSE, params, index=("USING gist (b)",))
                work.create("diff_trim", _TRIM_REGIONS, params, index=("(id)",))
            work.create(
                "diff_parts",
                _SIDES,
                params,
                index=("USING gist (g)",),
                members=members,
                geom=geom,
                join=join,
            )
            work.create("diff_pieces", _OVERLAY, params, pair_scope=pair_scope)
            cur.execute(
                work.sql(
                    f"INSERT INTO landcover_changepiece ({_COLUMNS}) SELECT dept, aid, bid, "
                    "cs_a, us_a, cs_b, us_b, g, g3857, area FROM {diff_pieces}"
                ),
            )
            written += cur.rowcount
            work.drop()
            if polygon_ids is None:
                cur.execute("ANALYZE landcover_changepiece")  # read next by the flows
            return written
