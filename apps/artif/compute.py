"""Artificialisation indicators, set-based in PostGIS: no Python loop over polygons.

Per vintage and commune (`compute_vintage`):

1. Each polygon is cut by the communes it meets (`a_pc`: its area in the commune, computed
   by intersection only for polygons crossing a commune boundary) and given the rule's flag
   (`ocsge_artif(cs, us)`, rule.py).
2. Threshold rule (décret n° 2023-1096, annex to article R. 101-1 of the code de
   l'urbanisme), applied to the union of artificialised land: first, its holes below
   2,500 m² are filled (a connected patch of non-artificialised polygons under 2,500 m²,
   enclosed in artificialised land, counts as artificialised); then, its islands below
   2,500 m² after filling are dropped (the reverse) — but a building (CS1.1.1.1) of 50 m²
   or more, the décret's threshold for built surfaces, is never dropped, nor the patch it
   belongs to. A patch only flips when it lies strictly inside one commune (touching no
   commune boundary): the land beyond a boundary is another territory's, and this keeps
   each commune's figures a function of its own polygons — the incremental update after a
   correction recomputes the communes the changed polygons meet and nothing else.
   Patches are found by clustering (`ST_ClusterDBSCAN`, distance 0) the small polygons
   only: a cluster that touches a same-kind polygon outside the candidates belongs to a
   bigger patch and never flips.
3. `ArtifStat` rows: area per (commune, CS, US, artificialised or not). EPCI, département
   and région figures are sums of these rows (queries.py).

Flows M1→M2 (`compute_flows`): the pieces of the overlay of both vintages where the
artificialisation differs: the difference product's pieces (`ChangePiece`, codes differ)
plus the overlaps of a flipped polygon with the other vintage's polygons of the same codes.
artificialised(M2) = artificialised(M1) + artificialisation − désartificialisation holds
up to the difference product's discarded slivers (< 1 m² each).
"""

import time

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from apps.landcover.difference import lock_derived, vintage_pair
from apps.landcover.models import Vintage
from apps.territories.models import Commune
from ocsge.artificialisation import BUILDING, BUILDING_THRESHOLD_M2, THRESHOLD_M2

from .models import ArtifStat

_POLYGON_COMMUNE = """
CREATE TEMP TABLE a_pc ON COMMIT DROP AS
SELECT pid, cid, code_cs, code_us, raw, parea, inside,
       CASE WHEN within THEN parea ELSE ST_Area(ST_Intersection(g, cg)) END AS area
FROM (
  SELECT p.id AS pid, c.id AS cid, p.code_cs, p.code_us, ocsge_artif(p.code_cs, p.code_us) AS raw,
         p.area AS parea, p.geom AS g, c.geom AS cg,
         -- only small polygons can flip: the others need not be tested
         p.area < %(threshold)s AND ST_ContainsProperly(c.geom, p.geom) AS inside,
         ST_Within(p.geom, c.geom) AS within
  FROM territories_commune c
  JOIN landcover_landcoverpolygon p
    ON p.vintage_id = %(v)s AND p.geom && c.geom AND ST_Intersects(p.geom, c.geom)
  WHERE c.id = ANY(%(communes)s)
) cut
"""

# Candidates of one step (small polygons strictly inside a commune, of the kind `{kind}`),
# with their geometry (indexed below), clustered per commune. {kind} is an SQL expression
# over a_pc's row `x`.
_CANDIDATES = """
CREATE TEMP TABLE {table} ON COMMIT DROP AS
SELECT x.pid, x.cid, x.parea, p.geom AS g,
       ST_ClusterDBSCAN(p.geom, 0, 1) OVER (PARTITION BY x.cid) AS k
FROM a_pc x JOIN landcover_landcoverpolygon p ON p.id = x.pid AND p.vintage_id = %(v)s
WHERE x.inside AND x.parea < %(threshold)s AND ({kind}) AND NOT ({kept})
"""

# The polygons of the same kind outside the candidates whose boxes meet a candidate, with
# their geometry (read once here: the next statement loops over them).
_OUTSIDE = """
CREATE TEMP TABLE {nb} ON COMMIT DROP AS
SELECT DISTINCT ON (n.id) n.id, n.geom FROM {table} s
JOIN landcover_landcoverpolygon n ON n.geom && s.g AND n.vintage_id = %(v)s
WHERE ({kind_n}) AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.pid = n.id)
ORDER BY n.id
"""

