"""IGN's own artificialisation in a delivery (fields `artif` « artif »/« non artif » and
`crit_seuil`, recent OCS GE editions): imported with the polygons, compared with ours per
commune, each disagreement explained (a correction accepted since, the threshold applied
differently, the (CS, US) rule), shown on the territory page and the quality report."""

import numpy as np
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import connection

from apps.artif.models import ArtifStat, IgnComparison
from apps.landcover import corrections
from apps.landcover.derived import after_change
from apps.landcover.gpkg import ImportRefused, import_ocsge
from apps.landcover.models import LandCoverPolygon, Vintage
from apps.territories.models import Commune, Departement
from ocsge import artif_union

from .conftest import X0, Y0

pytestmark = pytest.mark.django_db

BUILT = ("CS1.1.1.1", "US5")
GRASS = ("CS2.2.1", "US1.1")


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


# The town (built) over the square, with five grass fields in it, each with IGN's flags as
# delivered: (name, box, codes, artif, crit_seuil).
FIELDS = [
    ("A", (400, 400, 440, 440), GRASS, "artif", True),  # 1,600 m²: both fill it
    ("B", (100, 100, 160, 160), GRASS, "non artif", False),  # 3,600 m²: neither
    ("C", (600, 600, 700, 700), GRASS, "artif", False),  # 1 ha: IGN's rule says artif
    ("D", (800, 800, 840, 840), GRASS, "non artif", False),  # 1,600 m²: we fill, IGN not
    ("E", (200, 600, 300, 650), GRASS, "non artif", False),  # 5,000 m²: corrected below
]


def _delivery(path, artif=None, flags=True):
    town = box(0, 0, 1000, 1000)
    for _name, b, *_ in FIELDS:
        town = town.difference(box(*b))
    geoms = [town] + [box(*b) for _n, b, *_ in FIELDS]
    rows = [("TOWN", BUILT, "artif", False)] + [(n, c, a, s) for n, _b, c, a, s in FIELDS]
    n = len(rows)
    fields = {
        "id": [f"OCSGE{r[0]}" for r in rows],
        "code_cs": [r[1][0] for r in rows],
        "code_us": [r[1][1] for r in rows],
        "millesime": ["2021"] * n,
        "artif": artif or [r[2] for r in rows],
        "crit_seuil": np.array([r[3] for r in rows], dtype=bool),  # a GeoPackage boolean
    }
    if not flags:
        del fields["artif"], fields["crit_seuil"]
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.asarray([shapely.MultiPolygon([g]) for g in geoms], dtype=object)),
        [v if isinstance(v, np.ndarray) else np.asarray(v, dtype=object) for v in fields.values()],
        list(fields),
        layer="OCCUPATION_SOL",
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs="EPSG:2154",
        layer_options={"GEOMETRY_NAME": "the_geom"},
    )
    return path


@pytest.fixture
def communes(db):
    """Département 98: two communes side by side, 500 m × 1,000 m each."""
    dep = Departement.objects.create(
        code="98",
        name="Carré",
        geom=MultiPolygon(GEOSGeometry(box(0, 0, 1000, 1000).wkt, srid=2154)),
    )
    for k, b in enumerate(((0, 0, 500, 1000), (500, 0, 1000, 1000))):
        Commune.objects.create(
            code=f"98{k + 1:03d}",
            name=f"Commune {k + 1}",
            departement=dep,
            siren_epci="200000098",
            geom=MultiPolygon(GEOSGeometry(box(*b).wkt, srid=2154)),
        )
    return dep


def _by_reason(vintage, commune=None):
    rows = IgnComparison.objects.filter(vintage=vintage)
    if commune:
        rows = rows.filter(commune__code=commune)
    found = {}
    for r in rows:
        key = (r.reason, r.ours, r.ign)
        found[key] = round(found.get(key, 0.0) + r.area, 3)
    return found


def test_a_delivery_with_igns_flags_is_imported_with_them(communes, tmp_path):
    vintage = import_ocsge(_delivery(tmp_path / "d.gpkg"), "98", "M1")
    flags = {
        p.ocsge_id: (p.ign_artif, p.ign_crit_seuil)
        for p in LandCoverPolygon.objects.filter(vintage=vintage)
    }
    assert flags == {
        "OCSGETOWN": (True, False),
        "OCSGEA": (True, True),
        "OCSGEB": (False, False),
        "OCSGEC": (True, False),
        "OCSGED": (False, False),
        "OCSGEE": (False, False),
    }


