"""Mapbox Vector Tiles of a vintage and of the M1→M2 change layer, built by PostGIS.

One SQL statement per tile on the stored EPSG:3857 geometry (GiST index):

* z ≥ FULL_DETAIL_ZOOM (14): every polygon, full detail (only the quantisation of
  `ST_AsMVTGeom` on the 4096 grid, i.e. 1/16 of a screen pixel).
* z < 14: polygons simplified at half a screen pixel; polygons under MIN_PIXELS screen
  pixels of area are not drawn one by one: they are aggregated into square cells of
  CELL_PIXELS × CELL_PIXELS screen pixels on a grid fixed in EPSG:3857 (so neighbouring
  tiles agree), each cell coloured by the (CS, US) covering the most area among the small
  polygons whose box centre falls in it. Cells are drawn first, real polygons over them, so a
  département of millions of polygons is a continuous map at z8 with tiles well under 500 KB.
  Aggregated cells carry `agg = true` and no id: a click is answered by the identify API on
  the exact geometry, never by the generalised tile.

Above z11 (CACHE_MAX_ZOOM), the apps above the land cover add layers of their own
(`contributions.TILE_LAYERS`: the polygons with open signalements, their count and status),
as each viewer may see them; the `polygons` layer, the same for every viewer, is kept once
built up to z16 (DETAIL_CACHE_MAX_ZOOM) until a correction of one of its polygons
(`vintage_tile`, `forget_statements`). Tiles up to z11 carry no other layer (markers show
the signalements at that scale) and are kept in TileCache: a département-wide tile reads
every polygon (seconds for a million), so they are built after an import (`warm_tiles`)
and rebuilt by a worker after corrections (`low_zoom_tile`), never while a request waits.

Tile pixels are 256-pixel tiles' pixels (Leaflet's default tile size).
"""

from __future__ import annotations

import math

from django.db import connection, transaction

from apps.ops.rows import binary_cursor

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
FULL_DETAIL_ZOOM = 14
MIN_PIXELS = 4.0  # polygons under this many screen pixels are aggregated (z < 14)
CELL_PIXELS = 4  # side of an aggregation cell, in screen pixels
SIMPLIFY_PIXELS = 0.5
# Tiles up to this zoom carry no contributed layers and are cached per vintage revision.
CACHE_MAX_ZOOM = 11
# Polygon layers of tiles from z12 to this zoom are kept once built, each until a correction
# of one of its polygons (`vintage_tile`, `forget_statements`).
DETAIL_CACHE_MAX_ZOOM = 16
# Bump when the tile schema changes (attributes, generalisation): part of the ETag.
SCHEMA_VERSION = 4

WORLD = 2 * 20037508.342789244  # width of the EPSG:3857 square, metres


class TileOutOfRange(ValueError):
    pass


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise TileOutOfRange(f"zoom {z} hors de 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise TileOutOfRange(f"tuile {x}/{y} hors de la grille du zoom {z} (0..{n - 1})")


def tile_width(z: int) -> float:
    return WORLD / (1 << z)


def ground_scale(z: int, y: int) -> float:
    """Ground metres per 3857 metre at the tile's centre latitude (cos φ)."""
    n = 1 << z
    lat = math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n)))
    return math.cos(lat)


def generalisation(z: int, y: int) -> dict | None:
    """Parameters of the low-zoom generalisation, None at full detail."""
    if z >= FULL_DETAIL_ZOOM:
        return None
    pixel = tile_width(z) / 256  # 3857 metres per screen pixel
    ground_pixel = pixel * ground_scale(z, y)
    return {
        "tolerance": pixel * SIMPLIFY_PIXELS,
        # `area` is stored in square metres of the département's official CRS (Lambert-93
        # or a DROM's UTM projection), close to ground area.
        "min_area": MIN_PIXELS * ground_pixel**2,
        "cell": pixel * CELL_PIXELS,
    }


_ENVELOPE = f"""
bounds AS (
  SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
         ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => {BUFFER / EXTENT}) AS benv
)"""

_POLYGON_COLUMNS = "p.id, p.code_cs, p.code_us, p.model_class, p.confidence"
_POLYGON_NAMES = "id, code_cs, code_us, model_class, confidence"
# `{{read}}`: empty, or the ids of the polygons the tile reads as a second column (a detail
# tile kept in TileCache: `forget_statements` finds the tiles a correction changes by
# them). At z < 14 they include the small polygons aggregated into cells (`{{small_ids}}`):
# their codes colour the cells. (No `WHERE geom IS NOT NULL`: ST_AsMVT leaves out features without
# geometry by itself, and PostgreSQL would push the condition down and clip every polygon
# twice.)
_READ = "array_agg(t.id) FILTER (WHERE t.id IS NOT NULL AND t.geom IS NOT NULL)"

