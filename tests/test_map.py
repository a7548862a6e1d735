"""Vector tiles, the M1→M2 change layer, identify and commune search, the map page."""

import gzip
from io import StringIO

import mapbox_vector_tile
import pytest
import shapely
import shapely.geometry
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from pyproj import Transformer

from apps.landcover import tiles
from apps.landcover.difference import compute_difference
from apps.landcover.models import ChangePiece, LandCoverPolygon, Vintage
from apps.territories.models import Membership, Organisation, Role

from .conftest import X0, Y0, square_rows, write_gpkg

pytestmark = pytest.mark.django_db

TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)


def lonlat(x, y):
    return TO_WGS84.transform(x, y)


def tile_of(x, y, z):
    return tiles.lonlat_to_tile(*lonlat(x, y), z)


def covering_tiles(z):
    """The tiles at zoom z that cover the 400 m square of the fixture."""
    x1, y1 = tile_of(X0, Y0 + 400, z)
    x2, y2 = tile_of(X0 + 400, Y0, z)
    return [(x, y) for x in range(x1, x2 + 1) for y in range(y1, y2 + 1)]


def features(client, url_pattern, z, layer="polygons"):
    found = []
    for x, y in covering_tiles(z):
        response = client.get(url_pattern.format(z=z, x=x, y=y))
        if response.status_code != 204:
            found += decode(response)[layer]["features"]
    return found


def decode(response):
    assert response.status_code == 200
    assert response["Content-Type"] == tiles_content_type()
    body = response.content
    if response.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return mapbox_vector_tile.decode(body)


def tiles_content_type():
    return "application/vnd.mapbox-vector-tile"


@pytest.fixture
def people(square_vintages, square_departement):
    User = get_user_model()
    inside = Organisation.objects.create(name="Agence 98", kind="agence_urbanisme")
    inside.departements.add(square_departement)
    elsewhere = Organisation.objects.create(name="Agence ailleurs", kind="agence_urbanisme")
    users = {
        "member": User.objects.create_user("member", password="pw-123456"),
        "stranger": User.objects.create_user("stranger", password="pw-123456"),
    }
    Membership.objects.create(user=users["member"], organisation=inside, role=Role.CONTRIBUTOR)
    Membership.objects.create(user=users["stranger"], organisation=elsewhere, role=Role.CONTRIBUTOR)
    return users


def _pieces():
    return sorted(
        (p.cs_avant, p.us_avant, p.cs_apres, p.us_apres, round(p.area))
        for p in ChangePiece.objects.all()
    )


def test_difference_has_a_piece_per_changed_twin_and_per_overlaid_pair(
    square_vintages, square_departement
):
    written = compute_difference(square_departement)
    assert written == 3
    assert _pieces() == [
        ("CS2.2.1", "US1.1", "CS1.1.1.1", "US5", 10_000),
        ("CS2.2.1", "US1.1", "CS2.1.1.1", "US1.2", 10_000),
        ("CS2.2.1", "US1.1", "CS2.1.1.1", "US1.2", 10_000),
    ]
    piece = ChangePiece.objects.get(cs_apres="CS1.1.1.1")
    assert piece.geom.equals(
        LandCoverPolygon.objects.get(
            vintage=square_vintages[0], ocsge_id=("OCSGE0000000000000001")
        ).geom
    )
    assert piece.geom_3857.srid == 3857


def test_incremental_difference_equals_a_full_recomputation(square_vintages, square_departement):
    compute_difference(square_departement)
    m1, m2 = square_vintages
    # An operator corrects two M2 polygons: one back to grass, one to water.
    built = LandCoverPolygon.objects.get(vintage=m2, code_cs="CS1.1.1.1")
    grass = LandCoverPolygon.objects.filter(vintage=m2, code_cs="CS2.2.1").order_by("id")[5]
    LandCoverPolygon.objects.filter(pk=built.pk).update(code_cs="CS2.2.1", code_us="US1.1")
    LandCoverPolygon.objects.filter(pk=grass.pk).update(code_cs="CS1.2.2", code_us="US6.3")
    compute_difference(square_departement, [built.pk, grass.pk])
    incremental = _pieces()
    compute_difference(square_departement)
    assert incremental == _pieces()
    assert ("CS2.2.1", "US1.1", "CS1.2.2", "US6.3", 10_000) in incremental
    assert not any(p[2] == "CS1.1.1.1" for p in incremental)


