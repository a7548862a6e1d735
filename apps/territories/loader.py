"""Load régions, départements, EPCI and communes from ADMIN EXPRESS (or ADMIN EXPRESS COG)
as downloaded, idempotently (formats README « ADMIN EXPRESS »).

The delivery may be the `.7z` with its dated folders, the extracted folder, the Shapefiles
(REGION.shp, DEPARTEMENT.shp, EPCI.shp, COMMUNE.shp, ESRI `.prj`), a GeoPackage of those
layers, or the France-wide GeoPackage edition in WGS84. Each territory is stored in its
official CRS (`ocsge.crs`): Lambert-93 in metropolitan France, its own UTM projection in
each DROM (the DROM editions are delivered in it; the WGS84 edition is brought into it). A
file in a projected CRS other than the territory's is refused, never reprojected.
`departements` restricts the load to some départements (their région, their communes and
the EPCI these belong to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.utils.translation import gettext as _
from pyproj import Transformer

from apps.ops.deliveries import DeliveryRefused, Layer, layers_of
from ocsge.crs import OFFICIAL_CRS, identified_epsg, official_epsg, region_epsg
from ocsge.ogr import pyogrio

from .models import Commune, Departement, Epci, Region

# layer -> its fields (matched without regard to case); EPCI is optional (older files).
LAYERS = {
    "REGION": ("INSEE_REG", "NOM"),
    "DEPARTEMENT": ("INSEE_DEP", "INSEE_REG", "NOM"),
    "EPCI": ("CODE_SIREN", "NOM", "NATURE"),
    "COMMUNE": ("INSEE_COM", "INSEE_DEP", "NOM", "SIREN_EPCI"),
}
OPTIONAL_FIELDS = {"SIREN_EPCI", "NATURE"}
CODE_LENGTHS = {"INSEE_REG": 3, "INSEE_DEP": 3, "INSEE_COM": 5, "CODE_SIREN": 9}
WGS84 = 4326
NO_EPCI = {"", "NR", "NC"}


class TerritoryFileError(Exception):
    pass


@dataclass
class _Read:
    cols: dict[str, list[str]]
    geoms: list
    epsg: int = WGS84  # the file's CRS
    layer: str = ""


@dataclass
class Report:
    counts: dict[str, int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # what was not loaded, and why


def _read(layer: Layer, name: str) -> _Read:
    try:
        info = pyogrio.read_info(layer.path, layer=layer.name)
        meta, table = pyogrio.read_arrow(layer.path, layer=layer.name)
    except Exception as exc:
        raise TerritoryFileError(
            _("Couche %(layer)s illisible : %(why)s") % {"layer": layer, "why": exc}
        ) from exc
    upper = {f.upper(): f for f in info["fields"]}
    missing = [f for f in LAYERS[name] if f not in upper and f not in OPTIONAL_FIELDS]
    if missing:
        raise TerritoryFileError(
            _("Couche %(layer)s : champ(s) manquant(s) %(missing)s")
            % {"layer": name, "missing": ", ".join(missing)}
        )
    crs = info.get("crs")
    epsg = identified_epsg(crs) if crs else None
    if epsg not in OFFICIAL_CRS and epsg != WGS84:
        raise TerritoryFileError(
            _(
                "Couche %(layer)s : le système officiel d'un territoire (EPSG:2154 Lambert-93, "
                "ou celui d'un DROM) ou WGS84 attendu, trouvé %(crs)s"
            )
            % {"layer": name, "crs": f"EPSG:{epsg}" if epsg else (crs or _("aucun"))}
        )
    geoms = shapely.from_wkb(
        table.column(meta["geometry_name"] or "wkb_geometry").to_numpy(zero_copy_only=False)
    )
    cols = {
        f: [str(v).strip() if v is not None else "" for v in table.column(upper[f]).to_pylist()]
        for f in LAYERS[name]
        if f in upper
    }
    for f, values in cols.items():
        limit = CODE_LENGTHS.get(f)
        bad = [v for v in values if limit and not (1 <= len(v) <= limit)]
        if bad:
            raise TerritoryFileError(
                _(
                    "Couche %(layer)s : %(field)s doit compter au plus %(n)d caractères "
                    "(%(count)d valeur(s) invalide(s), ex. %(ex)s)"
                )
                % {
                    "layer": name,
                    "field": f,
                    "n": limit,
                    "count": len(bad),
                    "ex": ", ".join(bad[:5]),
                }
            )
    return _Read(cols, list(geoms), epsg, name)


def _in_crs(read: _Read, targets: list[int]) -> list[GEOSGeometry]:
    """Each geometry as a MultiPolygon in its territory's official CRS `targets[i]`: as read
    when the file is in it, brought from WGS84 otherwise; another projected CRS is
    refused."""
    wrong = sorted({t for t in targets if t != read.epsg} if read.epsg != WGS84 else set())
    if wrong:
        raise TerritoryFileError(
            _(
                "Couche %(layer)s en EPSG:%(found)d, mais des territoires s'y mesurent en "
                "%(expected)s (leur système officiel) : prenez l'édition de ces territoires, "
                "ou l'édition France entière en WGS84."
            )
            % {
                "layer": read.layer,
                "found": read.epsg,
                "expected": ", ".join(f"EPSG:{t}" for t in wrong),
            }
        )
    out: list = [None] * len(read.geoms)
    geoms = np.asarray(read.geoms, dtype=object)
    targets_arr = np.asarray(targets)
    for target in set(targets):
        idx = np.flatnonzero(targets_arr == target)
        part = geoms[idx]
        if read.epsg != target:
            to = Transformer.from_crs(read.epsg, target, always_xy=True)
            part = shapely.transform(part, lambda xy, to=to: np.column_stack(to.transform(*xy.T)))
        for i, g in zip(idx, part, strict=True):
            g = g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g])
            out[i] = GEOSGeometry(memoryview(shapely.to_wkb(g)), srid=target)
    return out


def _keep(read: _Read, mask: list[bool]) -> _Read:
    return _Read(
        {f: [v for v, k in zip(vs, mask, strict=True) if k] for f, vs in read.cols.items()},
        [g for g, k in zip(read.geoms, mask, strict=True) if k],
        read.epsg,
        read.layer,
    )


def sirens(value: str) -> list[str]:
    """The EPCI of a commune's SIREN_EPCI: none for « NR »/« NC », several joined by « / »."""
    return [s.strip() for s in value.split("/") if s.strip() not in NO_EPCI]


