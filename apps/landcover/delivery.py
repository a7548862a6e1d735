"""An OCS GE delivery as users have it, opened for the import (formats README « OCS GE »):
the `.7z` as downloaded from IGN's Géoplateforme, a `.zip`, the extracted folder, a
GeoPackage holding OCCUPATION_SOL (and maybe ZONE_CONSTRUITE), or a Shapefile
`OCCUPATION_SOL.shp` (OCS GE 1.x); ZONE_CONSTRUITE is found beside OCCUPATION_SOL
(`ops.deliveries` reads the archives and finds the layers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.ops.deliveries import DeliveryRefused, Layer, layers_of

OCCUPATION = "OCCUPATION_SOL"
ZONES = "ZONE_CONSTRUITE"

__all__ = ["Delivery", "DeliveryRefused", "Layer", "opened"]


@dataclass(frozen=True)
class Delivery:
    occupation: Layer
    zones: Layer | None
    source: str  # the name the user gave (archive, folder or file)


@contextlib.contextmanager
def opened(path) -> Iterator[Delivery]:
    kinds = _("une archive de livraison (.7z, .zip), ni un GeoPackage, ni un Shapefile")
    with layers_of(path, (OCCUPATION, ZONES), kinds) as found:
        occupation = found.one(OCCUPATION)
        yield Delivery(occupation, found.one(ZONES, required=False), found.source)
