import numpy as np
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry

from apps.landcover import synth


@pytest.fixture(scope="session")
def small_departement(tmp_path_factory):
    """A generated département (M1, M2, territories), shared by the whole session."""
    out = tmp_path_factory.mktemp("dep99")
    result = synth.generate(out, code="99", size_km=4, seed=7, log=lambda *_: None)
    return out, result


def write_gpkg(path, geoms, crs="EPSG:2154", layer="OCCUPATION_SOL", append=False, **columns):
    """Write a tiny GeoPackage layer from shapely geometries and column lists."""
    geoms = np.asarray(geoms, dtype=object)
    names = list(columns)
    arrays = [
        np.asarray(v, dtype=object if isinstance(v[0], str) else None) for v in columns.values()
    ]
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(geoms),
        arrays,
        names,
        layer=layer,
        driver="GPKG",
        geometry_type=geoms[0].geom_type,
        crs=crs,
        append=append,
    )
    return path


def square_rows(n=4, size=100.0, x0=700_000.0, y0=6_600_000.0, cs="CS2.2.1", us="US1.1"):
    """n×n squares of `size` metres tiling a square, with OCS GE columns."""
    geoms = [
        shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
        for i in range(n)
        for j in range(n)
    ]
    k = len(geoms)
    return geoms, {
        "id": [f"OCSGE{i + 1:016d}" for i in range(k)],
        "code_cs": [cs] * k,
        "code_us": [us] * k,
        "millesime": [2021] * k,
    }


@pytest.fixture
def square_departement(db):
    """Département 98 whose territory is the 400 m square of `square_rows()`."""
    from apps.territories.models import Departement

    geom = GEOSGeometry(shapely.box(700_000, 6_600_000, 700_400, 6_600_400).wkt, srid=2154)
    from django.contrib.gis.geos import MultiPolygon

    return Departement.objects.create(code="98", name="Carré", geom=MultiPolygon(geom, srid=2154))