# Clusters that flip: under the threshold in total, and touching none of those polygons
# (which would make them part of a bigger patch). The outside polygon drives the loop
# (LATERAL): a big one (a road network of 100,000 vertices) is read and prepared once,
# then tested against each candidate its box meets.
_FLIPPING = """
CREATE TEMP TABLE {out} ON COMMIT DROP AS
SELECT s.pid, s.cid FROM {table} s
JOIN (
  SELECT cid, k FROM {table} GROUP BY cid, k HAVING sum(parea) < %(threshold)s
  EXCEPT
  SELECT DISTINCT hit.cid, hit.k
  FROM {nb} o
  CROSS JOIN LATERAL (
    SELECT s.cid, s.k FROM {table} s WHERE s.g && o.geom AND ST_Intersects(o.geom, s.g)
  ) hit
) flipping ON flipping.cid = s.cid AND flipping.k = s.k
"""


def _step(cur, params, candidates, out, kind, kept="false"):
    """One step of the threshold rule: `kind` is the kind of land whose small enclosed
    patches flip, an SQL template over {raw} (the rule's flag) and {id} (a polygon id);
    `kept`, over a_pc's row `x`: polygons of that kind that never flip (they still join
    their neighbours into a patch, which then never flips either)."""
    mine = kind.format(raw="x.raw", id="x.pid")
    cur.execute(_CANDIDATES.format(table=candidates, kind=mine, kept=kept), params)
    cur.execute(f"CREATE INDEX ON {candidates} (pid)")
    cur.execute(f"CREATE INDEX ON {candidates} USING gist (g)")
    cur.execute(f"ANALYZE {candidates}")
    neighbour = kind.format(raw="ocsge_artif(n.code_cs, n.code_us)", id="n.id")
    nb = f"{candidates}_nb"
    cur.execute(_OUTSIDE.format(table=candidates, nb=nb, kind_n=neighbour), params)
    cur.execute(f"ANALYZE {nb}")
    cur.execute(_FLIPPING.format(table=candidates, out=out, nb=nb), params)
    cur.execute(f"CREATE INDEX ON {out} (pid)")
    cur.execute(f"ANALYZE {out}")


def _run(cur, sql, params):
    cur.execute(sql, params)
    return cur.rowcount


def _scope(departement, communes):
    if communes is None:
        return list(Commune.objects.filter(departement=departement).values_list("id", flat=True))
    return list(communes)


def compute_vintage(vintage: Vintage, communes=None) -> dict:
    """(Re)compute the threshold flips and the per-commune areas of a vintage, for all its
    département's communes or the given commune ids. Returns counts and seconds."""
    started = time.perf_counter()
    scope = _scope(vintage.departement, communes)
    params = {
        "v": vintage.pk,
        "communes": scope,
        "threshold": THRESHOLD_M2,
        "building": BUILDING_THRESHOLD_M2,
        "building_cs": BUILDING,
    }
    with transaction.atomic(), connection.cursor() as cur:
        lock_derived(vintage.departement_id)
        cur.execute("DROP TABLE IF EXISTS a_pc, a_s1, a_s1_nb, a_fill, a_s2, a_s2_nb, a_drop")
        pieces = _run(cur, _POLYGON_COMMUNE, params)
        cur.execute("CREATE INDEX ON a_pc (pid)")
        cur.execute("ANALYZE a_pc")
        # Step 1: enclosed non-artificialised patches under the threshold are filled.
        _step(cur, params, "a_s1", "a_fill", kind="NOT {raw}")
        # Step 2: after filling, artificialised islands under the threshold are dropped.
        _step(
            cur,
            params,
            "a_s2",
            "a_drop",
            kind="{raw} OR EXISTS (SELECT 1 FROM a_fill f WHERE f.pid = {id})",
            # Built surfaces have their own threshold, 50 m² of footprint (décret).
            kept="x.code_cs = %(building_cs)s AND x.parea >= %(building)s",
        )
        cur.execute(
            "DELETE FROM artif_thresholdflip WHERE vintage_id = %(v)s "
            "AND commune_id = ANY(%(communes)s)",
            params,
        )
        # Filled and not dropped: artificialised; dropped and artificialised by the rule: not.
        flips = _run(
            cur,
            """
            INSERT INTO artif_thresholdflip (vintage_id, polygon_id, commune_id, step, artif)
            SELECT %(v)s, f.pid, f.cid, 'fill', true FROM a_fill f
            WHERE NOT EXISTS (SELECT 1 FROM a_drop d WHERE d.pid = f.pid)
            UNION ALL
            SELECT %(v)s, d.pid, d.cid, 'drop', false FROM a_drop d
            JOIN a_pc x ON x.pid = d.pid AND x.cid = d.cid WHERE x.raw
            """,
            params,
        )
        cur.execute(
            "DELETE FROM artif_artifstat WHERE vintage_id = %(v)s "
            "AND commune_id = ANY(%(communes)s)",
            params,
        )
        stats = _run(
            cur,
            """
            INSERT INTO artif_artifstat (vintage_id, commune_id, code_cs, code_us, artif, area)
            SELECT %(v)s, x.cid, x.code_cs, x.code_us, coalesce(f.artif, x.raw), sum(x.area)
            FROM a_pc x
            LEFT JOIN artif_thresholdflip f ON f.vintage_id = %(v)s AND f.polygon_id = x.pid
            WHERE x.area > 0
            GROUP BY x.cid, x.code_cs, x.code_us, coalesce(f.artif, x.raw)
            """,
            params,
        )
        cur.execute("DROP TABLE a_pc, a_s1, a_s1_nb, a_fill, a_s2, a_s2_nb, a_drop")
    return {
        "pieces": pieces,
        "flips": flips,
        "rows": stats,
        "seconds": time.perf_counter() - started,
    }