def load_territories(path, departements: list[str] | None = None) -> Report:
    """Upsert the régions, départements, EPCI and communes of the delivery (keyed by their
    codes), all of them or those of `departements`."""
    kinds = _("une archive ADMIN EXPRESS (.7z, .zip), ni un GeoPackage, ni un Shapefile")
    try:
        with layers_of(Path(path), tuple(LAYERS), kinds) as found:
            layers = {name: found.one(name, required=name != "EPCI") for name in LAYERS}
            read = {name: _read(layer, name) for name, layer in layers.items() if layer}
    except DeliveryRefused as exc:
        raise TerritoryFileError(str(exc)) from exc
    return _load(read, departements)


def _load(read: dict[str, _Read], wanted: list[str] | None) -> Report:
    report = Report()
    deps, regions, communes = read["DEPARTEMENT"], read["REGION"], read["COMMUNE"]
    known = set(deps.cols["INSEE_DEP"])
    if wanted:
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise TerritoryFileError(
                _("Département(s) absent(s) du fichier : %s") % ", ".join(unknown)
            )
    deps = _keep(deps, [not wanted or d in wanted for d in deps.cols["INSEE_DEP"]])
    used_regions = set(deps.cols["INSEE_REG"])
    regions = _keep(regions, [r in used_regions for r in regions.cols["INSEE_REG"]])
    dep_codes = set(deps.cols["INSEE_DEP"])
    communes = _keep(communes, [d in dep_codes for d in communes.cols["INSEE_DEP"]])
    commune_sirens = communes.cols.get("SIREN_EPCI", [""] * len(communes.geoms))
    referenced = {s for value in commune_sirens for s in sirens(value)}
    region_geoms = _in_crs(regions, [region_epsg(r) for r in regions.cols["INSEE_REG"]])
    dep_geoms = _in_crs(deps, [official_epsg(d) for d in deps.cols["INSEE_DEP"]])
    commune_geoms = _in_crs(communes, [official_epsg(d) for d in communes.cols["INSEE_DEP"]])
    with transaction.atomic():
        Region.objects.bulk_create(
            [
                Region(code=c, name=n, geom=g)
                for c, n, g in zip(
                    regions.cols["INSEE_REG"], regions.cols["NOM"], region_geoms, strict=True
                )
            ],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "geom"],
        )
        region_ids = dict(Region.objects.values_list("code", "id"))
        Departement.objects.bulk_create(
            [
                Departement(code=c, name=n, region_id=region_ids.get(r), geom=g)
                for c, r, n, g in zip(
                    deps.cols["INSEE_DEP"],
                    deps.cols["INSEE_REG"],
                    deps.cols["NOM"],
                    dep_geoms,
                    strict=True,
                )
            ],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "region", "geom"],
        )
        dep_ids = dict(Departement.objects.values_list("code", "id"))
        epcis = _epcis(read.get("EPCI"), referenced)
        Epci.objects.bulk_create(
            [Epci(siren=s, name=n, nature=k) for s, (n, k) in epcis.items()],
            update_conflicts=True,
            unique_fields=["siren"],
            update_fields=["name", "nature"],
        )
        Commune.objects.bulk_create(
            [
                Commune(code=c, name=n, departement_id=dep_ids[d], siren_epci=s, geom=g)
                for c, d, n, s, g in zip(
                    communes.cols["INSEE_COM"],
                    communes.cols["INSEE_DEP"],
                    communes.cols["NOM"],
                    commune_sirens,
                    commune_geoms,
                    strict=True,
                )
            ],
            update_conflicts=True,
            unique_fields=["code"],
            update_fields=["name", "departement", "siren_epci", "geom"],
        )
        _link_epcis(communes.cols["INSEE_COM"])
    report.counts = {
        "regions": len(regions.geoms),
        "departements": len(deps.geoms),
        "epci": len(epcis),
        "communes": len(communes.geoms),
    }
    return report


