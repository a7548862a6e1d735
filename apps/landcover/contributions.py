"""What the apps above the land cover add to its map page and polygon panel, without this
app importing them (the layers point down: docs/architecture.md). Each registers its
functions in its AppConfig.ready (the signalements: their list on a polygon, their status
colours and labels on the map, the tiles' layer of the polygons with open ones)."""

from collections.abc import Callable
from dataclasses import dataclass

# fn(config: dict, request, departement): adds to the map page's configuration in place.
MAP_CONFIG: list[Callable] = []
# fn(polygon, vintage, user) -> dict: merged into the polygon panel's answer.
PANEL: list[Callable] = []


def add_map_config(config: dict, request, departement) -> dict:
    for contribute in MAP_CONFIG:
        contribute(config, request, departement)
    return config


def panel(polygon, vintage, user) -> dict:
    out = {}
    for contribute in PANEL:
        out.update(contribute(polygon, vintage, user))
    return out


@dataclass(frozen=True)
class TileLayer:
    """A layer an app adds to the vintage tiles above CACHE_MAX_ZOOM (the lower tiles are
    shared by every viewer and cached: they carry none): the tile's polygons the app has
    something to say about, drawn as on the `polygons` layer, with its `columns`. The
    `polygons` layer itself is the same for every viewer and kept once built
    (`tiles.vintage_tile`); the contributed layers are the viewer's, built on each request.

    `rows`: SQL selecting `polygon_id` and the `columns`, at most one row per polygon, for
    the polygons of the tile — the statement's CTE `tile` (its column `id`): e.g. `WHERE
    s.polygon_id = ANY(ARRAY(SELECT id FROM tile)) … GROUP BY s.polygon_id` (an array:
    the planner then looks the ids up in an index, whatever it guessed of the tile's size).
    It becomes the CTE `alias`; its parameters are named `<alias>_…`. Features: the
    polygon's id as feature id and `id`, then the columns.
    `viewer(user, departement_id)` -> (etag key, parameters), or None when the viewer is
    shown nothing (the layer is then left out); `user` None: everything (the benchmark)."""

    name: str  # the MVT layer's name
    alias: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type), in the layer's order
    rows: str
    viewer: Callable


TILE_LAYERS: list[TileLayer] = []


def tile_layers(user, departement_id: int) -> list[tuple[TileLayer, str, dict]]:
    """What the viewer is shown on the vintage tiles: (layer, etag key, parameters)."""
    shown = []
    for layer in TILE_LAYERS:
        seen = layer.viewer(user, departement_id)
        if seen is not None:
            shown.append((layer, *seen))
    return shown


# fn(user) -> list of `ogc.Collection`: what an app adds to the OGC API – Features endpoint.
OGC_COLLECTIONS: list[Callable] = []
