"""The département's territories in the ADMIN EXPRESS layout (REGION, DEPARTEMENT,
COMMUNE): communes as Voronoi cells around the settlements and more seeds, French-sounding
names, two EPCI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import shapely

from ocsge.crs import DROM_REGION, official_epsg
from ocsge.ogr import pyogrio

_SYLL = [
    "mar",
    "bel",
    "ven",
    "cour",
    "ro",
    "lan",
    "mont",
    "fon",
    "ville",
    "ber",
    "sau",
    "chal",
    "gny",
    "ac",
    "ay",
    "an",
    "euil",
    "ieu",
    "val",
    "pré",
    "bois",
    "ri",
    "ton",
    "mes",
    "ché",
]
_SAINTS = ["Martin", "Pierre", "Germain", "Julien", "Laurent", "Denis", "Hilaire", "Étienne"]
_RIVERS = ["Loire", "Vienne", "Saône", "Sèvre", "Orne", "Aube", "Creuse", "Ouche"]


def commune_name(rng, used):
    for _ in range(100):
        base = "".join(rng.choice(_SYLL, size=rng.integers(2, 4))).capitalize()
        r = rng.random()
        if r < 0.15:
            name = f"Saint-{rng.choice(_SAINTS)}"
            if rng.random() < 0.6:
                name += f"-sur-{rng.choice(_RIVERS)}"
        elif r < 0.3:
            name = f"{base}-sur-{rng.choice(_RIVERS)}"
        elif r < 0.4:
            name = f"{base}-le-{rng.choice(['Château', 'Bois', 'Vieux', 'Haut'])}"
        else:
            name = base
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("could not find a fresh commune name")


def write_territories(path: Path, code: str, name: str, dept_geom, settlements, seed: int):
    """ADMIN EXPRESS layout: REGION, DEPARTEMENT, COMMUNE; communes by Voronoi of centres."""
    rng = np.random.default_rng(seed + 1)
    minx, miny, maxx, maxy = dept_geom.bounds
    seeds = [(x, y) for x, y, _, _ in settlements]
    area_km2 = dept_geom.area / 1e6
    # INSEE commune codes have three digits after the département's: at most 999 communes.
    # (two digits in a DROM, whose département codes have three).
    digits = 5 - len(code)
    most = 10**digits - 1
    seeds = seeds[: most * 9 // 10]
    target = min(most, max(len(seeds) + 1, int(area_km2 / 9)))
    while len(seeds) < target:
        p = (rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if dept_geom.contains(shapely.Point(p)) and all(
            math.hypot(p[0] - a, p[1] - b) > 1500 for a, b in seeds
        ):
            seeds.append(p)
        elif rng.random() < 0.01:
            seeds.append(p) if dept_geom.contains(shapely.Point(p)) else None
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(seeds), extend_to=dept_geom.envelope.buffer(10)
    )
    cells = [c.intersection(dept_geom) for c in cells.geoms]
    cells = [c for c in cells if not c.is_empty and c.area > 0]
    used: set[str] = set()
    names = [commune_name(rng, used) for _ in cells]
    # The town's commune carries the département's name's prefecture role: first one.
    region_code = DROM_REGION.get(code) or ("9" + code[-1] if len(code) == 2 else "99")
    crs = f"EPSG:{official_epsg(code)}"
    epci_split = np.median([c.centroid.x for c in cells])
    sirens = [
        "2" + code.zfill(3) + ("00001" if c.centroid.x < epci_split else "00002") for c in cells
    ]

    def multi(g):
        return (
            g
            if g.geom_type == "MultiPolygon"
            else shapely.MultiPolygon(
                [p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon"]
            )
        )

    if path.exists():
        path.unlink()
    dept = multi(dept_geom)
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array([dept])),
        [np.array([region_code]), np.array(["Région de démonstration"])],
        ["INSEE_REG", "NOM"],
        layer="REGION",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=crs,
    )
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array([dept])),
        [np.array([code]), np.array([region_code]), np.array([name])],
        ["INSEE_DEP", "INSEE_REG", "NOM"],
        layer="DEPARTEMENT",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=crs,
        append=True,
    )
    k = len(cells)
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array([multi(c) for c in cells])),
        [
            np.array([f"{code}{i + 1:0{digits}d}" for i in range(k)]),
            np.full(k, code, dtype=object),
            np.full(k, region_code, dtype=object),
            np.array(sirens),
            np.array(names),
        ],
        ["INSEE_COM", "INSEE_DEP", "INSEE_REG", "SIREN_EPCI", "NOM"],
        layer="COMMUNE",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=crs,
        append=True,
    )
    # Two communautés de communes (west and east), named after their first commune.
    epcis = sorted(set(sirens))
    first = {s: names[sirens.index(s)] for s in epcis}
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(
            np.array(
                [
                    multi(
                        shapely.union_all([c for c, e in zip(cells, sirens, strict=True) if e == s])
                    )
                    for s in epcis
                ]
            )
        ),
        [
            np.array(epcis),
            np.array([f"Communauté de communes de {first[s]}" for s in epcis]),
            np.full(len(epcis), "Communauté de communes", dtype=object),
        ],
        ["CODE_SIREN", "NOM", "NATURE"],
        layer="EPCI",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=crs,
        append=True,
    )
    return k