def test_difference_is_empty_without_both_square_vintages(square_vintages, square_departement):
    compute_difference(square_departement)
    square_vintages[1].delete()
    assert compute_difference(square_departement) == 0
    assert not ChangePiece.objects.exists()


def test_compute_difference_command_builds_the_layer_or_explains(square_vintages):
    out = StringIO()
    call_command("compute_difference", departement="98", stdout=out)
    assert "3 change pieces" in out.getvalue()
    with pytest.raises(CommandError, match="inconnu"):
        call_command("compute_difference", departement="12")
    square_vintages[1].delete()
    with pytest.raises(CommandError, match="M1 et M2"):
        call_command("compute_difference", departement="98")


def test_importing_the_second_vintage_builds_the_change_layer(square_departement, tmp_path):
    geoms, cols = square_rows()
    call_command(
        "import_ocsge",
        str(write_gpkg(tmp_path / "a.gpkg", geoms, **cols)),
        departement="98",
        rank="M1",
        stdout=StringIO(),
    )
    assert not ChangePiece.objects.exists()
    cols["code_cs"][0], cols["code_us"][0] = "CS1.2.2", "US6.3"
    call_command(
        "import_ocsge",
        str(write_gpkg(tmp_path / "b.gpkg", geoms, **cols)),
        departement="98",
        rank="M2",
        stdout=StringIO(),
    )
    assert _pieces() == [("CS2.2.1", "US1.1", "CS1.2.2", "US6.3", 10_000)]


# --- tiles -------------------------------------------------------------------------------


def _publish(*vs):
    Vintage.objects.filter(pk__in=[v.pk for v in vs]).update(state=Vintage.State.PUBLISHED)


def test_full_detail_tile_carries_every_polygon_with_its_attributes(client, square_vintages):
    m1, _ = square_vintages
    _publish(m1)
    found = features(client, f"/tiles/{m1.pk}/{{z}}/{{x}}/{{y}}.pbf", 16)
    ids = set(LandCoverPolygon.objects.filter(vintage=m1).values_list("id", flat=True))
    assert {f["id"] for f in found} == ids
    assert {f["properties"]["id"] for f in found} == ids
    props = found[0]["properties"]
    assert props["code_cs"] == "CS2.2.1" and props["code_us"] == "US1.1"
    assert props["agg"] is False
    # A 100 m square at z16 (0.88 m per tile unit at 46.5° N) spans ~110 units of 4096,
    # less where the tile edge cuts it (clipped to the tile plus its 64-unit buffer).
    widths = []
    for f in found:
        ring = f["geometry"]["coordinates"][0]
        xs = [c[0] for c in ring]
        widths.append(max(xs) - min(xs))
    assert max(widths) == pytest.approx(100 / (tiles.tile_width(16) * 0.688) * 4096, rel=0.05)


def test_low_zoom_tile_aggregates_small_polygons_into_dominant_cells(client, square_vintages):
    m1, _ = square_vintages
    _publish(m1)
    found = features(client, f"/tiles/{m1.pk}/{{z}}/{{x}}/{{y}}.pbf", 10)
    # 1 ha squares are under 4 screen pixels at z10: only aggregated cells, without ids.
    assert found and all(f["properties"]["agg"] is True for f in found)
    assert all("id" not in f["properties"] for f in found)
    assert {f["properties"]["code_cs"] for f in found} == {"CS2.2.1"}
    _, y = tile_of(X0, Y0, 10)
    gen = tiles.generalisation(10, y)
    assert gen["min_area"] > 10_000 > tiles.generalisation(13, y)["min_area"]


