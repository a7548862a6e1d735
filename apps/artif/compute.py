"""Artificialisation indicators, set-based in PostGIS: no Python loop over polygons.

Per vintage (`compute_vintage`):

1. Threshold rule (décret n° 2023-1096, annex to article R. 101-1 of the code de
   l'urbanisme), applied to the union of artificialised land of the whole département,
   whatever the commune boundaries (as IGN's own flags and Mon Diagnostic
   Artificialisation do): first, its holes below 2,500 m² are filled (a connected patch of
   non-artificialised polygons under 2,500 m², enclosed in artificialised land, counts as
   artificialised); then, its islands below 2,500 m² after filling are dropped (the
   reverse) — but a building (CS1.1.1.1) of 50 m² or more, the décret's threshold for built
   surfaces, is never dropped, nor the patch it belongs to. Nothing lies beyond the
   département's edge: a patch there is enclosed by what the département holds.
   Patches are found by clustering (`ST_ClusterDBSCAN`, distance 0) the small polygons
   only: a cluster that touches a same-kind polygon outside the candidates belongs to a
   bigger patch and never flips. The flips are stored per polygon (`ThresholdFlip`).
2. `ArtifStat` rows: each polygon cut by the communes it meets (its area in the commune,
   computed by intersection only for polygons crossing a commune boundary), then area per
   (commune, CS, US, artificialised or not). EPCI, département and région figures are sums
   of these rows (queries.py).

After a correction (`polygon_ids` given) only the patches the changed polygons can touch
are recomputed, wherever they extend: every patch of either step is made of polygons under
2,500 m², so the connected sets of such polygons meeting the changed ones (`a_region`,
grown by a recursive query) hold every cluster whose flip can change; the clusters outside
it keep theirs. The figures of the communes this region and the changed polygons meet are
then recomputed. A test compares this with a full recomputation.

Flows M1→M2 (`compute_flows`): the pieces of the overlay of both vintages where the
artificialisation differs: the difference product's pieces (`ChangePiece`, codes differ)
plus the overlaps of a flipped polygon with the other vintage's polygons of the same codes,
each cut by commune. artificialised(M2) = artificialised(M1) + artificialisation −
désartificialisation holds up to the difference product's discarded slivers (< 1 m² each).
"""

import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from apps.landcover.difference import BIG_VERTICES, lock_derived, vintage_pair
from apps.landcover.models import Vintage
from apps.ops.scratch import Scratch
from apps.territories.models import Commune
from ocsge.artificialisation import BUILDING, BUILDING_THRESHOLD_M2, THRESHOLD_M2

from .models import ArtifStat

# The polygons under the threshold connected to the changed ones through polygons under the
# threshold: the only place where a patch can change. Each step of the recursion starts
# from the polygons found by the previous one.
_REGION = """
WITH RECURSIVE r(id) AS (
  SELECT n.id FROM landcover_landcoverpolygon s
  JOIN landcover_landcoverpolygon n ON n.vintage_id = %(v)s AND n.area < %(threshold)s
   AND n.geom && s.geom AND ST_Intersects(n.geom, s.geom)
  WHERE s.vintage_id = %(v)s AND s.id = ANY(%(changed)s)
  UNION
  SELECT n.id FROM r
  JOIN landcover_landcoverpolygon p ON p.vintage_id = %(v)s AND p.id = r.id
  JOIN landcover_landcoverpolygon n ON n.vintage_id = %(v)s AND n.area < %(threshold)s
   AND n.geom && p.geom AND ST_Intersects(n.geom, p.geom)
)
SELECT id FROM r
"""

# Candidates of one step (small polygons of the kind `{kind}`, in the region recomputed),
# with their geometry (indexed below), clustered. {kind} is an SQL expression over the
# polygon `p`.
_CANDIDATES = """
SELECT p.id AS pid, p.area AS parea, p.geom AS g, ST_ClusterDBSCAN(p.geom, 0, 1) OVER () AS k
FROM landcover_landcoverpolygon p
WHERE p.vintage_id = %(v)s AND p.area < %(threshold)s AND ({kind}) AND NOT ({kept}) {region}
"""

