"""Load régions, départements and communes from an ADMIN EXPRESS GeoPackage, idempotently."""

from pathlib import Path

import pyogrio
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction

from .models import SRID_L93, Commune, Departement, Region

LAYERS = {
    "REGION": ("INSEE_REG", "NOM"),
    "DEPARTEMENT": ("INSEE_DEP", "INSEE_REG", "NOM"),
    "COMMUNE": ("INSEE_COM", "INSEE_DEP", "NOM", "SIREN_EPCI"),
}


CODE_LENGTHS = {"INSEE_REG": 3, "INSEE_DEP": 3, "INSEE_COM": 5}


class TerritoryFileError(Exception):
    pass


def _read(path: Path, layer: str):
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise TerritoryFileError(f"Couche {layer} illisible dans {path.name} : {exc}") from exc
    upper = {f.upper(): f for f in info["fields"]}
    optional = {"SIREN_EPCI"}
    missing = [f for f in LAYERS[layer] if f not in upper and f not in optional]
    if missing:
        raise TerritoryFileError(f"Couche {layer} : champ(s) manquant(s) {', '.join(missing)}")
    meta, table = pyogrio.read_arrow(path, layer=layer)
    geoms = shapely.from_wkb(
        table.column(meta["geometry_name"] or "wkb_geometry").to_numpy(zero_copy_only=False)
    )
    crs = info.get("crs") or ""
    if "2154" not in crs:
        raise TerritoryFileError(f"Couche {layer} : EPSG:2154 attendu, trouvé {crs or 'aucun'}")
    cols = {
        f: [str(v) if v is not None else "" for v in table.column(upper[f]).to_pylist()]
        for f in LAYERS[layer]
        if f in upper
    }
    for f, values in cols.items():
        limit = CODE_LENGTHS.get(f)
        bad = [v for v in values if limit and not (1 <= len(v) <= limit)]
        if bad:
            raise TerritoryFileError(
                f"Couche {layer} : {f} doit compter au plus {limit} caractères "
                f"({len(bad)} valeur(s) invalide(s), ex. {', '.join(bad[:5])})"
            )
    multis = [
        GEOSGeometry(
            memoryview(
                shapely.to_wkb(g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]))
            ),
            srid=SRID_L93,
        )
        for g in geoms
    ]
    return cols, multis


def load_territories(path) -> dict[str, int]:
    """Upsert every région, département and commune of the file (keyed by INSEE code)."""
    path = Path(path)
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:
        raise TerritoryFileError(f"{path.name} n'est pas un GeoPackage lisible : {exc}") from exc
    absent = [layer for layer in LAYERS if layer not in layers]
    if absent:
        raise TerritoryFileError(f"Couche(s) absente(s) : {', '.join(absent)}")
    counts = {}
    with transaction.atomic():
        cols, geoms = _read(path, "REGION")
        Region.objects.bulk_create(
            [
                Region(code=c, name=n, geom=g)
                for c, n, g in zip(cols["INSEE_REG"], cols["NOM"], geoms, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "geom"],
        )
        counts["regions"] = len(geoms)
        regions = dict(Region.objects.values_list("code", "id"))
        cols, geoms = _read(path, "DEPARTEMENT")
        Departement.objects.bulk_create(
            [
                Departement(code=c, name=n, region_id=regions.get(r), geom=g)
                for c, r, n, g in zip(
                    cols["INSEE_DEP"], cols["INSEE_REG"], cols["NOM"], geoms, strict=True
                )
            ],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "region", "geom"],
        )
        counts["departements"] = len(geoms)
        deps = dict(Departement.objects.values_list("code", "id"))
        cols, geoms = _read(path, "COMMUNE")
        unknown = sorted({d for d in cols["INSEE_DEP"] if d not in deps})
        if unknown:
            raise TerritoryFileError(f"Communes d'un département inconnu : {', '.join(unknown)}")
        sirens = cols.get("SIREN_EPCI", [""] * len(geoms))
        Commune.objects.bulk_create(
            [
                Commune(code=c, name=n, departement_id=deps[d], siren_epci=s, geom=g)
                for c, d, n, s, g in zip(
                    cols["INSEE_COM"], cols["INSEE_DEP"], cols["NOM"], sirens, geoms, strict=True
                )
            ],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "departement", "siren_epci", "geom"],
        )
        counts["communes"] = len(geoms)
    return counts