def test_simplification_keeps_big_polygons_below_full_detail_zoom(client, square_vintages):
    m1, _ = square_vintages
    _publish(m1)
    found = features(client, f"/tiles/{m1.pk}/{{z}}/{{x}}/{{y}}.pbf", 13)
    assert {f["id"] for f in found} == set(
        LandCoverPolygon.objects.filter(vintage=m1).values_list("id", flat=True)
    )
    assert all(f["properties"]["agg"] is False for f in found)


def test_empty_tile_is_204_and_out_of_range_is_400(client, square_vintages):
    m1, _ = square_vintages
    _publish(m1)
    assert client.get(f"/tiles/{m1.pk}/16/0/0.pbf").status_code == 204
    for z, x, y in [(23, 0, 0), (3, 8, 0), (3, 0, 8), (0, 1, 0)]:
        response = client.get(f"/tiles/{m1.pk}/{z}/{x}/{y}.pbf")
        assert response.status_code == 400, (z, x, y)


@pytest.mark.parametrize("who, status", [("anonymous", 404), ("stranger", 404), ("member", 200)])
def test_tiles_of_an_unpublished_vintage_are_scoped_to_its_territory(
    client, people, square_vintages, who, status
):
    m1, _ = square_vintages
    if who != "anonymous":
        client.force_login(people[who])
    x, y = tile_of(X0 + 200, Y0 + 200, 16)
    assert client.get(f"/tiles/{m1.pk}/16/{x}/{y}.pbf").status_code == status
    assert client.get(f"/tiles/changes/98/16/{x}/{y}.pbf").status_code in (status, 204)
    assert client.get(f"/tiles/99999/16/{x}/{y}.pbf").status_code == 404


def test_tile_etag_follows_the_vintage_revision_and_answers_304(client, square_vintages):
    m1, _ = square_vintages
    _publish(m1)
    x, y = tile_of(X0 + 200, Y0 + 200, 16)
    url = f"/tiles/{m1.pk}/16/{x}/{y}.pbf"
    first = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert first["Content-Encoding"] == "gzip"
    assert "no-cache" in first["Cache-Control"]
    assert "Accept-Encoding" in first["Vary"] and first["ETag"].startswith('W/"')
    plain = client.get(url)  # the same tile, not compressed, under the strong ETag
    assert "Content-Encoding" not in plain and first["ETag"] == "W/" + plain["ETag"]
    assert gzip.decompress(first.content) == plain.content
    assert int(first["Content-Length"]) == len(first.content) < len(plain.content)
    etag = first["ETag"]
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    Vintage.objects.filter(pk=m1.pk).update(revision=2)
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and again["ETag"] != etag


def test_change_tile_shows_the_pieces(client, square_vintages, square_departement):
    _publish(*square_vintages)
    compute_difference(square_departement)
    x, y = tile_of(X0 + 200, Y0 + 200, 16)
    layer = decode(client.get(f"/tiles/changes/98/16/{x}/{y}.pbf"))["changes"]
    got = sorted(
        (f["properties"]["cs_avant"], f["properties"]["cs_apres"]) for f in layer["features"]
    )
    assert got == [("CS2.2.1", "CS1.1.1.1"), ("CS2.2.1", "CS2.1.1.1"), ("CS2.2.1", "CS2.1.1.1")]


def test_change_tiles_need_both_square_vintages_visible(client, square_vintages):
    _publish(square_vintages[0])  # M2 stays private: anonymous users see M1 only
    assert client.get("/tiles/changes/98/16/0/0.pbf").status_code == 404