def _epcis(layer: _Read | None, referenced: set[str]) -> dict[str, tuple[str, str]]:
    """SIREN -> (name, nature) of the EPCI the loaded communes belong to; those the file
    does not describe are named by their SIREN."""
    described = {}
    if layer is not None:
        natures = layer.cols.get("NATURE", [""] * len(layer.geoms))
        described = {
            s: (n, k)
            for s, n, k in zip(layer.cols["CODE_SIREN"], layer.cols["NOM"], natures, strict=True)
        }
    return {s: described.get(s, (f"EPCI {s}", "")) for s in sorted(referenced)}


def _link_epcis(codes: list[str]):
    """The communes' memberships, from their SIREN_EPCI (set-based)."""
    table = Commune.epcis.through._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""
            DELETE FROM {table} WHERE commune_id IN
              (SELECT id FROM territories_commune WHERE code = ANY(%(codes)s));
            INSERT INTO {table} (commune_id, epci_id)
            SELECT c.id, e.id FROM territories_commune c
            CROSS JOIN LATERAL unnest(string_to_array(c.siren_epci, '/')) s
            JOIN territories_epci e ON e.siren = trim(s)
            WHERE c.code = ANY(%(codes)s)
            ON CONFLICT DO NOTHING;
            """,
            {"codes": codes},
        )