# Effective artificialisation of a polygon `{p}` (alias) of vintage `{v}` (parameter name).
_EFFECTIVE = (
    "coalesce((SELECT f.artif FROM artif_thresholdflip f WHERE f.vintage_id = %({v})s "
    "AND f.polygon_id = {p}.id), ocsge_artif({p}.code_cs, {p}.code_us))"
)

_FLOW_PIECES = f"""
CREATE TEMP TABLE a_flow ON COMMIT DROP AS
-- the difference product's pieces whose artificialisation differs
SELECT cp.cs_avant, cp.us_avant, cp.cs_apres, cp.us_apres, cp.geom AS g, cp.area,
       NULL::integer AS cid, b.artif_b AS artif
FROM landcover_changepiece cp
JOIN LATERAL (
  SELECT {_EFFECTIVE.format(v="m1", p="a")} AS artif_a FROM landcover_landcoverpolygon a
  WHERE a.id = cp.polygon_before_id AND a.vintage_id = %(m1)s
) a ON true
JOIN LATERAL (
  SELECT {_EFFECTIVE.format(v="m2", p="b")} AS artif_b FROM landcover_landcoverpolygon b
  WHERE b.id = cp.polygon_after_id AND b.vintage_id = %(m2)s
) b ON true
WHERE cp.departement_id = %(dept)s AND a.artif_a <> b.artif_b
  AND cp.geom && (SELECT ST_Extent(geom) FROM territories_commune WHERE id = ANY(%(communes)s))
UNION ALL
-- overlaps of a flipped polygon with the other vintage's polygons of the same codes: they
-- lie inside the flipped polygon's commune
SELECT a.code_cs, a.code_us, b.code_cs, b.code_us, g, ST_Area(g), cid, artif_b
FROM (
  SELECT pairs.aid, pairs.bid, pairs.cid,
         ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS g,
         {_EFFECTIVE.format(v="m2", p="b")} AS artif_b,
         {_EFFECTIVE.format(v="m1", p="a")} AS artif_a
  FROM (
    SELECT a.id AS aid, b.id AS bid, f.commune_id AS cid
    FROM artif_thresholdflip f
    JOIN landcover_landcoverpolygon a ON a.id = f.polygon_id AND a.vintage_id = %(m1)s
    JOIN landcover_landcoverpolygon b ON b.vintage_id = %(m2)s AND b.geom && a.geom
    WHERE f.vintage_id = %(m1)s AND f.commune_id = ANY(%(communes)s)
      AND (a.code_cs, a.code_us) = (b.code_cs, b.code_us)
    UNION
    SELECT a.id, b.id, f.commune_id
    FROM artif_thresholdflip f
    JOIN landcover_landcoverpolygon b ON b.id = f.polygon_id AND b.vintage_id = %(m2)s
    JOIN landcover_landcoverpolygon a ON a.vintage_id = %(m1)s AND a.geom && b.geom
    WHERE f.vintage_id = %(m2)s AND f.commune_id = ANY(%(communes)s)
      AND (a.code_cs, a.code_us) = (b.code_cs, b.code_us)
  ) pairs
  JOIN landcover_landcoverpolygon a ON a.id = pairs.aid AND a.vintage_id = %(m1)s
  JOIN landcover_landcoverpolygon b ON b.id = pairs.bid AND b.vintage_id = %(m2)s
  WHERE ST_Intersects(a.geom, b.geom)
) o
JOIN landcover_landcoverpolygon a ON a.id = o.aid AND a.vintage_id = %(m1)s
JOIN landcover_landcoverpolygon b ON b.id = o.bid AND b.vintage_id = %(m2)s
WHERE o.artif_a <> o.artif_b AND NOT ST_IsEmpty(o.g)
"""

