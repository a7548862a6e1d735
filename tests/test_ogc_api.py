"""OGC API – Features over the vintages (issue 21, item 1): the landing page, conformance,
one collection per visible vintage, items with bbox, limit and next links, property
filters, Lambert-93 output — and GDAL's own OGC API client reading it, paging, as QGIS
does."""

import pytest

from apps.landcover import ogc
from apps.landcover.models import Vintage

from .conftest import X0, Y0
from .helpers import login, lonlat

M2 = "ocsge-98-m2-2024"


def _published(world):
    Vintage.objects.filter(pk=world["m2"].pk).update(state=Vintage.State.PUBLISHED)


@pytest.mark.django_db
def test_landing_conformance_and_collections(client, world):
    login(client, world, "contributor_in")
    landing = client.get("/ogc/").json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels["conformance"] == "http://testserver/ogc/conformance"
    assert rels["data"] == "http://testserver/ogc/collections"
    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    collections = client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in collections] == [
        "ocsge-98-m1-2021",
        M2,
        "ocsge-98-evolutions-2021-2024",
        "signalements-98",
    ]
    assert collections[1]["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/2154"


@pytest.mark.django_db
def test_the_change_layer_and_the_signalements_are_collections_too(client, world):
    from apps.landcover.difference import compute_difference

    from .helpers import file

    compute_difference(world["m2"].departement)
    login(client, world, "contributor_in")
    changes = client.get("/ogc/collections/ocsge-98-evolutions-2021-2024/items").json()
    pairs = {
        (f["properties"]["cs_avant"], f["properties"]["cs_apres"]) for f in changes["features"]
    }
    assert pairs == {("CS2.2.1", "CS1.1.1.1"), ("CS2.2.1", "CS2.1.1.1")}
    s = file(world)
    mine = client.get("/ogc/collections/signalements-98/items").json()["features"]
    assert [(f["id"], f["properties"]["status"], f["geometry"]["type"]) for f in mine] == [
        (s.pk, "submitted", "Point")
    ]
    login(client, world, "contributor_out")
    assert client.get("/ogc/collections/signalements-98/items").status_code == 404


@pytest.mark.django_db
def test_items_page_with_next_links_and_filter(client, world, monkeypatch):
    login(client, world, "contributor_in")
    seen, url = [], f"/ogc/collections/{M2}/items?limit=5"
    while url:
        page = client.get(url)
        assert page["Content-Type"] == "application/geo+json"
        data = page.json()
        seen += [f["properties"]["ocsge_id"] for f in data["features"]]
        url = next((lk["href"] for lk in data["links"] if lk["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == 15  # M2: 13 grass squares, the built one, the forest
    # A limit above MAX_LIMIT is lowered: the page holds MAX_LIMIT and links to the next.
    monkeypatch.setattr(ogc, "MAX_LIMIT", 4)
    capped = client.get(f"/ogc/collections/{M2}/items?limit=10000").json()
    assert capped["numberReturned"] == 4
    assert any(lk["rel"] == "next" for lk in capped["links"])
    built = client.get(f"/ogc/collections/{M2}/items?code_cs=CS1.1.1.1").json()
    assert [f["properties"]["code_us"] for f in built["features"]] == ["US5"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "when, m2_items, changes",
    [
        (None, 15, True),
        ("2024-06-01T12:00:00Z", 15, True),  # an instant in M2's year
        ("2024-01-01/2024-12-31", 15, True),
        ("../2022-12-31T23:59:59Z", 0, True),  # before M2, within the M1→M2 span
        ("2025-01-01T00:00:00+01:00/..", 0, False),  # after both
        ("2010-01-01/2015-12-31", 0, False),
    ],
)
def test_the_datetime_parameter_selects_by_millesime(client, world, when, m2_items, changes):
    """OGC API – Features `datetime`: an instant or an interval (open ends `..`, dates or
    RFC 3339 date-times); a vintage's polygons are in their millésime's year, the change
    layer between both millésimes (2021 → 2024)."""
    from apps.landcover.difference import compute_difference

    compute_difference(world["m2"].departement)
    login(client, world, "contributor_in")
    query = {"datetime": when, "limit": 100} if when else {"limit": 100}
    items = client.get(f"/ogc/collections/{M2}/items", query).json()
    assert items["numberReturned"] == m2_items
    collection = client.get(f"/ogc/collections/{M2}").json()
    assert collection["extent"]["temporal"]["interval"] == [
        ["2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"]
    ]
    change = client.get("/ogc/collections/ocsge-98-evolutions-2021-2024/items", query).json()
    assert (change["numberReturned"] > 0) == changes


@pytest.mark.django_db
def test_signalements_are_selected_by_when_they_were_filed(client, world):
    from .helpers import file

    file(world)
    login(client, world, "contributor_in")
    url = "/ogc/collections/signalements-98/items"
    assert client.get(url, {"datetime": "../2000-01-01"}).json()["numberReturned"] == 0
    assert client.get(url, {"datetime": "2000-01-01/.."}).json()["numberReturned"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("when", ["hier", "2024-13-01", "2024-06-01/2024-01-01"])
def test_a_bad_datetime_is_a_400(client, world, when):
    login(client, world, "contributor_in")
    answer = client.get(f"/ogc/collections/{M2}/items", {"datetime": when})
    assert answer.status_code == 400
    assert answer.json()["code"] == "InvalidParameterValue"


@pytest.mark.django_db
def test_bbox_and_lambert_93_output(client, world):
    login(client, world, "contributor_in")
    west, south = lonlat(X0 + 10, Y0 + 10)
    east, north = lonlat(X0 + 90, Y0 + 90)  # inside square (0, 0) only
    data = client.get(f"/ogc/collections/{M2}/items?bbox={west},{south},{east},{north}").json()
    assert [f["properties"]["code_cs"] for f in data["features"]] == ["CS1.1.1.1"]
    l93 = "http://www.opengis.net/def/crs/EPSG/0/2154"
    response = client.get(
        f"/ogc/collections/{M2}/items?bbox={X0 + 10},{Y0 + 10},{X0 + 90},{Y0 + 90}"
        f"&bbox-crs={l93}&crs={l93}"
    )
    assert response["Content-Crs"] == f"<{l93}>"
    ring = response.json()["features"][0]["geometry"]["coordinates"][0][0]
    assert sorted({round(x) for x, _y in ring}) == [X0, X0 + 100]
    one = client.get(f"/ogc/collections/{M2}/items/{response.json()['features'][0]['id']}")
    assert one.json()["properties"]["code_cs"] == "CS1.1.1.1"
    assert client.get(f"/ogc/collections/{M2}/items?bbox=1,2,3").status_code == 400
    assert client.get(f"/ogc/collections/{M2}/items?crs=EPSG:3857").status_code == 400


# The same requests as pygeoapi answers them (its `api/itemtypes.py` and `api/__init__.py`,
# geopython/pygeoapi at debd17b, June 2026: `evaluate_limit`, `validate_bbox`,
# `validate_datetime`, the bbox-crs checks) beside ours; `docs/qgis.md` explains each
# difference. (query, pygeoapi's status, our status, features we return)
PYGEOAPI_COMPARED = [
    ("limit=2", 200, 200, 2),
    ("limit=0", 400, 400, None),  # « limit value should be strictly positive »
    ("limit=-3", 400, 400, None),
    ("limit=abc", 400, 400, None),
    ("limit=1000000", 200, 200, 15),  # both use their maximum instead (2,000 here)
    ("bbox=3,46,2,47", 200, 400, None),  # pygeoapi: an antimeridian box, no French one is
    ("bbox=3,47,4,46", 400, 400, None),  # miny above maxy
    ("bbox=1,2,3", 400, 400, None),
    ("bbox=a,b,c,d", 400, 400, None),
    ("bbox=2.9,46.4,0,3.1,46.6,100", 200, 200, 15),  # six numbers: heights ignored
    ("bbox-crs=http://www.opengis.net/def/crs/EPSG/0/2154", 400, 400, None),  # no bbox
    ("crs=http://www.opengis.net/def/crs/EPSG/0/3857", 400, 400, None),  # not offered
    ("datetime=hier", 400, 400, None),
    ("datetime=1990-01-01", 400, 200, 0),  # pygeoapi: outside the extent is an error
    ("code_cs=CS1.1.1.1", 200, 200, 1),  # a property filter
    ("inconnu=1", 200, 200, 15),  # unknown parameters ignored by both
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, pygeoapi, ours, returned", PYGEOAPI_COMPARED, ids=[q for q, *_ in PYGEOAPI_COMPARED]
)
def test_items_answer_as_pygeoapi_does_but_where_the_docs_say_why_not(
    client, world, query, pygeoapi, ours, returned
):
    _published(world)
    answer = client.get(f"/ogc/collections/{M2}/items?{query}")
    assert answer.status_code == ours
    if ours == 400:
        assert answer.json()["code"] == "InvalidParameterValue"
    else:
        assert answer.json()["numberReturned"] == returned


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [("anonymous", 404), ("contributor_out", 404)])
def test_an_unpublished_vintage_is_no_collection_for_outsiders(client, world, who, status):
    login(client, world, who)
    assert M2 not in [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert client.get(f"/ogc/collections/{M2}/items").status_code == status
    _published(world)
    assert client.get(f"/ogc/collections/{M2}/items").status_code == 200


# GDAL runs in a process of its own: pyogrio holds the GIL while GDAL fetches the pages, which
# would starve the live server's thread in this process.
GDAL_CLIENT = """
import json, sys, pyogrio
source = "OAPIF:" + sys.argv[1] + "/ogc/"
layers = [str(name) for name, _kind in pyogrio.list_layers(source)]
frame = pyogrio.read_dataframe(source, layer=layers[0], PAGE_SIZE=4)
codes = sorted(set(frame.code_cs))
print(json.dumps({"layers": layers, "ids": list(frame.ocsge_id), "codes": codes,
                  "epsg": frame.crs.to_epsg(), "area": float(frame.geometry.area.sum())}))
"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_gdals_ogc_api_client_reads_a_published_vintage_paging(live_server, world):
    """GDAL's OAPIF driver — QGIS's client — lists the collections and reads every item,
    following our next links with pages of 4, in the storage CRS it finds advertised."""
    import json
    import subprocess
    import sys

    _published(world)
    done = subprocess.run(
        [sys.executable, "-c", GDAL_CLIENT, live_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "GDAL_HTTP_TIMEOUT": "20"},
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    assert read["layers"] == [M2]
    assert len(read["ids"]) == len(set(read["ids"])) == 15
    assert read["codes"] == ["CS1.1.1.1", "CS2.1.1.1", "CS2.2.1"]
    # GDAL asks for the storage CRS (Part 2): the polygons come in Lambert-93, exact.
    assert read["epsg"] == 2154 and read["area"] == pytest.approx(400 * 400)


@pytest.mark.django_db
def test_the_collections_cost_a_constant_number_of_queries(
    client, world, django_assert_max_num_queries
):
    """A platform admin sees every département: no query per département or vintage."""
    from django.contrib.gis.geos import MultiPolygon, Polygon

    from apps.territories.models import Departement

    for k in range(5):
        dep = Departement.objects.create(
            code=f"8{k}",
            name=f"D{k}",
            geom=MultiPolygon(Polygon.from_bbox((0, 0, 1, 1)), srid=2154),
        )
        for rank, year in (("M1", 2021), ("M2", 2024)):
            Vintage.objects.create(departement=dep, rank=rank, millesime=year, source="import")
    login(client, world, "admin")
    with django_assert_max_num_queries(8):
        ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert len([i for i in ids if "evolutions" in i]) == 6