def test_a_detail_tile_is_built_once_then_read_as_kept(
    client, square_vintages, django_assert_num_queries
):
    """Up to z16 a tile's polygons are the same for every viewer: the first request builds
    and keeps them with the ids of the polygons it read (the fixture's 16 squares lie in
    one z15 tile); the next ones read the kept tile. Above z16 nothing is kept."""
    from apps.landcover.models import TileCache

    m1, _ = square_vintages
    _publish(m1)
    x, y = tile_of(X0 + 200, Y0 + 200, 15)
    url = f"/tiles/{m1.pk}/15/{x}/{y}.pbf"
    # The scoping, the kept tile looked up, then under the vintage's tile lock (savepoint,
    # lock, release) the tile built and kept in one statement.
    with django_assert_num_queries(6):
        first = client.get(url)
    kept = TileCache.objects.get(vintage=m1, z=15, x=x, y=y)
    squares = LandCoverPolygon.objects.filter(vintage=m1).values_list("id", flat=True)
    assert len(squares) == 16 and sorted(kept.polygons) == sorted(squares)
    assert (kept.revision, bytes(kept.data)) == (1, first.content)
    with django_assert_num_queries(2):  # the scoping, the kept tile
        assert client.get(url).content == first.content
    x, y = tile_of(X0 + 50, Y0 + 50, 17)
    assert client.get(f"/tiles/{m1.pk}/17/{x}/{y}.pbf").status_code == 200
    assert not TileCache.objects.filter(z__gt=16).exists()


def test_a_generalised_tile_names_the_polygons_aggregated_into_its_cells(square_vintages):
    """At z10 the 1 ha squares are under 4 screen pixels: drawn as cells, without ids; their
    codes colour the cells, so the tile reads them all (a correction of one forgets it)."""
    m1, _ = square_vintages
    x, y = tile_of(X0 + 200, Y0 + 200, 10)
    sql, params = tiles.vintage_tile_query(m1.pk, 10, x, y, read=True)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        data, polygons = cur.fetchone()
    drawn = mapbox_vector_tile.decode(bytes(data))["polygons"]["features"]
    assert drawn and all(f["properties"]["agg"] is True for f in drawn)
    squares = LandCoverPolygon.objects.filter(vintage=m1).values_list("id", flat=True)
    assert sorted(polygons) == sorted(squares)


def _codes_at(client, url, polygon_id):
    found = decode(client.get(url))["polygons"]["features"]
    return next(f["properties"]["code_cs"] for f in found if f["id"] == polygon_id)


def test_a_correction_forgets_the_kept_tiles_of_its_polygon_and_only_those(client, square_vintages):
    """The south-west square lies in one of the four z16 tiles over the fixture (the tiles'
    edges cross the square about 365 m east and 240 m north of its corner, its buffer
    included) and in the z15 tile: a correction and its undoing forget those two tiles;
    the three other z16 tiles stay kept."""
    from django.contrib.gis.geos import Point
    from django.db import transaction

    from apps.landcover import corrections
    from apps.landcover.models import TileCache

    m1, _ = square_vintages
    _publish(m1)
    corner = LandCoverPolygon.objects.get(vintage=m1, geom__contains=Point(X0 + 50, Y0 + 50))
    x, y = tile_of(X0 + 50, Y0 + 50, 16)
    x15, y15 = tile_of(X0 + 50, Y0 + 50, 15)
    url = f"/tiles/{m1.pk}/16/{x}/{y}.pbf"
    features(client, f"/tiles/{m1.pk}/{{z}}/{{x}}/{{y}}.pbf", 16)
    client.get(f"/tiles/{m1.pk}/15/{x15}/{y15}.pbf")

    def kept():
        return set(TileCache.objects.values_list("z", "x", "y"))

    others = {(16, x, y - 1), (16, x + 1, y - 1), (16, x + 1, y)}
    assert kept() == {(16, x, y), (15, x15, y15), *others}
    with transaction.atomic():
        corrections.apply(corner, "CS1.2.2", "US6.3")
    assert kept() == others
    assert _codes_at(client, url, corner.pk) == "CS1.2.2"
    assert kept() == {(16, x, y), *others}
    with transaction.atomic():
        corrections.revert(corner.pk, 2, [])
    assert kept() == others
    assert _codes_at(client, url, corner.pk) == "CS2.2.1"