_FULL = f"""
WITH {_ENVELOPE},
tile AS (
  SELECT {_POLYGON_COLUMNS},
         ST_AsMVTGeom(p.geom_3857, bounds.env, {EXTENT}, {BUFFER}, true) AS geom
  FROM landcover_landcoverpolygon p CROSS JOIN bounds
  WHERE p.vintage_id = %(vintage)s AND p.geom_3857 && bounds.benv
)
SELECT ST_AsMVT(t, 'polygons', {EXTENT}, 'geom', 'fid') AS data{{read}} FROM (
  SELECT tile.id AS fid, tile.id, code_cs, code_us, model_class, confidence,
         false AS agg, tile.geom
  FROM tile
) t
"""

_GENERALISED = f"""
WITH {_ENVELOPE},
small AS (
  SELECT floor(ST_X(ST_Centroid(Box2D(p.geom_3857))) / %(cell)s)::int AS cx,
         floor(ST_Y(ST_Centroid(Box2D(p.geom_3857))) / %(cell)s)::int AS cy,
         p.code_cs, p.code_us, sum(p.area) AS a{{small_ids}}
  FROM landcover_landcoverpolygon p, bounds
  WHERE p.vintage_id = %(vintage)s AND p.geom_3857 && bounds.benv AND p.area < %(min_area)s
  GROUP BY 1, 2, 3, 4
), cells AS (
  SELECT DISTINCT ON (cx, cy) cx, cy, code_cs, code_us FROM small
  ORDER BY cx, cy, a DESC, code_cs, code_us  -- ties broken: the same tile every time
), tile AS (
  SELECT {_POLYGON_COLUMNS},
         ST_AsMVTGeom(ST_Simplify(p.geom_3857, %(tolerance)s, true),
                      bounds.env, {EXTENT}, {BUFFER}, true) AS geom
  FROM landcover_landcoverpolygon p CROSS JOIN bounds
  WHERE p.vintage_id = %(vintage)s AND p.geom_3857 && bounds.benv AND p.area >= %(min_area)s
), features AS (
  SELECT 0 AS layer, NULL::integer AS fid, NULL::integer AS id, code_cs, code_us,
         NULL::smallint AS model_class, NULL::float AS confidence, true AS agg,
         ST_AsMVTGeom(ST_MakeEnvelope(cx * %(cell)s, cy * %(cell)s,
                                      (cx + 1) * %(cell)s, (cy + 1) * %(cell)s, 3857),
                      bounds.env, {EXTENT}, {BUFFER}, true) AS geom
  FROM cells, bounds
  UNION ALL
  SELECT 1, tile.id, tile.id, code_cs, code_us, model_class, confidence, false, tile.geom
  FROM tile
)
SELECT ST_AsMVT(t, 'polygons', {EXTENT}, 'geom', 'fid') AS data{{read}} FROM (
  SELECT fid, {_POLYGON_NAMES}, agg, geom FROM features ORDER BY layer
) t
"""


def _polygon_statement(template: str, read: bool) -> str:
    if not read:
        return template.format(read="", small_ids="")
    if template is _FULL:
        return template.format(read=f", {_READ} AS polygons")
    return template.format(
        read=f", {_READ} || (SELECT array_agg(i) FROM small, unnest(small.ids) i) AS polygons",
        small_ids=", array_agg(p.id) AS ids",
    )


_CHANGES = f"""
WITH {_ENVELOPE}
SELECT ST_AsMVT(t, 'changes', {EXTENT}, 'geom', 'fid') FROM (
  SELECT c.id AS fid, c.polygon_before_id AS before, c.polygon_after_id AS after,
         c.cs_avant, c.us_avant, c.cs_apres, c.us_apres,
         ST_AsMVTGeom(CASE WHEN %(tolerance)s > 0
                           THEN ST_Simplify(c.geom_3857, %(tolerance)s, true)
                           ELSE c.geom_3857 END,
                      bounds.env, {EXTENT}, {BUFFER}, true) AS geom
  FROM landcover_changepiece c, bounds
  WHERE c.departement_id = %(departement)s AND c.geom_3857 && bounds.benv
    AND c.area >= %(min_area)s
) t
"""


