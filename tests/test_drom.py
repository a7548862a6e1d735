"""The DROM in their own projections (formats README « CRS »): Martinique (RGAF09 / UTM 20N,
EPSG:5490) and La Réunion (RGR92 / UTM 40S, EPSG:2975, southern hemisphere). Territories and
OCS GE as delivered in them, stored, measured and exported there — areas against GEOS in
the native CRS, the threshold rule in local metres, the Web Mercator copy against PROJ —,
the map and the filing from WGS84, the OGC API in the local CRS; and a Lambert-93 file for a
DROM refused (its areas would be a third too large)."""

import numpy as np
import pyogrio
import pytest
import shapely
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from pyproj import Transformer

from apps.artif.models import ArtifStat
from apps.landcover.derived import after_change
from apps.landcover.gpkg import ImportRefused, export_ocsge, import_ocsge
from apps.landcover.models import LandCoverPolygon, Vintage
from apps.signalements.models import Signalement
from apps.territories.models import Commune, Departement, Membership, Organisation, Role

pytestmark = pytest.mark.django_db

# (département, région, name, EPSG, origin of its 1 km square in that CRS)
MARTINIQUE = ("972", "02", "Martinique", 5490, (705_000.0, 1_610_000.0))
REUNION = ("974", "04", "La Réunion", 2975, (335_000.0, 7_680_000.0))
BUILT = ("CS1.1.1.1", "US5")
GRASS = ("CS2.2.1", "US1.1")
PAVED = ("CS1.1.1.2", "US4.1.4")


def _box(origin, x1, y1, x2, y2):
    x0, y0 = origin
    return shapely.box(x0 + x1, y0 + y1, x0 + x2, y0 + y2)


def _write(path, layer, geoms, fields, epsg, **options):
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.asarray([shapely.MultiPolygon([g]) for g in geoms], dtype=object)),
        [np.asarray(v, dtype=object) for v in fields.values()],
        list(fields),
        layer=layer,
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=f"EPSG:{epsg}",
        append=path.exists(),
        **options,
    )


def _admin_express(tmp_path, territory):
    """ADMIN EXPRESS of one DROM as its edition delivers it: in the territory's CRS; two
    communes of 500 m × 1 km."""
    dep, reg, name, epsg, origin = territory
    path = tmp_path / f"ADMIN-EXPRESS-COG_3-2__GPKG_{epsg}_{dep}.gpkg"
    whole = _box(origin, 0, 0, 1000, 1000)
    _write(path, "REGION", [whole], {"INSEE_REG": [reg], "NOM": [name]}, epsg)
    _write(
        path,
        "DEPARTEMENT",
        [whole],
        {"INSEE_DEP": [dep], "INSEE_REG": [reg], "NOM": [name]},
        epsg,
    )
    _write(
        path,
        "COMMUNE",
        [_box(origin, 0, 0, 500, 1000), _box(origin, 500, 0, 1000, 1000)],
        {
            "INSEE_COM": [f"{dep}01", f"{dep}02"],
            "INSEE_DEP": [dep, dep],
            "NOM": ["Ouest", "Est"],
            "SIREN_EPCI": ["NC", "NC"],
        },
        epsg,
    )
    return path


def _ocsge(tmp_path, territory, epsg=None):
    """OCS GE 2.0 as delivered for the DROM (the territory's CRS in the archive name): a town
    over the square with a 1,600 m² enclosed field and a 2,000 m² car park alone in a 1 ha
    meadow."""
    dep, _reg, _name, own, origin = territory
    epsg = epsg or own
    folder = tmp_path / f"OCS-GE_2-0__GPKG_UTM_D{dep}_2022-01-01" / "OCS-GE" / "1_DONNEES"
    folder.mkdir(parents=True)
    field = _box(origin, 100, 100, 140, 140)
    meadow = _box(origin, 600, 600, 700, 700)
    park = _box(origin, 620, 620, 670, 660)
    town = _box(origin, 0, 0, 1000, 1000).difference(field).difference(meadow)
    pieces = [(town, BUILT), (field, GRASS), (meadow.difference(park), GRASS), (park, PAVED)]
    if epsg != own:
        to = Transformer.from_crs(own, epsg, always_xy=True)
        pieces = [
            (shapely.transform(g, lambda xy: np.column_stack(to.transform(*xy.T))), c)
            for g, c in pieces
        ]
    n = len(pieces)
    _write(
        folder / "OCCUPATION_SOL.gpkg",
        "OCCUPATION_SOL",
        [g for g, _ in pieces],
        {
            "id": [f"OCSGE{dep}{i:04d}" for i in range(n)],
            "code_cs": [c[0] for _, c in pieces],
            "code_us": [c[1] for _, c in pieces],
            "millesime": ["2022"] * n,
        },
        epsg,
        layer_options={"GEOMETRY_NAME": "the_geom"},
    )
    return folder.parent.parent