def _in_thread(work):
    """Run `work` in a thread of its own (its own database connection); returns the thread."""
    import threading

    from django.db import connection as thread_connection

    def run():
        try:
            work()
        finally:
            thread_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("first", ["correction", "tile"])
def test_a_tile_built_while_a_correction_commits_is_never_kept_stale(square_vintages, first):
    """Both orders of a request building a tile and a correction of one of its polygons,
    each holding its transaction open while the other starts. The correction first: the
    tile waits for its commit and is built from the corrected polygon. The tile first: the
    correction waits for the tile to be kept, then forgets it. (Without the vintage's tile
    lock, the tile would be built from the polygon as it was and kept after the correction
    forgot the tiles: stale until the next correction of that polygon.)"""
    import threading
    import time

    from django.contrib.gis.geos import Point
    from django.db import transaction

    from apps.landcover import corrections
    from apps.landcover.models import TileCache

    m1, _ = square_vintages
    corner = LandCoverPolygon.objects.get(vintage=m1, geom__contains=Point(X0 + 50, Y0 + 50))
    x, y = tile_of(X0 + 50, Y0 + 50, 16)
    started = threading.Event()

    def correct():
        with transaction.atomic():
            corrections.apply(corner, "CS1.2.2", "US6.3")
            started.set()
            time.sleep(0.5)  # the tile's request starts meanwhile

    def build():
        with transaction.atomic():
            tiles.vintage_tile(m1.pk, 16, x, y)
            started.set()
            time.sleep(0.5)  # the correction starts meanwhile

    thread = _in_thread(correct if first == "correction" else build)
    assert started.wait(10)
    if first == "correction":
        data = tiles.vintage_tile(m1.pk, 16, x, y)
    else:
        with transaction.atomic():
            corrections.apply(corner, "CS1.2.2", "US6.3")
        assert not TileCache.objects.filter(z=16, x=x, y=y).exists()  # forgotten
        data = tiles.vintage_tile(m1.pk, 16, x, y)
    thread.join(10)
    found = mapbox_vector_tile.decode(data)["polygons"]["features"]
    assert next(f["properties"]["code_cs"] for f in found if f["id"] == corner.pk) == "CS1.2.2"
    kept = TileCache.objects.get(z=16, x=x, y=y)
    assert bytes(kept.data) == data


@pytest.mark.parametrize("z", [12, 14, 16])
def test_a_kept_tile_looks_its_signalements_up_in_one_pass_and_clips_each_polygon_once(
    square_vintages, square_departement, z
):
    """No per-polygon subquery and no clipping in a filter (a `WHERE geom IS NOT NULL` on
    the clipped geometry is pushed down by PostgreSQL: every polygon clipped twice)."""
    from apps.landcover.contributions import tile_layers

    m1, _ = square_vintages
    x, y = tile_of(X0 + 200, Y0 + 200, z)
    tiles.vintage_tile(m1.pk, z, x, y)  # kept
    sql, params = tiles.kept_tile_query(m1.pk, z, x, y, tile_layers(None, square_departement.pk))
    assert "sig_open" in sql  # the signalements' layer is in the statement
    built, built_params = tiles.vintage_tile_query(m1.pk, z, x, y, read=True)
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (VERBOSE) " + built, built_params)
        plan = [r[0] for r in cur.fetchall()]
        assert not [line for line in plan if "Filter:" in line and "st_asmvtgeom" in line]
        assert not [line for line in plan if "SubPlan" in line]
        cur.execute("EXPLAIN (VERBOSE) " + sql, params)
        plan = [r[0] for r in cur.fetchall()]
    assert not [line for line in plan if "Filter:" in line and "st_asmvtgeom" in line]
    assert not [line for line in plan if "SubPlan" in line]
    scans = [line for line in plan if "signalements_signalement" in line and "Scan" in line]
    assert len(scans) == 1
    # Grouped by polygon once for the tile, not aggregated again for each polygon.
    assert any("Group Key: s.polygon_id" in line for line in plan)


