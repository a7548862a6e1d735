"""What QGIS and MapLibre need to show a vintage as the site does (issue 21, item 3): a
TileJSON per vintage, a MapLibre style in the official colours, and tiles GDAL's own MVT
driver reads — scoped like the tiles themselves."""

import json
import math
import subprocess
from pathlib import Path

import pyogrio
import pytest

from .helpers import login, lonlat

pytestmark = pytest.mark.django_db


def _tile_at(x, y, z):
    """The XYZ tile (z, x, y) holding the Lambert-93 point (x, y)."""
    lon, lat = lonlat(x, y)
    n = 2**z
    tx = int((lon + 180) / 360 * n)
    ty = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, tx, ty


def test_the_tilejson_describes_the_vintages_tiles(client, world):
    from .conftest import X0, Y0

    login(client, world, "contributor_in")
    m2 = world["m2"]
    data = client.get(f"/tiles/{m2.pk}/tilejson.json").json()
    assert data["tilejson"] == "3.0.0" and data["scheme"] == "xyz"
    assert data["tiles"] == [f"http://testserver/tiles/{m2.pk}/{{z}}/{{x}}/{{y}}.pbf"]
    assert (data["minzoom"], data["maxzoom"]) == (0, 22)
    west, south, east, north = data["bounds"]
    lon0, lat0 = lonlat(X0, Y0)
    lon1, lat1 = lonlat(X0 + 400, Y0 + 400)
    assert west == pytest.approx(lon0, abs=1e-5) and north == pytest.approx(lat1, abs=1e-5)
    assert east == pytest.approx(lon1, abs=1e-5) and south == pytest.approx(lat0, abs=1e-5)
    polygons, signalements = data["vector_layers"]
    assert (polygons["id"], polygons["minzoom"]) == ("polygons", 0)
    assert polygons["fields"]["code_cs"] == "String" and "sig_open" not in polygons["fields"]
    assert (signalements["id"], signalements["minzoom"]) == ("signalements", 12)
    assert signalements["fields"] == {"id": "Number", "sig_open": "Number", "sig_status": "String"}


def test_the_style_draws_each_cs_in_its_official_colour(client, world):
    login(client, world, "contributor_in")
    m2 = world["m2"]
    style = client.get(f"/tiles/{m2.pk}/style.json").json()
    assert style["version"] == 8
    assert style["sources"] == {
        "ocsge": {"type": "vector", "url": f"http://testserver/tiles/{m2.pk}/tilejson.json"}
    }
    fill = next(layer for layer in style["layers"] if layer["id"] == "polygons")
    assert fill["source-layer"] == "polygons"
    match = fill["paint"]["fill-color"]
    assert match[:2] == ["match", ["get", "code_cs"]] and match[-1] == "#888888"
    colours = dict(zip(match[2:-1:2], match[3:-1:2], strict=True))
    assert len(colours) == 14
    # Official colours of the nomenclature (ocsge/data/couverture.csv).
    assert (colours["CS1.1.1.1"], colours["CS1.1.1.2"]) == ("#ff377a", "#ff9191")
    by_us = client.get(f"/tiles/{m2.pk}/style.json?by=us").json()
    us_fill = next(layer for layer in by_us["layers"] if layer["id"] == "polygons")
    assert us_fill["paint"]["fill-color"][1] == ["get", "code_us"]


# MapLibre's own validator (`@maplibre/maplibre-gl-style-spec`, installed by `make install`).
STYLE_VALIDATOR = (
    Path(__file__).resolve().parents[1] / ".venv/node/node_modules/.bin/gl-style-validate"
)


def _validate_style(style: dict, folder: Path) -> subprocess.CompletedProcess:
    assert STYLE_VALIDATOR.exists(), "run `make install`: it installs MapLibre's style validator"
    path = folder / "style.json"
    path.write_text(json.dumps(style))
    return subprocess.run(
        [str(STYLE_VALIDATOR), str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("by", ["cs", "us"])
def test_the_style_is_valid_for_maplibre_s_style_specification(client, world, tmp_path, by):
    login(client, world, "contributor_in")
    style = client.get(f"/tiles/{world['m2'].pk}/style.json?by={by}").json()
    checked = _validate_style(style, tmp_path)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    # The validator does refuse: the same style with a misspelt paint property.
    style["layers"][1]["paint"]["fill-colour"] = style["layers"][1]["paint"].pop("fill-color")
    refused = _validate_style(style, tmp_path)
    assert refused.returncode != 0 and 'unknown property "fill-colour"' in refused.stdout


@pytest.mark.parametrize("who, status", [("anonymous", 404), ("contributor_out", 404)])
def test_tilejson_and_style_are_scoped_like_the_tiles(client, world, who, status):
    login(client, world, who)
    for name in ("tilejson", "style"):
        assert client.get(f"/tiles/{world['m2'].pk}/{name}.json").status_code == status


def test_gdals_mvt_driver_reads_our_tiles(client, world, tmp_path):
    """The tile QGIS would fetch, read by GDAL itself: the layer, its fields, its codes."""
    from .conftest import X0, Y0

    login(client, world, "contributor_in")
    z, x, y = _tile_at(X0 + 150, Y0 + 150, 16)
    response = client.get(f"/tiles/{world['m2'].pk}/{z}/{x}/{y}.pbf")
    assert response.status_code == 200
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(response.content)
    assert [name for name, _kind in pyogrio.list_layers(path)] == ["polygons"]
    frame = pyogrio.read_dataframe(path, layer="polygons")
    assert {"code_cs", "code_us", "id"} <= set(frame.columns)
    assert set(frame.code_cs) <= {"CS2.2.1", "CS1.1.1.1", "CS2.1.1.1"} and len(frame) >= 1
    assert frame.crs.to_epsg() == 3857
