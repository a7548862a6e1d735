"""What the apps above the land cover add to its map page and polygon panel, without this
app importing them (the layers point down: docs/architecture.md). Each registers its
functions in its AppConfig.ready (the signalements: their list on a polygon, their status
colours and labels on the map, the count and status of a polygon's open ones on the tiles)."""

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
class TileAttributes:
    """Attributes an app adds to each polygon of the vintage tiles above CACHE_MAX_ZOOM
    (the lower tiles are shared by every viewer and cached: they carry none).

    `rows`: SQL selecting `polygon_id` and the `columns`, at most one row per polygon, for
    the polygons of the tile — the statement's CTE `tile` (its column `id`): e.g. `WHERE
    s.polygon_id = ANY(ARRAY(SELECT id FROM tile)) … GROUP BY s.polygon_id` (an array:
    the planner then looks the ids up in an index, whatever it guessed of the tile's size).
    It becomes the CTE `alias`, joined to the tile's polygons (NULLs where it has no row):
    the database looks up only the tile's polygons, in one pass, not a subquery per
    polygon. Its parameters are named `<alias>_…`.
    `viewer(user, departement_id)` -> (etag key, parameters), or None when the viewer is
    shown nothing (the join is then left out); `user` None: everything (the benchmark)."""

    alias: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type), in the tile's order
    rows: str
    viewer: Callable


TILE_ATTRIBUTES: list[TileAttributes] = []


def tile_attributes(user, departement_id: int) -> list[tuple[TileAttributes, str, dict]]:
    """What the viewer is shown on the vintage tiles: (attributes, etag key, parameters)."""
    shown = []
    for attributes in TILE_ATTRIBUTES:
        seen = attributes.viewer(user, departement_id)
        if seen is not None:
            shown.append((attributes, *seen))
    return shown


# fn(user) -> list of `ogc.Collection`: what an app adds to the OGC API – Features endpoint.
OGC_COLLECTIONS: list[Callable] = []