# --- identify, commune search, page ----------------------------------------------------


def test_identify_returns_the_polygon_under_the_point(client, people, square_vintages):
    _, m2 = square_vintages
    client.force_login(people["member"])
    lon, lat = lonlat(X0 + 50, Y0 + 50)
    data = client.get(f"/api/vintages/{m2.pk}/polygons/at/?lon={lon}&lat={lat}&z=16").json()
    assert (data["code_cs"], data["code_us"]) == ("CS1.1.1.1", "US5")
    assert data["cs_label"] == "Zones bâties" and data["cs_colour"] == "#ff377a"
    assert data["us_label"] == "Usage résidentiel"
    assert data["millesime"] == 2024 and data["rank"] == "M2"
    assert round(data["area_m2"]) == 10_000
    assert data["revisions"] == []
    assert shapely.geometry.shape(data["geometry"]).contains(shapely.Point(lon, lat))
    exact = client.get(f"/api/vintages/{m2.pk}/polygons/at/?lon={lon}&lat={lat}").json()
    assert exact["geometry"]["type"] == "MultiPolygon"


def test_identify_answers_404_outside_and_400_on_bad_coordinates(client, people, square_vintages):
    m1, _ = square_vintages
    client.force_login(people["member"])
    base = f"/api/vintages/{m1.pk}/polygons/at/"
    assert client.get(f"{base}?lon=2.0&lat=48.0").status_code == 404
    assert client.get(f"{base}?lon=abc&lat=48").status_code == 400
    assert client.get(f"{base}?lon=200&lat=48").status_code == 400
    assert client.get(f"{base}?lat=48").status_code == 400
    client.force_login(people["stranger"])
    lon, lat = lonlat(X0 + 50, Y0 + 50)
    assert client.get(f"{base}?lon={lon}&lat={lat}").status_code == 404


def test_commune_search_by_name_without_accents_or_by_code(client, people, square_vintages):
    client.force_login(people["member"])
    by_name = client.get("/api/communes/?q=etrechy").json()["results"]
    assert [c["code"] for c in by_name] == ["98001"]
    west, south, east, north = by_name[0]["bbox"]
    assert west < east and south < north and 2 < west < 4
    assert [c["code"] for c in client.get("/api/communes/?q=980").json()["results"]] == ["98001"]
    assert client.get("/api/communes/?q=paris").json()["results"] == []
    client.force_login(people["stranger"])
    assert client.get("/api/communes/?q=etrechy").json()["results"] == []


@pytest.mark.parametrize("who, status", [("anonymous", 302), ("stranger", 404), ("member", 200)])
def test_map_page_is_scoped(client, people, square_vintages, who, status):
    if who != "anonymous":
        client.force_login(people[who])
    response = client.get("/departements/98/carte/")
    assert response.status_code == status
    if status == 200:
        assert b"Leaflet.VectorGrid.bundled.min.js" in response.content
        assert f"/tiles/{square_vintages[0].pk}/{{z}}/{{x}}/{{y}}.pbf".encode() in response.content


def test_map_page_offers_the_ortho_only_when_configured(client, people, square_vintages, settings):
    client.force_login(people["member"])
    settings.ORTHO_WMTS_URL = ""
    assert b'value="ortho"' not in client.get("/departements/98/carte/").content
    settings.ORTHO_WMTS_URL = "https://example.test/wmts/{z}/{x}/{y}.jpg"
    assert b'value="ortho"' in client.get("/departements/98/carte/").content


def test_geometry_3857_copy_is_what_tiles_read(square_vintages):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM landcover_landcoverpolygon "
            "WHERE geom_3857 IS NULL OR ST_SRID(geom_3857) <> 3857"
        )
        assert cur.fetchone()[0] == 0