# The polygons of the same kind outside the candidates whose boxes meet a candidate, with
# their geometry (read once here: the next statement loops over them).
_OUTSIDE = """
SELECT DISTINCT ON (n.id) n.id, n.geom FROM {table} s
JOIN landcover_landcoverpolygon n ON n.geom && s.g AND n.vintage_id = %(v)s
WHERE ({kind_n}) AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.pid = n.id)
ORDER BY n.id
"""

# Clusters that flip: under the threshold in total, and touching none of those polygons
# (which would make them part of a bigger patch). The outside polygon drives the loop
# (LATERAL): a big one (a road network of 100,000 vertices) is read and prepared once,
# then tested against each candidate its box meets. PostGIS prepares a geometry on its
# second call only, and the first call relates the whole polygon (about a second for
# 300,000 vertices): each outside polygon is first tested against a 1 m square at the
# corner of its box (cluster -1, which no cluster has), which GEOS answers with a linear
# scan. `OFFSET 0` keeps the test above the union, so both rows go through the same call.
_FLIPPING = """
SELECT s.pid FROM {table} s
JOIN (
  SELECT k FROM {table} GROUP BY k HAVING sum(parea) < %(threshold)s
  EXCEPT
  SELECT DISTINCT hit.k
  FROM {nb} o
  CROSS JOIN LATERAL (
    SELECT c.k FROM (
      SELECT -1 AS k, ST_MakeEnvelope(ST_XMin(o.geom), ST_YMin(o.geom), ST_XMin(o.geom) + 1,
                                      ST_YMin(o.geom) + 1, ST_SRID(o.geom)) AS g
      UNION ALL
      SELECT s.k, s.g FROM {table} s WHERE s.g && o.geom
      OFFSET 0
    ) c
    WHERE ST_Intersects(o.geom, c.g)
  ) hit
) flipping ON flipping.k = s.k
"""

# The changed polygons and their region, as one array an index on the ids is searched with
# (written `id = ANY(changed) OR id IN (SELECT id FROM region)`, the OR kept the index out:
# the flips' DELETE of a correction on dép 96 took 14–24 ms, now under 2).
_CHANGED_OR_REGION = "ARRAY(SELECT unnest(%(changed)s::bigint[]) UNION SELECT id FROM {a_region})"

# The communes whose figures are recomputed: all the département's, or those the changed
# polygons and the region meet. The polygons are read first, by their ids: joined in one
# step, the planner (the communes' statistics not yet gathered after a load: 4 rows
# expected, 928 there) searched the polygons' spatial index once per commune (1.8 s).
_SCOPE = f"""
WITH p AS MATERIALIZED (
  SELECT geom FROM landcover_landcoverpolygon
  WHERE vintage_id = %(v)s AND id = ANY({_CHANGED_OR_REGION})
)
SELECT DISTINCT c.id FROM p
JOIN territories_commune c ON c.departement_id = %(dept)s
 AND c.geom && p.geom AND ST_Intersects(c.geom, p.geom)
ORDER BY c.id
"""

# A polygon of over BIG_VERTICES vertices (a road network, a river) is cut by the communes
# differently: testing it against a commune it crosses is a full relate of the whole
# polygon (about a second for 300,000 vertices), where its intersection with each commune
# its box meets costs a few hundredths.