def test_each_disagreement_with_ign_is_measured_and_explained(
    communes, tmp_path, django_capture_on_commit_callbacks
):
    vintage = import_ocsge(_delivery(tmp_path / "d.gpkg"), "98", "M1")
    after_change(communes)  # as the import command and task do
    town = 1_000_000.0 - 1_600 - 3_600 - 10_000 - 1_600 - 5_000
    # (reason, ours, IGN's) -> m²
    assert _by_reason(vintage) == {
        ("", True, True): town + 1_600.0,  # the town and field A (both fill it)
        ("", False, False): 3_600.0 + 5_000.0,  # fields B and E
        ("rule", False, True): 10_000.0,  # field C: IGN counts grass/agriculture
        ("threshold", True, False): 1_600.0,  # field D: we fill it, IGN did not
    }
    assert _by_reason(vintage, "98002") == {
        ("", True, True): 500_000.0 - 10_000.0 - 1_600.0,
        ("rule", False, True): 10_000.0,
        ("threshold", True, False): 1_600.0,
    }
    # A correction accepted since the delivery: field E built over.
    field = LandCoverPolygon.objects.get(vintage=vintage, ocsge_id="OCSGEE")
    touched = corrections.apply(field, *BUILT, origin="signalement 1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        after_change(communes, touched)  # as the derived-data task does
    assert callbacks == []  # the indicators are updated there, no further task
    assert _by_reason(vintage, "98001") == {
        ("", True, True): 500_000.0 - 1_600.0 - 3_600.0 - 5_000.0 + 1_600.0,
        ("", False, False): 3_600.0,
        ("corrected", True, False): 5_000.0,
    }


def test_the_territory_page_and_the_quality_report_show_the_agreement(
    client, communes, tmp_path, django_user_model
):
    vintage = import_ocsge(_delivery(tmp_path / "d.gpkg"), "98", "M1")
    after_change(communes)
    Vintage.objects.filter(pk=vintage.pk).update(state=Vintage.State.PUBLISHED)
    page = client.get("/territoires/departement/98/").content.decode()
    assert 'id="ign-comparison"' in page
    # 98.84 % of the 100 ha agree; 1 ha only IGN's (rule), 0.16 ha only ours (threshold)
    assert "98,84" in page
    assert "règle CS × US différente" in page and "seuil appliqué différemment" in page
    commune = client.get("/territoires/commune/98002/").content.decode()
    assert "97,68" in commune  # 488,400 of 500,000 m²
    api = client.get("/api/artificialisation/departement/98/").json()
    assert api["ign"]["M1"]["ign_only_ha"] == pytest.approx(1.0)
    assert api["ign"]["M1"]["ours_only_ha"] == pytest.approx(0.16)
    assert [r["reason"] for r in api["ign"]["M1"]["reasons"]] == ["rule", "threshold"]
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    report = client.get("/departements/98/rapport-qualite/").content.decode()
    assert 'id="ign-comparison"' in report and 'id="ign-communes"' in report


def test_a_delivery_without_igns_flags_shows_no_comparison(communes, tmp_path, client):
    path = _delivery(tmp_path / "d.gpkg", flags=False)
    vintage = import_ocsge(path, "98", "M1")
    after_change(communes)
    assert ArtifStat.objects.filter(vintage=vintage).exists()
    assert not IgnComparison.objects.filter(vintage=vintage).exists()
    Vintage.objects.filter(pk=vintage.pk).update(state=Vintage.State.PUBLISHED)
    assert 'id="ign-comparison"' not in client.get("/territoires/departement/98/").content.decode()


def test_an_unreadable_artif_flag_refuses_the_file_naming_the_rows(communes, tmp_path):
    path = _delivery(tmp_path / "d.gpkg", artif=["artif", "peut-être", "", "x", "non artif", "1"])
    with pytest.raises(ImportRefused) as refused:
        import_ocsge(path, "98", "M1")
    assert "artif illisible" in str(refused.value)
    assert "OCSGEA" in str(refused.value) and "OCSGEC" in str(refused.value)
    assert not Vintage.objects.exists() and not LandCoverPolygon.objects.exists()


# --- the independent reading of the threshold rule (ocsge.artif_union) -------------------------


def test_the_union_reading_gives_the_written_flags_on_constructed_cases():
    town = box(0, 0, 1000, 1000)
    fields = [box(400, 400, 440, 440), box(0, 400, 40, 440), box(100, 100, 160, 160)]
    for f in fields:
        town = town.difference(f)
    artif, crit = artif_union.flags(
        [town, *fields], ["CS1.1.1.1"] + ["CS2.2.1"] * 3, ["US5"] + ["US1.1"] * 3
    )
    # The enclosed 1,600 m² field filled; the one on the edge is no hole of the union; the
    # 3,600 m² one stays.
    assert artif.tolist() == [True, True, False, False]
    assert crit.tolist() == [False, True, False, False]
    fields = box(0, 0, 1000, 1000)
    items = [
        (box(400, 400, 450, 440), ("CS1.1.1.2", "US4.1.4")),  # 2,000 m² car park: dropped
        (box(100, 100, 120, 115), BUILT),  # 300 m² building: kept (50 m²)
        (box(600, 600, 630, 640), BUILT),  # building and its yard: kept
        (box(630, 600, 660, 640), ("CS1.1.1.2", "US5")),
        (box(800, 800, 806, 806), BUILT),  # 36 m² shed: dropped
    ]
    for g, _ in items:
        fields = fields.difference(g)
    artif, crit = artif_union.flags(
        [fields, *(g for g, _ in items)],
        [GRASS[0], *(c[0] for _, c in items)],
        [GRASS[1], *(c[1] for _, c in items)],
    )
    assert artif.tolist() == [False, False, True, True, True, False]
    assert crit.tolist() == [False, True, False, False, False, True]


def test_the_generated_departement_agrees_with_its_delivered_flags_but_for_two_readings(
    generated,
):
    """The generated delivery carries flags from the union reading (`ocsge.artif_union`);
    the platform's figures agree in every commune, and each disagreement is a threshold one
    of the two known reading differences: a field on the département's edge (filled here,
    no hole of the union there), or a field touching land of its kind at a point only (one
    patch here, a hole of the union there)."""
    dep, m1, m2 = generated
    rows = IgnComparison.objects.filter(vintage__in=(m1, m2))
    assert rows.exists()
    assert set(rows.values_list("reason", flat=True)) <= {"", "threshold"}
    for commune in Commune.objects.filter(departement=dep):
        mine = rows.filter(commune=commune)
        total = sum(r.area for r in mine)
        agree = sum(r.area for r in mine if r.reason == "")
        assert total == pytest.approx(2 * commune.geom.area, rel=1e-6)  # both vintages
        assert agree / total > 0.999, commune.code
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT p.ocsge_id,
                   f.step IS NOT NULL AND ST_Intersects(ST_Boundary(d.geom), p.geom) AS edge,
                   f.step IS NULL AND p.ign_crit_seuil AND EXISTS (
                     SELECT 1 FROM landcover_landcoverpolygon n
                     WHERE n.vintage_id = p.vintage_id AND n.id <> p.id
                       AND ocsge_artif(n.code_cs, n.code_us) = ocsge_artif(p.code_cs, p.code_us)
                       AND n.area >= 2500 AND ST_Intersects(n.geom, p.geom)
                       AND ST_Dimension(ST_Intersection(n.geom, p.geom)) = 0) AS point
            FROM landcover_landcoverpolygon p
            JOIN landcover_vintage v ON v.id = p.vintage_id
            JOIN territories_departement d ON d.id = v.departement_id
            LEFT JOIN artif_thresholdflip f ON f.vintage_id = p.vintage_id AND f.polygon_id = p.id
            WHERE v.departement_id = %s
              AND p.ign_artif <> coalesce(f.artif, ocsge_artif(p.code_cs, p.code_us))
            """,
            [dep.pk],
        )
        found = cur.fetchall()
        assert found  # four fields on the edge (seed 7), two in each vintage
        unexplained = [ocsge_id for ocsge_id, edge, point in found if not (edge or point)]
    assert unexplained == []