@pytest.fixture(params=[MARTINIQUE, REUNION], ids=["martinique", "reunion"])
def drom(request, tmp_path):
    territory = request.param
    call_command("load_territories", str(_admin_express(tmp_path, territory)))
    vintage = import_ocsge(_ocsge(tmp_path, territory), territory[0], "M1")
    after_change(vintage.departement)
    return territory, vintage


def test_its_territories_and_polygons_are_stored_in_its_own_crs(drom):
    (dep, reg, _name, epsg, _origin), vintage = drom
    assert Departement.objects.get(code=dep).srid == epsg
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT (SELECT array_agg(DISTINCT ST_SRID(geom)) FROM territories_commune),
                   (SELECT array_agg(DISTINCT ST_SRID(geom)) FROM territories_departement),
                   (SELECT array_agg(DISTINCT ST_SRID(geom)) FROM territories_region),
                   (SELECT array_agg(DISTINCT ST_SRID(geom)) FROM landcover_landcoverpolygon)
            """
        )
        assert cur.fetchone() == ([epsg], [epsg], [epsg], [epsg])


def test_areas_are_measured_in_its_own_projection(drom):
    """Areas stored are GEOS's in the native CRS: the square is 1 km² there (in Lambert-93
    the same land would measure about a third more in Martinique)."""
    _territory, vintage = drom
    areas = dict(LandCoverPolygon.objects.filter(vintage=vintage).values_list("ocsge_id", "area"))
    assert sorted(round(a, 3) for a in areas.values()) == [
        1_600.0,
        2_000.0,
        8_000.0,
        1_000_000.0 - 1_600.0 - 10_000.0,
    ]
    assert sum(areas.values()) == pytest.approx(1_000_000.0)


def test_the_threshold_rule_counts_in_local_metres(drom):
    """The town with its 1,600 m² field filled; the 2,000 m² car park alone in the meadow
    dropped: 990,000 m² of town and field, split between the two communes."""
    (dep, *_rest), vintage = drom
    rows = (
        ArtifStat.objects.filter(vintage=vintage, artif=True)
        .values("commune__code")
        .annotate(a=Sum("area"))
    )
    assert {r["commune__code"]: round(r["a"], 3) for r in rows} == {
        f"{dep}01": 500_000.0,
        f"{dep}02": 500_000.0 - 10_000.0,
    }


def test_the_web_mercator_copy_is_proj_s(drom):
    """The tiles' copy, vertex by vertex, as PROJ transforms the local geometry."""
    (_dep, _reg, _name, epsg, origin), vintage = drom
    to_3857 = Transformer.from_crs(epsg, 3857, always_xy=True)
    polygon = LandCoverPolygon.objects.get(vintage=vintage, code_cs="CS1.1.1.2")
    local = polygon.geom[0][0].coords
    assert min(x for x, _y in local) == origin[0] + 620
    expected = np.array([to_3857.transform(x, y) for x, y in local])
    assert np.abs(np.array(polygon.geom_3857[0][0].coords) - expected).max() < 0.01


def test_it_is_exported_back_in_its_own_crs(drom, tmp_path):
    (dep, _reg, _name, epsg, _origin), vintage = drom
    out = tmp_path / "export.gpkg"
    export_ocsge(dep, "M1", out)
    info = pyogrio.read_info(out, layer="OCCUPATION_SOL")
    assert info["crs"] == f"EPSG:{epsg}"
    back = pyogrio.read_dataframe(out, layer="OCCUPATION_SOL")
    stored = dict(LandCoverPolygon.objects.filter(vintage=vintage).values_list("ocsge_id", "area"))
    assert dict(zip(back["id"], back.geometry.area, strict=True)) == pytest.approx(stored)


def test_a_lambert_93_file_for_a_drom_is_refused(tmp_path):
    """Reprojected into Lambert-93, the land measures a third more: never taken silently."""
    call_command("load_territories", str(_admin_express(tmp_path, MARTINIQUE)))
    path = _ocsge(tmp_path, MARTINIQUE, epsg=2154)
    with pytest.raises(ImportRefused) as refused:
        import_ocsge(path, "972", "M1")
    assert "le département 972 est en EPSG:5490 (RGAF09 / UTM 20N)" in str(refused.value)
    assert not Vintage.objects.exists() and not LandCoverPolygon.objects.exists()
    # With --reproject, it is brought into UTM 20N: the areas come back right.
    vintage = import_ocsge(path, "972", "M1", reproject=True)
    field = LandCoverPolygon.objects.get(vintage=vintage, code_cs="CS2.2.1", area__lt=2_000)
    assert field.area == pytest.approx(1_600.0, rel=1e-6)
    assert field.geom.srid == 5490