# Each polygon's area in each commune it meets. Most polygons: the commune drives the loop
# (prepared once, tested against each polygon its box meets), its area by intersection
# only when the polygon crosses the commune's boundary. A big polygon: its intersection
# with every commune its box meets (empty ones are dropped by `area > 0` downstream).
_POLYGON_COMMUNE = f"""
SELECT pid, cid, code_cs, code_us, raw, ign, ign_seuil,
       CASE WHEN big THEN ST_Area(ST_Intersection(g, cg))
            WHEN ST_Within(g, cg) THEN parea ELSE ST_Area(ST_Intersection(g, cg)) END AS area
FROM (
  SELECT p.id AS pid, c.id AS cid, p.code_cs, p.code_us, ocsge_artif(p.code_cs, p.code_us) AS raw,
         p.ign_artif AS ign, p.ign_crit_seuil AS ign_seuil,
         p.area AS parea, p.geom AS g, c.geom AS cg, false AS big
  FROM territories_commune c
  JOIN landcover_landcoverpolygon p
    ON p.vintage_id = %(v)s AND p.geom && c.geom AND ST_Intersects(p.geom, c.geom)
  WHERE c.id = ANY(%(communes)s) AND ST_NPoints(p.geom) <= {BIG_VERTICES}
  UNION ALL
  SELECT p.id, c.id, p.code_cs, p.code_us, ocsge_artif(p.code_cs, p.code_us),
         p.ign_artif, p.ign_crit_seuil, p.area, p.geom, c.geom, true
  FROM landcover_landcoverpolygon p
  JOIN territories_commune c ON c.id = ANY(%(communes)s) AND c.geom && p.geom
  WHERE p.vintage_id = %(v)s AND ST_NPoints(p.geom) > {BIG_VERTICES}
) cut
"""


def _step(work, params, candidates, out, kind, region, kept="false"):
    """One step of the threshold rule: `kind` is the kind of land whose small enclosed
    patches flip, an SQL template over {raw} (the rule's flag) and {id} (a polygon id);
    `kept`, over the polygon `p`: polygons of that kind that never flip (they still join
    their neighbours into a patch, which then never flips either). `candidates` and `out`
    name work tables."""
    mine = work.sql(kind, raw="ocsge_artif(p.code_cs, p.code_us)", id="p.id")
    work.create(
        candidates,
        _CANDIDATES.format(kind=mine, kept=kept, region=region),
        params,
        index=("(pid)", "USING gist (g)"),
    )
    neighbour = work.sql(kind, raw="ocsge_artif(n.code_cs, n.code_us)", id="n.id")
    table, nb = work.names[candidates], work.names[f"{candidates}_nb"]
    work.create(f"{candidates}_nb", _OUTSIDE.format(table=table, kind_n=neighbour), params)
    work.create(out, _FLIPPING.format(table=table, nb=nb), params, index=("(pid)",))


# The work tables of a vintage's computation.
_VINTAGE_TABLES = ("a_region", "a_s1", "a_s1_nb", "a_fill", "a_s2", "a_s2_nb", "a_drop", "a_pc")


def _run(cur, sql, params):
    cur.execute(sql, params)
    return cur.rowcount


