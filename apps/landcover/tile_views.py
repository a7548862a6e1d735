"""Vector-tile endpoints: a vintage's polygons and a département's M1→M2 changes.

Scoping as everywhere (scoping.py): a vintage the user may not see answers 404, as an unknown
one. ETag = vintage id + revision + feedback version + what the viewer is shown of the
contributed attributes (`contributions.tile_attributes`: whose signalements) + tile schema
version: a tile changes when a correction is applied to the vintage or a signalement on it
is filed or changes status (tiles carry the open signalements of each polygon), and only
then. Browsers
revalidate (`no-cache`) and get a 304.
"""

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET

from . import tiles
from .contributions import tile_attributes
from .difference import vintage_pair
from .scoping import visible_departements, visible_vintages

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


def _check(z, x, y):
    try:
        tiles.check_tile(z, x, y)
    except tiles.TileOutOfRange as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return None


@require_GET
@gzip_page
def vintage_tile(request, vintage_id: int, z: int, x: int, y: int):
    if bad := _check(z, x, y):
        return bad
    row = (
        visible_vintages(request.user)
        .filter(pk=vintage_id)
        .values("revision", "feedback_version", "departement_id")
        .first()
    )
    if row is None:
        raise Http404
    # Tiles of z ≥ 12 carry what the apps above add (open signalements), as the viewer sees it.
    shown = tile_attributes(request.user, row["departement_id"]) if z > tiles.CACHE_MAX_ZOOM else []
    seen = "-".join(f"{attributes.alias}{key}" for attributes, key, _ in shown) or "none"
    version = f"r{row['revision']}-f{row['feedback_version']}-{seen}"
    etag = f'"v{vintage_id}-{version}-s{tiles.SCHEMA_VERSION}"'

    return _tile_response(
        request, etag, lambda: tiles.vintage_tile(vintage_id, z, x, y, row["revision"], shown)
    )


@require_GET
@gzip_page
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