def vintage_tile_query(
    vintage_id: int, z: int, x: int, y: int, *, read: bool = False
) -> tuple[str, dict]:
    """(SQL, params) of a vintage tile's polygons (what the benchmark runs bare): its MVT
    `data`, and with `read` the ids of the polygons it read (`polygons`)."""
    check_tile(z, x, y)
    gen = generalisation(z, y)
    sql = _polygon_statement(_FULL if gen is None else _GENERALISED, read)
    return sql, {"vintage": vintage_id, "z": z, "x": x, "y": y, **(gen or {})}


def change_tile_query(departement_id: int, z: int, x: int, y: int) -> tuple[str, dict]:
    check_tile(z, x, y)
    gen = generalisation(z, y) or {"tolerance": 0.0, "min_area": 0.0}
    return _CHANGES, {
        "departement": departement_id,
        "z": z,
        "x": x,
        "y": y,
        "tolerance": gen["tolerance"],
        "min_area": gen["min_area"],
    }


def _fetch(sql: str, params: dict):
    with binary_cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def render(sql: str, params: dict) -> bytes:
    # Read in binary: a tile's bytes as they are, not their hexadecimal text (0.2–0.5 ms
    # less for a z14 tile of 60 KB).
    row = _fetch(sql, params)
    return bytes(row[0]) if row and row[0] is not None else b""


# A detail tile (z12 to DETAIL_CACHE_MAX_ZOOM) built and kept, with the ids of the
# polygons it read, unless the vintage keeps TILE_DETAIL_CACHE_MAX_PER_VINTAGE already.
_STORE = f"""
WITH built AS ({{polygons}}), stored AS (
  INSERT INTO landcover_tilecache (vintage_id, revision, z, x, y, data, polygons)
  SELECT %(vintage)s, v.revision, %(z)s, %(x)s, %(y)s, built.data, built.polygons
  FROM built JOIN landcover_vintage v ON v.id = %(vintage)s
  WHERE length(built.data) > 0 AND (
    SELECT count(*) FROM (
      SELECT FROM landcover_tilecache
      WHERE vintage_id = %(vintage)s AND z > {CACHE_MAX_ZOOM} LIMIT %(cap)s
    ) held) < %(cap)s
  ON CONFLICT (vintage_id, z, x, y) DO NOTHING
)
SELECT data, polygons FROM built
"""
# The polygons' layer of a kept detail tile and the polygons it read, for the layers the
# apps above add (`_CACHED`); or only those polygons, just read (`_GIVEN`).
_CACHED = f"""SELECT data, polygons FROM landcover_tilecache
  WHERE vintage_id = %(vintage)s AND z = %(z)s AND x = %(x)s AND y = %(y)s
    AND z > {CACHE_MAX_ZOOM}"""
_GIVEN = "SELECT NULL::bytea AS data, %(polygons)s::bigint[] AS polygons"
TILE_LOCK = 7303  # advisory lock class: the detail tiles of a vintage (its id)


def _layers_statement(source: str, shown, generalised: bool) -> str:
    """`data` of `source` (one row: data, polygons) and, for each layer the viewer is
    shown (`contributions.TileLayer`), its MVT: the polygons of `source` it has rows for,
    drawn as on the polygons' layer, with its columns."""
    geom = "ST_Simplify(p.geom_3857, %(tolerance)s, true)" if generalised else "p.geom_3857"
    ctes = "".join(f",\n{layer.alias} AS ({layer.rows}\n)" for layer, *_ in shown)
    layers = "".join(
        f""",
  (SELECT ST_AsMVT(l, '{layer.name}', {EXTENT}, 'geom', 'fid') FROM (
     SELECT a.polygon_id AS fid, a.polygon_id AS id,
            {", ".join(f"a.{name}" for name, _ in layer.columns)},
            ST_AsMVTGeom({geom}, bounds.env, {EXTENT}, {BUFFER}, true) AS geom
     FROM {layer.alias} a CROSS JOIN bounds
     JOIN landcover_landcoverpolygon p ON p.id = a.polygon_id AND p.vintage_id = %(vintage)s
   ) l)"""
        for layer, *_ in shown
    )
    return f"""
WITH kept AS ({source}),
tile AS (SELECT unnest(kept.polygons) AS id FROM kept),
{_ENVELOPE}{ctes}
SELECT (SELECT data FROM kept){layers}
"""