def test_low_zoom_tiles_are_served_as_built_and_rebuilt_by_a_worker_after_a_change(
    client,
    square_vintages,
    django_assert_max_num_queries,
    django_capture_on_commit_callbacks,
    settings,
):
    """Up to z11 a request never waits for a tile to be built (a département-wide tile of a
    million polygons took 5.7 s): after a correction the tile built before is served, with
    its own revision in the ETag, and a worker (inline here) rebuilds it; asked once per
    TILE_REFRESH_SECONDS."""
    from apps.landcover.models import TileCache

    m1, _ = square_vintages
    _publish(m1)
    x, y = tile_of(X0 + 200, Y0 + 200, 10)
    url = f"/tiles/{m1.pk}/10/{x}/{y}.pbf"
    first = client.get(url)
    assert first["ETag"] == f'"v{m1.pk}-r1-s{tiles.SCHEMA_VERSION}"'
    assert list(TileCache.objects.filter(vintage=m1, z=10).values_list("revision", flat=True)) == [
        1
    ]
    with django_assert_max_num_queries(2):  # scoping + the cache row, no tile statement
        assert client.get(url).content == first.content
    # Every polygon becomes water: revision 2.
    LandCoverPolygon.objects.filter(vintage=m1).update(code_cs="CS1.2.2", code_us="US6.3")
    Vintage.objects.filter(pk=m1.pk).update(revision=2)
    settings.TILE_REFRESH_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=True) as sent:
        stale = client.get(url)
    assert len(sent) == 1
    assert stale.content == first.content  # what was built, at once…
    assert stale["ETag"] == f'"v{m1.pk}-r1-s{tiles.SCHEMA_VERSION}"'
    # …and the worker rebuilt it at revision 2 (eager here).
    fresh = client.get(url)
    assert fresh["ETag"] == f'"v{m1.pk}-r2-s{tiles.SCHEMA_VERSION}"'
    decoded = mapbox_vector_tile.decode(fresh.content)["polygons"]["features"]
    codes = {f["properties"]["code_cs"] for f in decoded}
    assert codes == {"CS1.2.2"}
    assert list(TileCache.objects.filter(vintage=m1).values_list("revision", flat=True)) == [2]
    # A tile a revision behind whose rebuild was asked within TILE_REFRESH_SECONDS: not again.
    Vintage.objects.filter(pk=m1.pk).update(revision=3)
    TileCache.objects.filter(vintage=m1).update(refresh_asked=timezone.now())
    with django_capture_on_commit_callbacks(execute=True) as sent:
        assert client.get(url)["ETag"] == f'"v{m1.pk}-r2-s{tiles.SCHEMA_VERSION}"'
    assert sent == []
    first = fresh.content
    # No signalement attributes at this scale (markers show them).
    features = mapbox_vector_tile.decode(first)["polygons"]["features"]
    assert all("sig_open" not in f["properties"] for f in features)


def test_an_import_builds_every_low_zoom_tile_ahead(
    square_departement, tmp_path, django_capture_on_commit_callbacks
):
    """After an import a worker builds the tiles up to z11 over the vintage (inline here):
    no request waits for one. The fixture's 400 m square lies in one tile per zoom."""
    from apps.landcover.models import TileCache

    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "m1.gpkg", geoms, **cols)
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_ocsge", str(path), "--departement", "98", "--rank", "M1", stdout=StringIO()
        )
    m1 = Vintage.objects.get(departement__code="98", rank="M1")
    built = sorted(TileCache.objects.filter(vintage=m1).values_list("z", "x", "y", "revision"))
    expected = []
    for z in range(12):
        (x1, y1), (x2, y2) = tile_of(X0, Y0 + 400, z), tile_of(X0 + 400, Y0, z)
        expected += [(z, x, y, 1) for x in range(x1, x2 + 1) for y in range(y1, y2 + 1)]
    assert built == sorted(expected)
    assert len(built) == 12