def test_the_map_and_a_filing_from_wgs84_land_in_its_crs(drom, client, django_user_model):
    (dep, _reg, _name, epsg, origin), vintage = drom
    Vintage.objects.filter(pk=vintage.pk).update(feedback_open=True, state="in_review")
    user = django_user_model.objects.create_user("mairie", "mairie@example.org", "pw")
    organisation = Organisation.objects.create(name=f"Commune {dep}01", kind="collectivite")
    organisation.communes.add(Commune.objects.get(code=f"{dep}01"))
    Membership.objects.create(user=user, organisation=organisation, role=Role.CONTRIBUTOR)
    client.force_login(user)
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    lon, lat = to_wgs84.transform(origin[0] + 120, origin[1] + 120)  # in the field
    panel = client.get(f"/api/vintages/{vintage.pk}/polygons/at/", {"lon": lon, "lat": lat})
    assert panel.status_code == 200, panel.content
    assert panel.json()["code_cs"] == "CS2.2.1"
    answer = client.post(
        "/api/signalements/",
        {
            "vintage": vintage.pk,
            "lon": lon,
            "lat": lat,
            "code_cs_proposed": "CS1.1.1.1",
            "code_us_proposed": "US5",
        },
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    signalement = Signalement.objects.get()
    assert signalement.location.srid == epsg
    assert signalement.location.x == pytest.approx(origin[0] + 120, abs=0.01)
    assert signalement.polygon.code_cs == "CS2.2.1"


def test_the_ogc_api_serves_it_in_its_crs(drom, client):
    (dep, _reg, _name, epsg, origin), vintage = drom
    Vintage.objects.filter(pk=vintage.pk).update(state="published")
    cid = f"ocsge-{dep}-m1-2022"
    collection = client.get(f"/ogc/collections/{cid}").json()
    assert collection["storageCrs"] == f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
    items = client.get(
        f"/ogc/collections/{cid}/items",
        {"crs": collection["storageCrs"], "code_cs": "CS1.1.1.2"},
    )
    assert items["Content-Crs"] == f"<{collection['storageCrs']}>"
    ring = items.json()["features"][0]["geometry"]["coordinates"][0][0]
    assert min(x for x, _y in ring) == pytest.approx(origin[0] + 620, abs=0.01)


def test_a_generated_drom_departement_goes_end_to_end_in_its_crs(tmp_path):
    """`generate_departement --code 972` draws Martinique in UTM 20N: its files declare it,
    communes get INSEE codes of five characters, both vintages import, and the change
    layer and the indicators are computed there."""
    from ocsge import synth

    synth.generate(tmp_path, code="972", size_km=3, seed=4, log=lambda *_: None)
    for name in ("territoires", "ocsge_M1", "ocsge_M2"):
        layer = "COMMUNE" if name == "territoires" else "OCCUPATION_SOL"
        assert pyogrio.read_info(tmp_path / f"{name}.gpkg", layer=layer)["crs"] == "EPSG:5490"
    call_command("load_territories", str(tmp_path / "territoires.gpkg"))
    codes = list(Commune.objects.values_list("code", flat=True))
    assert codes and all(len(c) == 5 and c.startswith("972") for c in codes)
    assert Departement.objects.get(code="972").region.code == "02"
    m1 = import_ocsge(tmp_path / "ocsge_M1.gpkg", "972", "M1")
    m2 = import_ocsge(tmp_path / "ocsge_M2.gpkg", "972", "M2")
    after_change(m1.departement)
    with connection.cursor() as cur:
        cur.execute("SELECT array_agg(DISTINCT ST_SRID(geom)), count(*) FROM landcover_changepiece")
        srids, pieces = cur.fetchone()
    assert srids == [5490] and pieces > 0
    for vintage in (m1, m2):
        stats = ArtifStat.objects.filter(vintage=vintage).aggregate(a=Sum("area"))["a"]
        polygons = vintage.polygons.aggregate(a=Sum("area"))["a"]
        assert stats == pytest.approx(polygons, rel=1e-6)


def test_its_vector_tiles_show_its_polygons_where_they_are(drom, client):
    import math

    import mapbox_vector_tile

    (_dep, _reg, _name, epsg, origin), vintage = drom
    Vintage.objects.filter(pk=vintage.pk).update(state="published")
    lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(
        origin[0] + 645, origin[1] + 640
    )  # the car park
    z = 16
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    tile = client.get(f"/tiles/{vintage.pk}/{z}/{x}/{y}.pbf")
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["polygons"]["features"]
    assert "CS1.1.1.2" in {f["properties"]["code_cs"] for f in features}