def _joined(parts) -> bytes:
    # MVT tiles concatenate: a tile is a list of layers.
    return b"".join(bytes(part) for part in parts if part)


def kept_tile_query(
    vintage_id: int, z: int, x: int, y: int, shown=(), polygons=None
) -> tuple[str, dict]:
    """(SQL, params) answering a detail tile kept in TileCache: its polygons' layer
    (`data`, NULL when it is not kept) and the layers the viewer is shown (`shown`:
    `contributions.tile_layers`), one MVT each, built for the polygons it read. With
    `polygons` (the ids a tile just built read), those layers alone (`data` NULL)."""
    sql, params = vintage_tile_query(vintage_id, z, x, y)
    for _layer, _key, layer_params in shown:
        params.update(layer_params)
    if polygons is not None:
        params["polygons"] = polygons
    source = _CACHED if polygons is None else _GIVEN
    return _layers_statement(source, shown, z < FULL_DETAIL_ZOOM), params


def vintage_tile(vintage_id: int, z: int, x: int, y: int, shown=()) -> bytes:
    """A vintage tile above CACHE_MAX_ZOOM: its `polygons` layer, and the layers the apps
    above add as the viewer sees them (`shown`: `contributions.tile_layers`; the polygons
    with open signalements, …).

    Up to DETAIL_CACHE_MAX_ZOOM the polygons' layer is the same for every viewer: built by
    the first request (an index probe and the polygons of a small box: tens of ms at z14),
    kept in TileCache with the ids of the polygons it read, and read from there (one
    statement with the viewer's layers: `kept_tile_query`) until a correction of one of
    those polygons forgets it (`forget_statements`). Tiles up to CACHE_MAX_ZOOM:
    `low_zoom_tile`."""
    from django.conf import settings

    kept = z <= DETAIL_CACHE_MAX_ZOOM
    sql, params = kept_tile_query(vintage_id, z, x, y, shown)
    if kept:
        row = _fetch(sql, params)
        if row[0] is not None:
            return _joined(row)
    sql = vintage_tile_query(vintage_id, z, x, y, read=bool(shown) or kept)[0]
    with transaction.atomic():
        if kept:
            # A correction of these polygons waits for this tile to be kept, then forgets it.
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [TILE_LOCK, vintage_id])
            params["cap"] = settings.TILE_DETAIL_CACHE_MAX_PER_VINTAGE
            sql = _STORE.format(polygons=sql)
        row = _fetch(sql, params)
        data = bytes(row[0]) if row and row[0] else b""
        if not shown or not data:
            return data
        layers = _fetch(*kept_tile_query(vintage_id, z, x, y, shown, polygons=row[1]))
    return _joined([data, *layers[1:]])


def forget_statements(vintage_id: int, polygon_ids) -> tuple[str, list]:
    """(SQL, params) forgetting the kept detail tiles that read any of these polygons: a
    correction changed them (a split's pieces lie within the polygon split; an undone
    split's polygon within its part and the pieces undone). Two statements, for the
    correction's transaction, which may send them after its own in one round trip (each
    statement of a round trip reads what was committed when it starts): taking the
    vintage's tile lock waits for the tiles being built from the polygons as they were to
    be kept, the DELETE then forgets them; a tile built after waits for the correction to
    be committed."""
    return (
        "SELECT pg_advisory_xact_lock(%s, %s);\n"
        "DELETE FROM landcover_tilecache WHERE vintage_id = %s AND z > %s "
        "AND polygons && %s::bigint[]",
        [TILE_LOCK, vintage_id, vintage_id, CACHE_MAX_ZOOM, list(polygon_ids)],
    )


def low_zoom_tile(vintage_id: int, z: int, x: int, y: int, revision: int) -> tuple[int, bytes]:
    """(the revision it was built at, the tile) of a tile up to CACHE_MAX_ZOOM.

    Such a tile reads every polygon under it (seconds for a département-wide tile of a
    million polygons), so a request never waits for it once it has been built: the cached
    tile is served whatever revision it was built at, and a tile older than the vintage's
    `revision` is rebuilt by a worker (`refresh_tile`, asked at most once per
    TILE_REFRESH_SECONDS); at these scales (a screen pixel ≥ 76 m) a correction is at most a
    pixel or two, shown once the worker is done. A tile is built in the request only if it
    never was: `warm_tiles` builds them all after an import."""
    from .models import TileCache

    row = (
        TileCache.objects.filter(vintage_id=vintage_id, z=z, x=x, y=y)
        .values_list("revision", "data")
        .first()
    )
    if row is None:
        return revision, store_tile(vintage_id, z, x, y)
    built, data = row
    if built < revision:
        _ask_refresh(vintage_id, z, x, y, revision)
    return built, bytes(data)


