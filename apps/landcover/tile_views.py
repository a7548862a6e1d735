"""Vector-tile endpoints: a vintage's polygons and a département's M1→M2 changes.

Scoping as everywhere (scoping.py): a vintage the user may not see answers 404, as an unknown
one. ETag = vintage id + revision + feedback version + what the viewer is shown of the
contributed layers (`contributions.tile_layers`: whose signalements) + tile schema
version: a tile changes when a correction is applied to the vintage or a signalement on it
is filed or changes status (tiles carry a layer of the polygons with open signalements),
and only then. Up to z11 (no contributed layers, built ahead by workers) the ETag names
the revision the served tile was built at. Browsers revalidate (`no-cache`) and get a 304.
"""

import functools
import re

from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from isal import igzip

from . import tiles
from .contributions import TILE_LAYERS, tile_layers
from .difference import vintage_pair
from .geometry import bounds_wgs84
from .models import CoverCode, UseCode, Vintage
from .scoping import visible_departements, visible_vintage_sql, visible_vintages

MVT = "application/vnd.mapbox-vector-tile"


def _matches(request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return etag in candidates or "*" in candidates


def _tile_response(request, etag: str, build) -> HttpResponse:
    if _matches(request, etag):
        response = HttpResponse(status=304)
    else:
        data = build()
        response = HttpResponse(data, content_type=MVT) if data else HttpResponse(status=204)
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Cookie"
    return response


_ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def _gzip_fast(view):
    """Tiles gzipped by ISA-L (`isal.igzip` at level 2 of its 0–3; Django's `gzip_page` runs
    zlib at 6): measured on the demo's z14 tiles, a 60 KB tile in 0.10 ms and a 120 KB one
    in 0.20 ms, to 42 % and 46 % of their size, where zlib at level 1 took 0.54 and 1.19 ms
    for 44 % and 47 %. Tiles reflect nothing a client sends beside a secret, so the BREACH
    padding of Django's middleware is not needed."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        patch_vary_headers(response, ("Accept-Encoding",))
        if (
            response.status_code != 200
            or response.has_header("Content-Encoding")
            or not _ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", ""))
        ):
            return response
        response.content = igzip.compress(response.content, compresslevel=2, mtime=0)
        response["Content-Encoding"] = "gzip"
        response["Content-Length"] = str(len(response.content))
        if (etag := response.get("ETag", "")).startswith('"'):
            response["ETag"] = "W/" + etag  # another representation of the same tile
        return response

    return wrapper


def _check(z, x, y):
    try:
        tiles.check_tile(z, x, y)
    except tiles.TileOutOfRange as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return None


def _tile_vintage(user, vintage_id: int):
    """(revision, feedback version, département id) of the vintage if `user` may see it,
    else None: one hand-written statement, as `visible_vintages` scopes it (its ORM form
    took 2–3 ms to build on every tile, for 0.3 ms of running)."""
    visible, params = visible_vintage_sql(user, "v")
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT v.revision, v.feedback_version, v.departement_id "
            f"FROM {Vintage._meta.db_table} v WHERE v.id = %s AND {visible}",
            [vintage_id, *params],
        )
        return cur.fetchone()


@require_GET
@_gzip_fast
def vintage_tile(request, vintage_id: int, z: int, x: int, y: int):
    if bad := _check(z, x, y):
        return bad
    row = _tile_vintage(request.user, vintage_id)
    if row is None:
        raise Http404
    revision, feedback_version, departement_id = row
    if z <= tiles.CACHE_MAX_ZOOM:
        # Built ahead, served as built (perhaps a revision behind while a worker rebuilds it):
        # the ETag names the revision it was built at.
        built, data = tiles.low_zoom_tile(vintage_id, z, x, y, revision)
        etag = f'"v{vintage_id}-r{built}-s{tiles.SCHEMA_VERSION}"'
        return _tile_response(request, etag, lambda: data)
    # Tiles of z ≥ 12 carry the layers the apps above add (the polygons with open
    # signalements), as the viewer sees them.
    shown = tile_layers(request.user, departement_id)
    seen = "-".join(f"{layer.alias}{key}" for layer, key, _ in shown) or "none"
    version = f"r{revision}-f{feedback_version}-{seen}"
    etag = f'"v{vintage_id}-{version}-s{tiles.SCHEMA_VERSION}"'
    return _tile_response(request, etag, lambda: tiles.vintage_tile(vintage_id, z, x, y, shown))


@require_GET
@_gzip_fast
def change_tile(request, code: str, z: int, x: int, y: int):
    if bad := _check(z, x, y):
        return bad
    departement = get_object_or_404(visible_departements(request.user), code=code)
    pair = vintage_pair(departement)
    visible = set(
        visible_vintages(request.user).filter(departement=departement).values_list("pk", flat=True)
    )
    if pair is None or not {pair[0].pk, pair[1].pk} <= visible:
        raise Http404
    m1, m2 = pair
    revisions = f"{m1.pk}r{m1.revision}-{m2.pk}r{m2.revision}"
    etag = f'"c{departement.pk}-{revisions}-s{tiles.SCHEMA_VERSION}"'
    return _tile_response(request, etag, lambda: tiles.change_tile(departement.pk, z, x, y))


# --- for GIS clients: TileJSON and a MapLibre style per vintage (QGIS, MapLibre) ----------

# The attributes of the `polygons` layer (TileJSON's vector_layers).
POLYGON_FIELDS = {
    "id": "Number",
    "code_cs": "String",
    "code_us": "String",
    "model_class": "Number",
    "confidence": "Number",
    "agg": "Boolean",
}
SQL_TO_TILEJSON = {"int": "Number", "text": "String"}


def _visible_vintage(request, vintage_id):
    vintage = (
        visible_vintages(request.user)
        .select_related("departement")
        .defer("departement__geom")
        .filter(pk=vintage_id)
        .first()
    )
    if vintage is None:
        raise Http404
    return vintage


@require_GET
def vintage_tilejson(request, vintage_id: int):
    """TileJSON 3.0.0 of a vintage's tiles (QGIS's vector-tile connection, MapLibre)."""
    vintage = _visible_vintage(request, vintage_id)
    template = request.build_absolute_uri(tiles.url_template("vintage", vintage.pk))
    layers = [{"id": "polygons", "fields": POLYGON_FIELDS, "minzoom": 0}]
    for layer in TILE_LAYERS:
        fields = {"id": "Number"}
        fields.update({name: SQL_TO_TILEJSON.get(kind, "String") for name, kind in layer.columns})
        layers.append({"id": layer.name, "fields": fields, "minzoom": tiles.CACHE_MAX_ZOOM + 1})
    return JsonResponse(
        {
            "tilejson": "3.0.0",
            "name": f"OCS GE {vintage.departement.code} {vintage.rank} {vintage.millesime}",
            "attribution": "IGN — OCS GE",
            "scheme": "xyz",
            "tiles": [template.replace("%7B", "{").replace("%7D", "}")],
            "minzoom": 0,
            "maxzoom": tiles.MAX_ZOOM,
            "bounds": bounds_wgs84(vintage),
            "vector_layers": [{**layer, "maxzoom": tiles.MAX_ZOOM} for layer in layers],
        }
    )


@require_GET
def vintage_style(request, vintage_id: int):
    """A MapLibre style (version 8) drawing the vintage in the official colours of its CS
    codes (`?by=us`: of its US codes), as the site's map does."""
    vintage = _visible_vintage(request, vintage_id)
    by = "code_us" if request.GET.get("by") == "us" else "code_cs"
    table = UseCode if by == "code_us" else CoverCode
    colours = [value for pair in table.objects.values_list("code", "colour") for value in pair]
    tilejson = request.build_absolute_uri(reverse("tiles:tilejson", args=[vintage.pk]))
    return JsonResponse(
        {
            "version": 8,
            "name": f"OCS GE {vintage.departement.code} {vintage.rank} {vintage.millesime}",
            "sources": {"ocsge": {"type": "vector", "url": tilejson}},
            "layers": [
                {
                    "id": "background",
                    "type": "background",
                    "paint": {"background-color": "#ffffff"},
                },
                {
                    "id": "polygons",
                    "type": "fill",
                    "source": "ocsge",
                    "source-layer": "polygons",
                    "paint": {
                        "fill-color": ["match", ["get", by], *colours, "#888888"],
                        "fill-opacity": 0.85,
                    },
                },
                {
                    "id": "outlines",
                    "type": "line",
                    "source": "ocsge",
                    "source-layer": "polygons",
                    "minzoom": 15,
                    "filter": ["!=", ["get", "agg"], True],
                    "paint": {"line-color": "#ffffff", "line-width": 0.5},
                },
            ],
        }
    )
