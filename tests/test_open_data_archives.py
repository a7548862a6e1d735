"""Open data as cloud-optimised archives: the publication package's PMTiles hold exactly the
tiles the site serves a visitor, and published files answer byte ranges (what a PMTiles or
GeoParquet reader sends)."""

import pytest

from apps.landcover.models import Vintage

pytestmark = pytest.mark.django_db

# The 400 m square of département 98 (Lambert-93 700,000–700,400 / 6,600,000–6,600,400,
# i.e. 3.0000–3.0052° E, 46.5000–46.5036° N) lies in one tile per zoom: these, z0 to z14.
SQUARE_TILES = {
    (0, 0, 0),
    (1, 1, 0),
    (2, 2, 1),
    (3, 4, 2),
    (4, 8, 5),
    (5, 16, 11),
    (6, 32, 22),
    (7, 65, 45),
    (8, 130, 90),
    (9, 260, 181),
    (10, 520, 362),
    (11, 1041, 724),
    (12, 2082, 1448),
    (13, 4164, 2897),
    (14, 8328, 5795),
}


def _neighbourhood(z, x, y):
    n = 1 << z
    return {
        (z, x + dx, y + dy)
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
        if 0 <= x + dx < n and 0 <= y + dy < n
    }


def _live(client, url):
    response = client.get(url)
    assert response.status_code in (200, 204), (url, response.status_code)
    return response.content if response.status_code == 200 else b""


# The change pieces are 100 m squares (10,000 m²): drawn from z12, where they cover more than
# 4 screen pixels (z11: 4 × 52.6² = 11,070 m² of ground at 46.5° N).
CHANGE_TILES = {t for t in SQUARE_TILES if t[0] >= 12}