def _flips(work, params, incremental: bool) -> int:
    """The threshold rule over the whole vintage, or over the region of the changed
    polygons: replaces the vintage's flips there. Returns the number of flips written."""
    cur = work.cur
    region = ""
    if incremental:
        work.create("a_region", _REGION, params, index=("(id)",))
        region = work.sql("AND p.id IN (SELECT id FROM {a_region})")
    # Step 1: enclosed non-artificialised patches under the threshold are filled.
    _step(work, params, "a_s1", "a_fill", kind="NOT {raw}", region=region)
    # Step 2: after filling, artificialised islands under the threshold are dropped.
    _step(
        work,
        params,
        "a_s2",
        "a_drop",
        kind="{raw} OR EXISTS (SELECT 1 FROM {a_fill} f WHERE f.pid = {id})",
        region=region,
        # Built surfaces have their own threshold, 50 m² of footprint (décret).
        kept="p.code_cs = %(building_cs)s AND p.area >= %(building)s",
    )
    if incremental:
        cur.execute(
            work.sql(
                "DELETE FROM artif_thresholdflip WHERE vintage_id = %(v)s AND "
                f"polygon_id = ANY({_CHANGED_OR_REGION})"
            ),
            params,
        )
    else:
        cur.execute("DELETE FROM artif_thresholdflip WHERE vintage_id = %(v)s", params)
    # Filled and not dropped: artificialised; dropped and artificialised by the rule: not.
    flips = _run(
        cur,
        work.sql(
            """
            INSERT INTO artif_thresholdflip (vintage_id, polygon_id, step, artif)
            SELECT %(v)s, f.pid, 'fill', true FROM {a_fill} f
            WHERE NOT EXISTS (SELECT 1 FROM {a_drop} d WHERE d.pid = f.pid)
            UNION ALL
            SELECT %(v)s, d.pid, 'drop', false FROM {a_drop} d
            JOIN landcover_landcoverpolygon p ON p.id = d.pid AND p.vintage_id = %(v)s
            WHERE ocsge_artif(p.code_cs, p.code_us)
            """
        ),
        params,
    )
    work.drop("a_s1", "a_s1_nb", "a_fill", "a_s2", "a_s2_nb", "a_drop")
    if not incremental:
        # The flips are read per polygon by the figures and the flows: with the statistics
        # of before (no flip for this vintage), PostgreSQL would scan every flip of the
        # vintage for each polygon (15 minutes for the flows of a million polygons).
        cur.execute("ANALYZE artif_thresholdflip")
    return flips


def _scope(departement, communes):
    if communes is None:
        return list(Commune.objects.filter(departement=departement).values_list("id", flat=True))
    return list(communes)


# Where the delivery carries IGN's own artificialisation: the area per commune where ours
# agrees with it or not, and why not — the polygon was corrected since the delivery (an
# operator's or a signalement's revision), one side applied the threshold rule to it (IGN's
# `crit_seuil`, or a flip of ours), or else the (CS, US) rule itself differs.
_IGN_COMPARISON = """
INSERT INTO artif_igncomparison (vintage_id, commune_id, ours, ign, reason, area)
SELECT %(v)s, cid, ours, ign,
       CASE WHEN ours = ign THEN ''
            WHEN EXISTS (SELECT 1 FROM landcover_polygonrevision r
                         WHERE r.polygon_id = pid AND r.cause <> 'inference') THEN 'corrected'
            WHEN ign_seuil OR flipped THEN 'threshold'
            ELSE 'rule' END,
       sum(area)
FROM (
  SELECT x.pid, x.cid, coalesce(f.artif, x.raw) AS ours, x.ign, coalesce(x.ign_seuil, false)
         AS ign_seuil, f.polygon_id IS NOT NULL AS flipped, x.area
  FROM {a_pc} x
  LEFT JOIN artif_thresholdflip f ON f.vintage_id = %(v)s AND f.polygon_id = x.pid
  WHERE x.ign IS NOT NULL AND x.area > 0
) compared
GROUP BY 1, 2, 3, 4, 5
"""


def _compare_with_ign(work, params) -> int:
    work.cur.execute(
        "DELETE FROM artif_igncomparison WHERE vintage_id = %(v)s "
        "AND commune_id = ANY(%(communes)s)",
        params,
    )
    return _run(work.cur, work.sql(_IGN_COMPARISON), params)