def _ask_refresh(vintage_id: int, z: int, x: int, y: int, revision: int) -> None:
    """Send `refresh_tile` unless it was asked for less than TILE_REFRESH_SECONDS ago."""
    from django.conf import settings

    from apps.ops.dispatch import claimed, dispatch

    from .models import TileCache
    from .tasks import refresh_tile

    behind = TileCache.objects.filter(vintage_id=vintage_id, z=z, x=x, y=y, revision__lt=revision)
    if claimed(behind, "refresh_asked", settings.TILE_REFRESH_SECONDS):
        transaction.on_commit(lambda: dispatch(refresh_tile, vintage_id, z, x, y, keep=False))


def store_tile(vintage_id: int, z: int, x: int, y: int) -> bytes:
    """Build a tile up to CACHE_MAX_ZOOM at the vintage's current revision and keep it.

    Only tiles with something drawn are kept (an empty tile costs an index probe to build),
    and at most TILE_CACHE_MAX_PER_VINTAGE per vintage: what the cache holds is bounded by
    the vintage's extent, whatever is requested."""
    from django.conf import settings

    from apps.ops.timeouts import statement_timeout

    from .models import TileCache, Vintage

    revision = Vintage.objects.filter(pk=vintage_id).values_list("revision", flat=True).first()
    if revision is None:
        return b""
    key = {"vintage_id": vintage_id, "z": z, "x": x, "y": y}
    # Seconds on a million polygons: longer than a request's statements may run.
    with statement_timeout(settings.FIGURES_STATEMENT_TIMEOUT_MS):
        data = render(*vintage_tile_query(vintage_id, z, x, y))
    if not data:
        TileCache.objects.filter(**key).delete()
        return data
    fields = {"revision": revision, "data": data, "refresh_asked": None}
    if TileCache.objects.filter(**key).update(**fields):
        return data
    held = TileCache.objects.filter(vintage_id=vintage_id, z__lte=CACHE_MAX_ZOOM).values("pk")
    if held[: settings.TILE_CACHE_MAX_PER_VINTAGE].count() < settings.TILE_CACHE_MAX_PER_VINTAGE:
        TileCache.objects.bulk_create([TileCache(**key, **fields)], ignore_conflicts=True)
    return data


def tiles_over(bounds: tuple[float, float, float, float], z: int):
    """(x, y) of the tiles of zoom `z` meeting an EPSG:3857 box."""
    n = 1 << z
    width = tile_width(z)
    half = WORLD / 2

    def column(v):
        return min(max(int((v + half) // width), 0), n - 1)

    def row(v):
        return min(max(int((half - v) // width), 0), n - 1)

    xmin, ymin, xmax, ymax = bounds
    for x in range(column(xmin), column(xmax) + 1):
        for y in range(row(ymax), row(ymin) + 1):
            yield x, y


def extent_3857(table: str, column: str, value: int):
    """(xmin, ymin, xmax, ymax) in EPSG:3857 of the rows of `table` whose `column` is
    `value` (a vintage's polygons, a département's change pieces); None when there are none."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            f"ST_Extent(geom_3857) AS e FROM {table} WHERE {column} = %s) b",
            [value],
        )
        bounds = cur.fetchone()
    return None if bounds is None or bounds[0] is None else bounds


def warm_tiles(vintage_id: int) -> int:
    """Build every tile up to CACHE_MAX_ZOOM over the vintage's extent (after an import: a
    request then never builds one). Returns the number of tiles kept."""
    bounds = extent_3857("landcover_landcoverpolygon", "vintage_id", vintage_id)
    if bounds is None:
        return 0
    kept = 0
    for z in range(CACHE_MAX_ZOOM + 1):
        for x, y in tiles_over(bounds, z):
            kept += bool(store_tile(vintage_id, z, x, y))
    return kept


def change_tile(departement_id: int, z: int, x: int, y: int) -> bytes:
    return render(*change_tile_query(departement_id, z, x, y))


def url_template(name: str, key) -> str:
    """The Leaflet URL template ({z}/{x}/{y}) of the tile route `tiles:<name>` for `key`."""
    from django.urls import reverse

    return reverse(f"tiles:{name}", args=[key, 0, 0, 0]).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    lat_r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)
