"""OGC API – Features (Part 1 Core with GeoJSON; Part 2 for each département's official
CRS — Lambert-93, or the DROM's UTM projection): what QGIS, GDAL and ArcGIS speak.
Collections: each vintage a user may see (its polygons), each département's M1→M2 change
layer when both vintages are visible, and what the apps above contribute
(`contributions.OGC_COLLECTIONS`: the signalements the user may see, per département).
Items: `bbox` (WGS84, or the storage CRS with `bbox-crs`), `limit` with `next` links
(keyset paging: constant time at any depth), property filters, and `crs` (WGS84 by
default, or the storage CRS: the département's, in which the data is stored).

Permissions as everywhere (`scoping.visible_vintages`): published vintages are open to
everyone; the others to the members of their territory.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.gis.db.models.functions import AsGeoJSON, Transform
from django.contrib.gis.geos import Polygon
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET

from .contributions import OGC_COLLECTIONS
from .geofuncs import HeaderBox
from .geometry import bounds_wgs84
from .models import ChangePiece, LandCoverPolygon, Vintage
from .scoping import visible_vintages

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
DEFAULT_LIMIT = 100
# A page's features at most (`limit` above is lowered; `next` links page on): 10,000 of the
# million-polygon vintage were 22 MB and 1 to 2 s per request; GIS clients page by 1,000.
MAX_LIMIT = 2_000
GEOJSON = "application/geo+json"
PROPERTIES = ("ocsge_id", "code_cs", "code_us", "millesime", "area", "revision")
CHANGE_PROPERTIES = ("cs_avant", "us_avant", "cs_apres", "us_apres", "area")


@dataclass
class Collection:
    """A collection: its rows (`rows(srid)`: a queryset with `shape`, the GeoJSON of the
    geometry in `srid`), the properties of its items, the property filters it takes."""

    id: str
    title: str
    description: str
    bbox: Callable[[], list[float]]
    rows: Callable[[int], object]
    properties: tuple[str, ...]
    filters: tuple[str, ...] = ()
    geometry_field: str = "geom"
    storage_srid: int = 2154  # the département's official CRS, in which rows are stored
    # Time: the collection's interval ([start, end], datetimes or None), and the rows within
    # an interval (`datetime`): a filter of the queryset by (start, end), either may be None.
    interval: Callable[[], list] | None = None
    during: Callable[[object, object, object], object] | None = None

    @property
    def storage_crs(self) -> str:
        return f"{EPSG}{self.storage_srid}"

    def srid_of(self, uri: str | None) -> int:
        """The SRID of a `crs`/`bbox-crs` parameter: CRS84 (the default) or the storage
        CRS (OGC API – Features Part 2)."""
        uri = uri or CRS84
        if uri == CRS84:
            return 4326
        if uri == self.storage_crs:
            return self.storage_srid
        raise BadRequest(f"crs {uri} : {CRS84} ou {self.storage_crs}")


def year_interval(first: int, last: int | None = None) -> list:
    """[1 January of `first`, 31 December of `last`] in UTC: a millésime's time."""
    last = first if last is None else last
    return [
        datetime.datetime(first, 1, 1, tzinfo=datetime.UTC),
        datetime.datetime(last, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
    ]


def within(field: str, years: bool = False):
    """The `during` of rows carrying a moment in `field` — a year (`millesime`) with
    `years` —: those within the interval."""

    def during(queryset, start, end):
        if start is not None:
            queryset = queryset.filter(**{f"{field}__gte": start.year if years else start})
        if end is not None:
            queryset = queryset.filter(**{f"{field}__lte": end.year if years else end})
        return queryset

    return during


def shaped(queryset, srid: int, field: str = "geom", storage: int = 2154):
    """`queryset` with `shape`: the GeoJSON of `field` (stored in `storage`) in `srid`."""
    geometry = field if srid == storage else Transform(field, srid)
    return queryset.annotate(shape=AsGeoJSON(geometry, precision=7 if srid == 4326 else 2))


class BadRequest(Exception):
    pass


def _json(data, status=200, content_type="application/json", crs=None):
    response = JsonResponse(data, status=status, content_type=content_type)
    if crs:
        response["Content-Crs"] = f"<{crs}>"
    return response


def _bad(message):
    return _json({"code": "InvalidParameterValue", "description": message}, status=400)


def _url(request, name, *args, **query):
    base = request.build_absolute_uri(reverse(f"ogc:{name}", args=args))
    return base + (f"?{urlencode(query)}" if query else "")


def collection_id(vintage: Vintage) -> str:
    return f"ocsge-{vintage.departement.code}-{vintage.rank.lower()}-{vintage.millesime}"


def _vintage_collection(vintage: Vintage) -> Collection:
    return Collection(
        id=collection_id(vintage),
        title=f"OCS GE {vintage.departement.code} {vintage.departement.name} "
        f"{vintage.rank} {vintage.millesime}",
        description=f"{vintage.get_state_display()} — {vintage.polygon_count} polygones",
        bbox=lambda: bounds_wgs84(vintage),
        rows=lambda srid: shaped(
            LandCoverPolygon.objects.filter(vintage=vintage), srid, storage=vintage.srid
        ),
        properties=PROPERTIES,
        filters=("code_cs", "code_us"),
        storage_srid=vintage.srid,
        interval=lambda: year_interval(vintage.millesime),
        during=within("millesime", years=True),
    )


def _change_collection(departement, m1, m2) -> Collection:
    return Collection(
        id=f"ocsge-{departement.code}-evolutions-{m1.millesime}-{m2.millesime}",
        title=f"OCS GE {departement.code} {departement.name} : évolutions "
        f"{m1.millesime} → {m2.millesime}",
        description="Les surfaces dont les codes changent entre M1 et M2.",
        bbox=lambda: bounds_wgs84(m2),
        rows=lambda srid: shaped(
            ChangePiece.objects.filter(departement=departement), srid, storage=departement.srid
        ),
        properties=CHANGE_PROPERTIES,
        filters=("cs_avant", "us_avant", "cs_apres", "us_apres"),
        storage_srid=departement.srid,
        # A change lies between the two millésimes: in an interval meeting that span.
        interval=lambda: year_interval(m1.millesime, m2.millesime),
        during=lambda qs, start, end: (
            qs
            if (start is None or start.year <= m2.millesime)
            and (end is None or end.year >= m1.millesime)
            else qs.none()
        ),
    )


def collections_for(user) -> list[Collection]:
    vintages = list(
        visible_vintages(user)
        .select_related("departement")
        .defer("departement__geom")
        .annotate(departement_box=HeaderBox("departement__geom"))
        .order_by("departement__code", "rank")
    )
    found = [_vintage_collection(v) for v in vintages]
    # A change layer where both of a département's vintages are visible (a vintage is unique
    # per département and rank: the visible ones tell, with no query per département).
    by_departement: dict[int, dict[str, Vintage]] = {}
    for v in vintages:
        by_departement.setdefault(v.departement_id, {})[v.rank] = v
    for ranks in by_departement.values():
        if Vintage.Rank.M1 in ranks and Vintage.Rank.M2 in ranks:
            m1, m2 = ranks[Vintage.Rank.M1], ranks[Vintage.Rank.M2]
            found.append(_change_collection(m2.departement, m1, m2))
    for contribute in OGC_COLLECTIONS:
        found.extend(contribute(user))
    return found


def _find(request, cid: str) -> Collection:
    for found in collections_for(request.user):
        if found.id == cid:
            return found
    raise Http404


def _collection(request, found: Collection) -> dict:
    cid = found.id
    return {
        "id": cid,
        "title": found.title,
        "description": found.description,
        "itemType": "feature",
        "extent": {
            "spatial": {"bbox": [found.bbox()], "crs": CRS84},
            **(
                {"temporal": {"interval": [[_instant(t) for t in found.interval()]]}}
                if found.interval
                else {}
            ),
        },
        "crs": [CRS84, found.storage_crs],
        "storageCrs": found.storage_crs,
        "links": [
            {"href": _url(request, "collection", cid), "rel": "self", "type": "application/json"},
            {"href": _url(request, "items", cid), "rel": "items", "type": GEOJSON},
        ],
    }


@require_GET
def landing(request):
    return _json(
        {
            "title": "OCS GE — revue collaborative",
            "description": "Occupation du sol à grande échelle : millésimes M1 et M2.",
            "links": [
                {"href": _url(request, "landing"), "rel": "self", "type": "application/json"},
                {"href": _url(request, "conformance"), "rel": "conformance"},
                {"href": _url(request, "collections"), "rel": "data"},
                {
                    "href": request.build_absolute_uri(reverse("schema")),
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                },
            ],
        }
    )


@require_GET
def conformance(request):
    return _json({"conformsTo": CONFORMANCE})


@require_GET
def collections(request):
    return _json(
        {
            "links": [
                {"href": _url(request, "collections"), "rel": "self", "type": "application/json"}
            ],
            "collections": [_collection(request, c) for c in collections_for(request.user)],
        }
    )


@require_GET
def collection(request, cid):
    return _json(_collection(request, _find(request, cid)))


def _instant(value) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _moment(text: str, end: bool):
    """An RFC 3339 date-time, or a date (its first or last second), or None for « .. »."""
    if text in ("", ".."):
        return None
    moment = parse_datetime(text)
    if moment is None and (day := parse_date(text)) is not None:
        moment = datetime.datetime.combine(day, datetime.time.max if end else datetime.time.min)
    if moment is None:
        raise BadRequest(f"datetime : {text!r} n'est pas une date RFC 3339")
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _datetime(value) -> tuple | None:
    """`datetime` (OGC API – Features): an instant, or an interval `start/end` whose ends
    may be open (`..`). None when absent."""
    if not value:
        return None
    start, sep, end = value.partition("/")
    if not sep:
        moment = _moment(start, end=False)
        return moment, moment
    interval = _moment(start, end=False), _moment(end, end=True)
    if interval[0] and interval[1] and interval[0] > interval[1]:
        raise BadRequest("datetime : le début suit la fin")
    return interval


def _bbox(request, found: Collection) -> Polygon | None:
    raw = request.GET.get("bbox")
    if not raw:
        if request.GET.get("bbox-crs"):
            raise BadRequest("bbox-crs sans bbox")
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError as exc:
        raise BadRequest("bbox : quatre nombres séparés par des virgules") from exc
    if len(values) == 6:  # xmin,ymin,zmin,xmax,ymax,zmax: the heights play no part here
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or values[1] > values[3]:
        raise BadRequest("bbox : xmin,ymin,xmax,ymax (ou six nombres avec les hauteurs)")
    if values[0] > values[2]:
        # The standard's reading is a box across the antimeridian: no French territory is.
        raise BadRequest("bbox : xmin dépasse xmax (aucun territoire ne traverse l'antiméridien)")
    box = Polygon.from_bbox(values)
    box.srid = found.srid_of(request.GET.get("bbox-crs"))
    if box.srid != found.storage_srid:
        box.transform(found.storage_srid)
    return box


def _feature(row, properties, **members) -> str:
    """A GeoJSON Feature as text, its geometry as PostGIS wrote it: never parsed and written
    again (10,000 features took 7 s that way, the SQL 0.5 s)."""
    head = {
        "type": "Feature",
        "id": row["pk"],
        "properties": {k: _plain(row[k]) for k in properties},
        **members,
    }
    text = json.dumps(head, ensure_ascii=False)
    return f'{text[:-1]}, "geometry": {row["shape"] or "null"}}}'


def _geojson(body: str, crs: str) -> HttpResponse:
    response = HttpResponse(body, content_type=GEOJSON)
    response["Content-Crs"] = f"<{crs}>"
    return response


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


@require_GET
def items(request, cid):
    found = _find(request, cid)
    try:
        srid = found.srid_of(request.GET.get("crs"))
        box = _bbox(request, found)
        when = _datetime(request.GET.get("datetime"))
        limit = int(request.GET.get("limit", DEFAULT_LIMIT))
        after = int(request.GET.get("cursor", 0))
    except BadRequest as exc:
        return _bad(str(exc))
    except ValueError:
        return _bad("limit et cursor : des entiers")
    if limit < 1:
        return _bad("limit : un entier d'au moins 1")
    limit = min(limit, MAX_LIMIT)  # above the maximum: the maximum, as the standard says
    rows = found.rows(srid).filter(pk__gt=after)
    if box is not None:
        rows = rows.filter(**{f"{found.geometry_field}__intersects": box})
    if when is not None and found.during is not None:
        rows = found.during(rows, *when)
    for name in found.filters:
        if request.GET.get(name):
            rows = rows.filter(**{name: request.GET[name]})
    page = list(rows.order_by("pk").values("pk", "shape", *found.properties)[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    query = {k: v for k, v in request.GET.items() if k != "cursor"}
    links = [
        {"href": _url(request, "items", cid, **request.GET.dict()), "rel": "self", "type": GEOJSON}
    ]
    if more:
        links.append(
            {
                "href": _url(request, "items", cid, **query, cursor=page[-1]["pk"]),
                "rel": "next",
                "type": GEOJSON,
            }
        )
    crs = found.storage_crs if srid == found.storage_srid else CRS84
    features = ",".join(_feature(row, found.properties) for row in page)
    rest = json.dumps({"numberReturned": len(page), "links": links}, ensure_ascii=False)
    return _geojson(f'{{"type": "FeatureCollection", "features": [{features}], {rest[1:]}', crs)


@require_GET
def item(request, cid, fid: int):
    found = _find(request, cid)
    try:
        srid = found.srid_of(request.GET.get("crs"))
    except BadRequest as exc:
        return _bad(str(exc))
    row = found.rows(srid).filter(pk=fid).values("pk", "shape", *found.properties).first()
    if row is None:
        raise Http404
    links = [
        {"href": _url(request, "item", cid, fid), "rel": "self", "type": GEOJSON},
        {"href": _url(request, "collection", cid), "rel": "collection"},
    ]
    crs = found.storage_crs if srid == found.storage_srid else CRS84
    return _geojson(_feature(row, found.properties, links=links), crs)