@pytest.mark.parametrize(
    "name, live_url, expected",
    [
        ("OCSGE_98_M1_2021.pmtiles", "/tiles/{m1}/{z}/{x}/{y}.pbf", SQUARE_TILES),
        ("OCSGE_98_M2_2024.pmtiles", "/tiles/{m2}/{z}/{x}/{y}.pbf", SQUARE_TILES),
        (
            "OCSGE_98_DIFFERENCE_2021_2024.pmtiles",
            "/tiles/changes/98/{z}/{x}/{y}.pbf",
            CHANGE_TILES,
        ),
    ],
    ids=["M1", "M2", "changes"],
)
def test_the_package_pmtiles_hold_the_tiles_the_site_serves_a_visitor(
    client, campaign, published, name, live_url, expected
):
    from pathlib import Path

    from apps.landcover.vector_archive import archive_metadata, read_tiles

    path = Path(published.directory) / name
    assert name in {f["name"] for f in published.files}
    archived = read_tiles(path)
    assert set(archived) == expected
    header, metadata = archive_metadata(path)
    assert (header["min_zoom"], header["max_zoom"]) == (min(t[0] for t in expected), 14)
    box = [header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")]
    if expected is SQUARE_TILES:  # the whole square; the changes lie inside it
        assert box == pytest.approx([3.0, 46.5, 3.00522, 46.50360], abs=1e-5)
    else:
        assert 3.0 - 1e-5 <= box[0] < box[2] <= 3.00522 and 46.5 - 1e-5 <= box[1] < box[3]
    assert metadata["licence"].startswith("Licence Ouverte")
    m1, m2 = (Vintage.objects.get(departement__code="98", rank=r).pk for r in ("M1", "M2"))
    # Tile by tile against the live endpoint, anonymously (what a visitor's map draws), the
    # tiles around each archived one included: none missing, none different.
    around = set().union(*(_neighbourhood(*t) for t in SQUARE_TILES))
    for z, x, y in sorted(around):
        live = _live(client, live_url.format(m1=m1, m2=m2, z=z, x=x, y=y))
        assert archived.get((z, x, y), b"") == live, (name, z, x, y)


def test_the_change_archive_draws_the_built_square_and_the_new_wood(client, published):
    """The change layer's z14 tile decoded: the pieces the two decisions and the delivery
    made, with their codes after."""
    from pathlib import Path

    import mapbox_vector_tile

    from apps.landcover.vector_archive import read_tiles

    archived = read_tiles(Path(published.directory) / "OCSGE_98_DIFFERENCE_2021_2024.pmtiles")
    layer = mapbox_vector_tile.decode(archived[(14, 8328, 5795)])["changes"]
    after = sorted(
        {(f["properties"]["cs_apres"], f["properties"]["us_apres"]) for f in layer["features"]}
    )
    assert after == [("CS1.1.1.1", "US5"), ("CS2.1.1.1", "US1.2")]


def test_gdal_reads_the_vintage_archive_as_qgis_does(published):
    """GDAL's PMTiles driver (QGIS opens the file through it): the `polygons` layer at z14,
    every polygon of M2 with its codes (15 grass squares, one built, the new wood)."""
    from pathlib import Path

    import pyogrio

    path = Path(published.directory) / "OCSGE_98_M2_2024.pmtiles"
    assert [name for name, _kind in pyogrio.list_layers(path)] == ["polygons"]
    frame = pyogrio.read_dataframe(path, layer="polygons", ZOOM_LEVEL=14)
    assert frame.crs.to_epsg() == 3857
    counts = frame.groupby(["code_cs", "code_us"]).size().to_dict()
    assert counts == {("CS1.1.1.1", "US5"): 2, ("CS2.1.1.1", "US1.2"): 2, ("CS2.2.1", "US1.1"): 11}


def test_published_files_answer_byte_ranges(client, published):
    size = next(f["size"] for f in published.files if f["name"] == "OCSGE_98_M2_2024.pmtiles")
    url = "/donnees/98/OCSGE_98_M2_2024.pmtiles"
    whole = client.get(url)
    body = b"".join(whole.streaming_content)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert len(body) == size and body[:8] == b"PMTiles\x03"
    assert whole["Content-Type"] == "application/vnd.pmtiles"
    assert whole["Access-Control-Allow-Origin"] == "*"
    # The header, as a PMTiles reader asks for it first.
    first = client.get(url, headers={"Range": "bytes=0-126"})
    assert first.status_code == 206
    assert first["Content-Range"] == f"bytes 0-126/{size}"
    assert first["Content-Length"] == "127"
    assert b"".join(first.streaming_content) == body[:127]
    # The last bytes; an open end; a range running past the end is cut at it.
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert b"".join(tail.streaming_content) == body[-10:]
    assert tail["Content-Range"] == f"bytes {size - 10}-{size - 1}/{size}"
    rest = client.get(url, headers={"Range": f"bytes={size - 5}-"})
    assert b"".join(rest.streaming_content) == body[-5:]
    past = client.get(url, headers={"Range": f"bytes={size - 3}-{size + 100}"})
    assert b"".join(past.streaming_content) == body[-3:]
    # Beyond the end: 416 with the size; several ranges, or a changed file: the whole file.
    beyond = client.get(url, headers={"Range": f"bytes={size}-{size + 10}"})
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"
    several = client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and b"".join(several.streaming_content) == body
    changed = client.get(url, headers={"Range": "bytes=0-1", "If-Range": '"autre"'})
    assert changed.status_code == 200
    same = client.get(url, headers={"Range": "bytes=0-1", "If-Range": whole["ETag"]})
    assert same.status_code == 206 and b"".join(same.streaming_content) == body[:2]


def test_the_open_data_page_offers_the_archives_on_a_map(client, published):
    html = client.get("/donnees/").content.decode()
    assert 'id="open-data-config"' in html and "pmtiles.js" in html
    for name in (
        "OCSGE_98_M1_2021.pmtiles",
        "OCSGE_98_M2_2024.pmtiles",
        "OCSGE_98_DIFFERENCE_2021_2024.pmtiles",
    ):
        assert f"/donnees/98/{name}" in html
    response = client.get("/donnees/")
    assert "blob:" in response["Content-Security-Policy"].split("connect-src")[1].split(";")[0]


def test_no_map_and_no_archive_script_without_a_publication(client, db):
    html = client.get("/donnees/").content.decode()
    assert "open-data-config" not in html and "pmtiles.js" not in html