_FLOWS_BY_COMMUNE = """
INSERT INTO artif_artifflow
  (departement_id, commune_id, kind, cs_avant, us_avant, cs_apres, us_apres, area)
SELECT %(dept)s, cid, CASE WHEN artif THEN 'artif' ELSE 'desartif' END,
       cs_avant, us_avant, cs_apres, us_apres, sum(area)
FROM (
  SELECT c.id AS cid, f.artif, f.cs_avant, f.us_avant, f.cs_apres, f.us_apres,
         CASE WHEN ST_Within(f.g, c.geom) THEN f.area
              ELSE ST_Area(ST_Intersection(f.g, c.geom)) END AS area
  FROM a_flow f
  JOIN territories_commune c
    ON c.id = ANY(%(communes)s) AND f.g && c.geom AND ST_Intersects(f.g, c.geom)
  WHERE f.cid IS NULL
  UNION ALL
  SELECT cid, artif, cs_avant, us_avant, cs_apres, us_apres, area FROM a_flow
  WHERE cid IS NOT NULL
) per_commune
WHERE area > 0
GROUP BY cid, artif, cs_avant, us_avant, cs_apres, us_apres
"""


def compute_flows(departement, communes=None) -> int:
    """(Re)compute the M1→M2 flows of a département's communes (all, or the given ids).
    Needs both vintages' flips current and the difference product built."""
    scope = _scope(departement, communes)
    pair = vintage_pair(departement)
    with transaction.atomic(), connection.cursor() as cur:
        lock_derived(departement.pk)
        cur.execute(
            "DELETE FROM artif_artifflow WHERE departement_id = %s AND commune_id = ANY(%s)",
            [departement.pk, scope],
        )
        if pair is None:
            return 0
        params = {"dept": departement.pk, "m1": pair[0].pk, "m2": pair[1].pk, "communes": scope}
        cur.execute("DROP TABLE IF EXISTS a_flow")
        cur.execute(_FLOW_PIECES, params)
        written = _run(cur, _FLOWS_BY_COMMUNE, params)
        cur.execute("DROP TABLE a_flow")
    return written


def compute_departement(departement, log=None) -> dict:
    """Everything for a département: both vintages' figures, then the flows."""
    result = {}
    for vintage in Vintage.objects.filter(departement=departement).order_by("rank"):
        result[vintage.rank] = compute_vintage(vintage)
        if log:
            r = result[vintage.rank]
            log(f"{vintage}: {r['rows']} rows, {r['flips']} threshold flips, {r['seconds']:.1f} s")
    started = time.perf_counter()
    result["flows"] = compute_flows(departement)
    result["flows_seconds"] = time.perf_counter() - started
    if log:
        log(f"flows M1→M2: {result['flows']} rows, {result['flows_seconds']:.1f} s")
    return result


def update_after_correction(departement, polygon_ids) -> dict:
    """Keep the figures current after a correction: the communes the changed polygons meet,
    for the vintages they belong to, then those communes' flows."""
    started = time.perf_counter()
    communes = affected_communes(polygon_ids)
    computed = Vintage.objects.filter(departement=departement).filter(
        Exists(ArtifStat.objects.filter(vintage=OuterRef("pk")))
    )  # a département never computed in full is left to compute_departement
    changed = computed.filter(polygons__in=list(polygon_ids)).distinct()
    for vintage in changed:
        compute_vintage(vintage, communes)
    if computed.count() == 2:
        compute_flows(departement, communes)
    return {"communes": communes, "seconds": time.perf_counter() - started}


def affected_communes(polygon_ids) -> list[int]:
    """Communes of their département the given polygons meet: the only ones whose figures
    they can change."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT DISTINCT c.id FROM landcover_landcoverpolygon p
            JOIN landcover_vintage v ON v.id = p.vintage_id
            JOIN territories_commune c ON c.departement_id = v.departement_id
              AND c.geom && p.geom AND ST_Intersects(c.geom, p.geom)
            WHERE p.id = ANY(%s)
            """,
            [list(polygon_ids)],
        )
        return [r[0] for r in cur.fetchall()]
