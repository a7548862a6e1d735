"""PMTiles archives of a published vintage and of the M1→M2 change layer (open data).

One file holding every tile of zooms 0 to `ARCHIVE_MAX_ZOOM` (14, full detail: clients
overzoom beyond), readable with HTTP range requests and no tile server (the /donnees/ map,
QGIS, MapLibre, `pmtiles` tools). The tiles are the ones the live endpoint sends to a visitor
(`tiles.vintage_tile_query` without contributed attributes, `tiles.change_tile_query`), so the
archive and the site draw the same map; they are written gzipped, in tile-id order
(a clustered archive), empty tiles left out.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from . import tiles

ARCHIVE_MAX_ZOOM = tiles.FULL_DETAIL_ZOOM


def _bounds_e7(bounds_3857) -> dict:
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(3857, 4326, always_xy=True)
    xmin, ymin, xmax, ymax = bounds_3857
    west, south = to_wgs84.transform(xmin, ymin)
    east, north = to_wgs84.transform(xmax, ymax)
    return {
        "min_lon_e7": round(west * 1e7),
        "min_lat_e7": round(south * 1e7),
        "max_lon_e7": round(east * 1e7),
        "max_lat_e7": round(north * 1e7),
    }


def _write(path: Path, bounds_3857, tile, metadata: dict) -> int:
    """Write the archive of every non-empty `tile(z, x, y)` over the box; returns how many
    tiles it holds (0: no file written)."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    wanted = sorted(
        (zxy_to_tileid(z, x, y), z, x, y)
        for z in range(ARCHIVE_MAX_ZOOM + 1)
        for x, y in tiles.tiles_over(_widened(bounds_3857, z), z)
    )
    written = 0
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as f:
            writer = Writer(f)
            for tile_id, z, x, y in wanted:
                data = tile(z, x, y)
                if data:
                    writer.write_tile(tile_id, gzip.compress(data, mtime=0))
                    written += 1
            if written:
                box = _bounds_e7(bounds_3857)
                writer.finalize(
                    {
                        "tile_type": TileType.MVT,
                        "tile_compression": Compression.GZIP,
                        **box,
                        "center_zoom": _center_zoom(bounds_3857),
                        "center_lon_e7": (box["min_lon_e7"] + box["max_lon_e7"]) // 2,
                        "center_lat_e7": (box["min_lat_e7"] + box["max_lat_e7"]) // 2,
                    },
                    metadata,
                )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if written:
        partial.replace(path)
    else:
        partial.unlink(missing_ok=True)
    return written


def _widened(bounds_3857, z: int):
    """The box grown by an aggregation cell at zoom `z`: a cell of small polygons may reach
    over the polygons' extent into the next tile (`tiles.generalisation`)."""
    margin = tiles.tile_width(z) / 256 * tiles.CELL_PIXELS
    xmin, ymin, xmax, ymax = bounds_3857
    return xmin - margin, ymin - margin, xmax + margin, ymax + margin


def _center_zoom(bounds_3857) -> int:
    """The zoom at which the box fits in about four 256-pixel tiles."""
    span = max(bounds_3857[2] - bounds_3857[0], bounds_3857[3] - bounds_3857[1], 1.0)
    z = 0
    while z < ARCHIVE_MAX_ZOOM and tiles.tile_width(z + 1) * 2 >= span:
        z += 1
    return z


def _vintage_tile(vintage_id: int, revision: int):
    from .models import TileCache

    cached = {
        (z, x, y): bytes(data)
        for z, x, y, data in TileCache.objects.filter(
            vintage_id=vintage_id, revision=revision, z__lte=tiles.CACHE_MAX_ZOOM
        ).values_list("z", "x", "y", "data")
    }

    def tile(z, x, y):
        if z <= tiles.CACHE_MAX_ZOOM and (z, x, y) in cached:
            return cached[(z, x, y)]  # built by `warm_tiles` at this very revision
        return tiles.render(*tiles.vintage_tile_query(vintage_id, z, x, y))

    return tile


def _layer(name: str, fields: dict, description: str) -> dict:
    return {
        "id": name,
        "description": description,
        "fields": fields,
        "minzoom": 0,
        "maxzoom": ARCHIVE_MAX_ZOOM,
    }


def export_vintage_pmtiles(vintage, path: Path) -> int:
    """The vintage's tiles as a PMTiles archive at `path`; returns the number of tiles."""
    from ocsge.licence import LICENCE

    from .tile_views import POLYGON_FIELDS

    bounds = tiles.extent_3857("landcover_landcoverpolygon", "vintage_id", vintage.pk)
    if bounds is None:
        return 0
    dep = vintage.departement
    name = f"OCS GE {dep.code} {vintage.rank} {vintage.millesime}"
    metadata = {
        "name": name,
        "description": f"{name} — occupation du sol (CS) et usage (US), polygones",
        "attribution": "IGN — OCS GE",
        "licence": LICENCE,
        "revision": vintage.revision,
        "vector_layers": [
            _layer("polygons", POLYGON_FIELDS, "Polygones de l'OCS GE (code_cs, code_us)")
        ],
    }
    return _write(path, bounds, _vintage_tile(vintage.pk, vintage.revision), metadata)


def export_changes_pmtiles(departement, m1, m2, path: Path) -> int:
    """The M1→M2 change layer's tiles as a PMTiles archive; returns the number of tiles."""
    from ocsge.licence import LICENCE

    bounds = tiles.extent_3857("landcover_changepiece", "departement_id", departement.pk)
    if bounds is None:
        return 0
    name = f"OCS GE {departement.code} évolutions {m1.millesime} → {m2.millesime}"
    fields = {
        "before": "Number",
        "after": "Number",
        "cs_avant": "String",
        "us_avant": "String",
        "cs_apres": "String",
        "us_apres": "String",
    }
    metadata = {
        "name": name,
        "description": name,
        "attribution": "IGN — OCS GE",
        "licence": LICENCE,
        "vector_layers": [_layer("changes", fields, "Évolutions M1 → M2")],
    }

    def tile(z, x, y):
        return tiles.change_tile(departement.pk, z, x, y)

    return _write(path, bounds, tile, metadata)


def read_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    """Every tile of an archive, decompressed: {(z, x, y): tile} (tests, checks)."""
    from pmtiles.reader import MmapSource, all_tiles

    with path.open("rb") as f:
        return {zxy: gzip.decompress(data) for zxy, data in all_tiles(MmapSource(f))}


def archive_metadata(path: Path) -> tuple[dict, dict]:
    """(header, metadata) of an archive."""
    from pmtiles.reader import MmapSource, Reader

    with path.open("rb") as f:
        reader = Reader(MmapSource(f))
        return reader.header(), reader.metadata()
