"""What the apps above the land cover add to its map page and polygon panel, without this
app importing them (the layers point down: docs/architecture.md). Each registers its
functions in its AppConfig.ready (the signalements: their list on a polygon, their status
colours and labels on the map)."""

from collections.abc import Callable

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
