"""The open-data catalogue in DCAT-AP (JSON-LD), for harvesting by data.gouv.fr and the
European portals: one `dcat:Dataset` per published département (its title, description,
licence, publisher, place — the WGS84 box —, period — from M1's year to M2's —, INSPIRE
theme « Land cover »), one `dcat:Distribution` per file of its package (download URL, media
type, size, SHA-256 checksum). Served at `/donnees/catalogue.jsonld`; built from the
publications, one query for them and one for their vintages."""

from __future__ import annotations

from django.urls import reverse

from apps.landcover.geofuncs import HeaderBox
from apps.landcover.geometry import departement_bounds_wgs84
from apps.landcover.models import Vintage

from .models import Publication
from .publication import LICENCE, LICENCE_URL

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "spdx": "http://spdx.org/rdf/terms#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "locn": "http://www.w3.org/ns/locn#",
    "gsp": "http://www.opengis.net/ont/geosparql#",
}
MEDIA_TYPES = {
    ".gpkg": "application/geopackage+sqlite3",
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv",
    ".json": "application/json",
    ".zip": "application/zip",
    ".pmtiles": "application/vnd.pmtiles",
}
LAND_COVER = "http://inspire.ec.europa.eu/theme/lc"
IGN = {"@type": "foaf:Agent", "foaf:name": "IGN — Institut national de l'information géographique"}


def _distribution(request, code: str, f: dict) -> dict:
    url = request.build_absolute_uri(reverse("campaigns:open-data-file", args=[code, f["name"]]))
    suffix = "." + f["name"].rsplit(".", 1)[-1]
    return {
        "@id": url,
        "@type": "dcat:Distribution",
        "dct:title": f["name"],
        "dct:description": f["description"],
        "dcat:downloadURL": {"@id": url},
        "dcat:accessURL": {"@id": url},
        "dcat:mediaType": {
            "@id": f"https://www.iana.org/assignments/media-types/{MEDIA_TYPES.get(suffix, '')}"
        },
        "dcat:byteSize": {"@value": str(f["size"]), "@type": "xsd:nonNegativeInteger"},
        "spdx:checksum": {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
            "spdx:checksumValue": f["sha256"],
        },
        "dct:license": {"@id": LICENCE_URL},
    }


def _box_wkt(box: list[float]) -> str:
    w, s, e, n = box
    return f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"


def catalogue(request) -> dict:
    published = list(
        Publication.objects.filter(state=Publication.State.DONE)
        .select_related("departement")
        .defer("departement__geom")
        .annotate(outline_box=HeaderBox("departement__geom"))
        .order_by("departement__code")
    )
    for publication in published:
        publication.departement.outline_box = publication.outline_box
    years: dict[int, list[int]] = {}
    for dep_id, year in Vintage.objects.filter(
        departement__in=[p.departement_id for p in published]
    ).values_list("departement_id", "millesime"):
        years.setdefault(dep_id, []).append(year)
    page = request.build_absolute_uri(reverse("campaigns:open-data"))
    datasets = []
    for p in published:
        dep = p.departement
        first, last = min(years.get(dep.pk, [0])), max(years.get(dep.pk, [0]))
        datasets.append(
            {
                "@id": f"{page}#d{dep.code}",
                "@type": "dcat:Dataset",
                "dct:identifier": f"ocsge-{dep.code}-{first}-{last}",
                "dct:title": f"OCS GE {dep.code} {dep.name}, {first} et {last}, corrigée",
                "dct:description": (
                    f"Occupation du sol à grande échelle du département {dep.code} "
                    f"({dep.name}), millésimes {first} et {last} corrigés après la revue "
                    "collaborative, leurs évolutions et l'artificialisation par commune "
                    f"(EPSG:{dep.srid})."
                ),
                "dct:issued": {"@value": p.published_at.isoformat(), "@type": "xsd:dateTime"},
                "dct:publisher": IGN,
                "dct:license": {"@id": LICENCE_URL},
                "dct:rights": LICENCE,
                "dcat:theme": {"@id": LAND_COVER},
                "dcat:keyword": ["occupation du sol", "OCS GE", "artificialisation", dep.name],
                "dct:spatial": {
                    "@type": "dct:Location",
                    "dcat:bbox": {
                        "@value": _box_wkt(departement_bounds_wgs84(dep)),
                        "@type": "gsp:wktLiteral",
                    },
                },
                "dct:temporal": {
                    "@type": "dct:PeriodOfTime",
                    "dcat:startDate": {"@value": f"{first}-01-01", "@type": "xsd:date"},
                    "dcat:endDate": {"@value": f"{last}-12-31", "@type": "xsd:date"},
                },
                "dcat:landingPage": {"@id": f"{page}#d{dep.code}"},
                "dcat:distribution": [_distribution(request, dep.code, f) for f in p.files],
            }
        )
    return {
        "@context": CONTEXT,
        "@id": request.build_absolute_uri(reverse("campaigns:open-data-catalogue")),
        "@type": "dcat:Catalog",
        "dct:title": "OCS GE publiée — revue collaborative",
        "dct:description": "Les départements dont l'OCS GE corrigée est publiée.",
        "dct:publisher": IGN,
        "dct:license": {"@id": LICENCE_URL},
        "foaf:homepage": {"@id": page},
        "dcat:dataset": datasets,
    }
