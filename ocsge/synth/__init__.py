"""A realistic synthetic département: land cover M1 and M2, communes, built-up zones.

Real OCS GE data cannot be downloaded here, so the product is demonstrated and benchmarked
on a generated landscape. It is drawn as a class raster (a town and villages with houses,
streets and gardens, an activity zone, a road network and a railway, fields and vineyards,
forests of each type, heath, a meandering river with ponds, a quarry), then turned into
polygons exactly like the inference output: sieved to the minimum mapping units,
polygonized and simplified as a coverage, so each vintage tiles the département with no gap
and no overlap. M2 is M1 plus plausible change: a housing estate on farmland, a new road,
clear-cuts, demolitions.

Pure numpy / scipy / rasterio / shapely / pyogrio (no Django): `generate()` writes the
official layout (`ocsge_M1.gpkg`, `ocsge_M2.gpkg`) and `territoires.gpkg` (ADMIN EXPRESS
layout). By theme: `raster` (primitives), `canvas` (the tile, its random streams, the
outline), `farmland`, `forests`, `water`, `settlements`, `roads`, `changes` (M2),
`landscape` (drawing and painting order), `product` (vectorising, writing a vintage),
`communes`, `tiling` (`generate`).
"""

from .landscape import Landscape, draw_landscape
from .themes import ARTIFICIAL_THEMES, THEMES
from .tiling import TILE_KM, generate

__all__ = ["ARTIFICIAL_THEMES", "THEMES", "TILE_KM", "Landscape", "draw_landscape", "generate"]