def compute_vintage(vintage: Vintage, polygon_ids=None, locked=False) -> dict:
    """(Re)compute the threshold flips and the per-commune areas of a vintage: all of them,
    or, after a correction, what the changed polygons `polygon_ids` (those written; ids no
    longer in the vintage are allowed) can change. Returns counts, the communes recomputed
    and seconds. `locked`: the caller holds the département's lock (on another
    connection: `compute_departement`)."""
    started = time.perf_counter()
    incremental = polygon_ids is not None
    params = {
        "v": vintage.pk,
        "dept": vintage.departement_id,
        "changed": list(polygon_ids or ()),
        "threshold": THRESHOLD_M2,
        "building": BUILDING_THRESHOLD_M2,
        "building_cs": BUILDING,
    }
    with transaction.atomic(), connection.cursor() as cur:
        if not locked:
            lock_derived(vintage.departement_id)
        work = Scratch(cur, *_VINTAGE_TABLES, parallel_scans=not incremental)
        flips = _flips(work, params, incremental)
        if incremental:
            cur.execute(work.sql(_SCOPE), params)
            params["communes"] = [r[0] for r in cur.fetchall()]
            work.drop("a_region")
        else:
            params["communes"] = _scope(vintage.departement, None)
        pieces = work.create("a_pc", _POLYGON_COMMUNE, params)
        cur.execute(
            "DELETE FROM artif_artifstat WHERE vintage_id = %(v)s "
            "AND commune_id = ANY(%(communes)s)",
            params,
        )
        stats = _run(
            cur,
            work.sql(
                """
            INSERT INTO artif_artifstat (vintage_id, commune_id, code_cs, code_us, artif, area)
            SELECT %(v)s, x.cid, x.code_cs, x.code_us, coalesce(f.artif, x.raw), sum(x.area)
            FROM {a_pc} x
            LEFT JOIN artif_thresholdflip f ON f.vintage_id = %(v)s AND f.polygon_id = x.pid
            WHERE x.area > 0
            GROUP BY x.cid, x.code_cs, x.code_us, coalesce(f.artif, x.raw)
            """
            ),
            params,
        )
        compared = _compare_with_ign(work, params)
        work.drop()
    return {
        "pieces": pieces,
        "flips": flips,
        "rows": stats,
        "ign_rows": compared,
        "communes": params["communes"],
        "backend": work.pid,
        "seconds": time.perf_counter() - started,
    }


# Effective artificialisation of a polygon `{p}` (alias) of vintage `{v}` (parameter name).
_EFFECTIVE = (
    "coalesce((SELECT f.artif FROM artif_thresholdflip f WHERE f.vintage_id = %({v})s "
    "AND f.polygon_id = {p}.id), ocsge_artif({p}.code_cs, {p}.code_us))"
)

_FLOW_PIECES = f"""
-- the difference product's pieces whose artificialisation differs
SELECT cp.cs_avant, cp.us_avant, cp.cs_apres, cp.us_apres, cp.geom AS g, cp.area,
       b.artif_b AS artif
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
  AND cp.geom && (SELECT box FROM {{a_box}})
UNION ALL
-- overlaps of a flipped polygon with the other vintage's polygons of the same codes
SELECT a.code_cs, a.code_us, b.code_cs, b.code_us, g, ST_Area(g), artif_b
FROM (
  SELECT pairs.aid, pairs.bid,
         ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS g,
         {_EFFECTIVE.format(v="m2", p="b")} AS artif_b,
         {_EFFECTIVE.format(v="m1", p="a")} AS artif_a
  FROM (
    SELECT a.id AS aid, b.id AS bid
    FROM artif_thresholdflip f
    JOIN landcover_landcoverpolygon a ON a.id = f.polygon_id AND a.vintage_id = %(m1)s
    JOIN landcover_landcoverpolygon b ON b.vintage_id = %(m2)s AND b.geom && a.geom
    WHERE f.vintage_id = %(m1)s AND a.geom && (SELECT box FROM {{a_box}})
      AND (a.code_cs, a.code_us) = (b.code_cs, b.code_us)
    UNION
    SELECT a.id, b.id
    FROM artif_thresholdflip f
    JOIN landcover_landcoverpolygon b ON b.id = f.polygon_id AND b.vintage_id = %(m2)s
    JOIN landcover_landcoverpolygon a ON a.vintage_id = %(m1)s AND a.geom && b.geom
    WHERE f.vintage_id = %(m2)s AND b.geom && (SELECT box FROM {{a_box}})
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

# Each piece cut by the communes recomputed.
_FLOWS_BY_COMMUNE = """
INSERT INTO artif_artifflow
  (departement_id, commune_id, kind, cs_avant, us_avant, cs_apres, us_apres, area)
SELECT %(dept)s, cid, CASE WHEN artif THEN 'artif' ELSE 'desartif' END,
       cs_avant, us_avant, cs_apres, us_apres, sum(area)
FROM (
  SELECT c.id AS cid, f.artif, f.cs_avant, f.us_avant, f.cs_apres, f.us_apres,
         CASE WHEN ST_Within(f.g, c.geom) THEN f.area
              ELSE ST_Area(ST_Intersection(f.g, c.geom)) END AS area
  FROM {a_flow} f
  JOIN territories_commune c
    ON c.id = ANY(%(communes)s) AND f.g && c.geom AND ST_Intersects(f.g, c.geom)
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
        work = Scratch(cur, "a_box", "a_flow", parallel_scans=communes is None)
        # The box of the communes recomputed (one row).
        work.create(
            "a_box",
            "SELECT ST_Extent(geom)::geometry AS box FROM territories_commune "
            "WHERE id = ANY(%(communes)s)",
            params,
        )
        work.create("a_flow", _FLOW_PIECES, params)
        written = _run(cur, work.sql(_FLOWS_BY_COMMUNE), params)
        work.drop()
    return written


def compute_departement(departement, log=None) -> dict:
    """Everything for a département: both vintages' figures, then the flows (`seconds`: the
    wall time of it all).

    The two vintages are independent: with nothing uncommitted in the way (no transaction
    open around this call: an import's task, the command), each is computed on a connection
    of its own at the same time, so that both cores work (most of a vintage's statements —
    the clustering, the threshold rule — run on one core). This connection holds the
    département's lock meanwhile. Inside a transaction (tests, or a caller's uncommitted
    polygons the other connections would not see) they are computed one after the other."""
    started = time.perf_counter()
    vintages = list(Vintage.objects.filter(departement=departement).order_by("rank"))
    result = {}
    together = len(vintages) > 1 and not connection.in_atomic_block
    with transaction.atomic():
        lock_derived(departement.pk)
        if together:
            with ThreadPoolExecutor(len(vintages)) as pool:
                futures = [pool.submit(_on_own_connection, v) for v in vintages]
                outcomes = [f.exception() or f.result() for f in futures]
            for vintage, outcome in zip(vintages, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    raise outcome
                result[vintage.rank] = outcome
        else:
            for vintage in vintages:
                result[vintage.rank] = compute_vintage(vintage)
        result["together"] = together
        if log:
            for vintage in vintages:
                r = result[vintage.rank]
                what = f"{r['rows']} rows, {r['flips']} threshold flips"
                log(f"{vintage}: {what}, {r['seconds']:.1f} s")
        flows_started = time.perf_counter()
        result["flows"] = compute_flows(departement)
        result["flows_seconds"] = time.perf_counter() - flows_started
    result["seconds"] = time.perf_counter() - started
    if log:
        log(f"flows M1→M2: {result['flows']} rows, {result['flows_seconds']:.1f} s")
    return result


def _on_own_connection(vintage) -> dict:
    """`compute_vintage` in a worker thread: on that thread's own connection (closed at the
    end), under the département's lock its caller holds."""
    try:
        return compute_vintage(vintage, locked=True)
    finally:
        connection.close()


def update_after_correction(departement, polygon_ids) -> dict:
    """Keep the figures current after a correction: for the vintages the changed polygons
    belong to, the patches they can change and the communes those meet; then those
    communes' flows."""
    started = time.perf_counter()
    computed = Vintage.objects.filter(departement=departement).filter(
        Exists(ArtifStat.objects.filter(vintage=OuterRef("pk")))
    )  # a département never computed in full is left to compute_departement
    changed = computed.filter(polygons__in=list(polygon_ids)).distinct()
    communes = set()
    for vintage in changed:
        communes.update(compute_vintage(vintage, polygon_ids)["communes"])
    communes = sorted(communes)
    if computed.count() == 2:
        compute_flows(departement, communes)
    return {"communes": communes, "seconds": time.perf_counter() - started}
