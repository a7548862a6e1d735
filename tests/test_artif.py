"""Artificialisation: the rule, the 2,500 m² threshold, flows, incremental updates, pages."""

import csv
import io
from pathlib import Path

import pytest
import shapely
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Q, Sum

from apps.artif.compute import compute_departement, update_after_correction
from apps.artif.impact import correction_impact, format_delta
from apps.artif.models import ArtifFlow, ArtifStat, ThresholdFlip
from apps.landcover.difference import compute_difference
from apps.landcover.models import ChangePiece, LandCoverPolygon, Vintage
from apps.territories.models import Commune, Departement, Membership, Organisation, Role
from ocsge.artificialisation import is_artificialised

from .conftest import X0, Y0

pytestmark = pytest.mark.django_db

NOMENCLATURE = Path(__file__).parent.parent / "ocsge" / "data"
BUILT = ("CS1.1.1.1", "US5")
GRASS = ("CS2.2.1", "US1.1")


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cs, us, expected",
    [
        ("CS1.1.1.1", "US1.1", True),  # built, whatever the use
        ("CS1.1.1.2", "US6.3", True),
        ("CS1.1.2.2", "US1.2", True),
        ("CS1.1.2.1", "US2", True),  # mineral…
        ("CS1.1.2.1", "US1.3", False),  # …unless extraction
        ("CS2.2.1", "US5", True),  # herbaceous in urban use (a garden)
        ("CS2.2.2", "US4.1.1", True),
        ("CS2.2.1", "US6.2", True),
        ("CS2.2.1", "US1.1", False),  # herbaceous in agriculture
        ("CS2.2.1", "US6.3", False),
        ("CS2.1.1.1", "US5", False),  # woods in a residential use are not artificialised
        ("CS1.2.2", "US4.1.4", False),  # water
        ("CS1.2.1", "US6.1", False),  # bare soil, even in transition
    ],
)
def test_rule_follows_every_branch_of_the_decree(cs, us, expected):
    assert is_artificialised(cs, us) is expected


# Every (CS, US) pair of the nomenclature, written out: X artificialised, . not (the décret's
# rule, nomenclature README). Columns: the US codes in this order.
USES = [
    "US1.1",
    "US1.2",
    "US1.3",
    "US1.4",
    "US1.5",
    "US2",
    "US3",
    "US235",
    "US4.1.1",
    "US4.1.2",
    "US4.1.3",
    "US4.1.4",
    "US4.1.5",
    "US4.2",
    "US4.3",
    "US5",
    "US6.1",
    "US6.2",
    "US6.3",
    "US6.6",
]
ARTIFICIALISED = {
    "CS1.1.1.1": "XXXXX XXX XXXXXXX XXX XX",
    "CS1.1.1.2": "XXXXX XXX XXXXXXX XXX XX",
    "CS1.1.2.1": "XX.XX XXX XXXXXXX XXX XX",
    "CS1.1.2.2": "XXXXX XXX XXXXXXX XXX XX",
    "CS1.2.1": "..... ... ....... ... ..",
    "CS1.2.2": "..... ... ....... ... ..",
    "CS1.2.3": "..... ... ....... ... ..",
    "CS2.1.1.1": "..... ... ....... ... ..",
    "CS2.1.1.2": "..... ... ....... ... ..",
    "CS2.1.1.3": "..... ... ....... ... ..",
    "CS2.1.2": "..... ... ....... ... ..",
    "CS2.1.3": "..... ... ....... ... ..",
    "CS2.2.1": "..... XXX XXXXXXX XXX ..",
    "CS2.2.2": "..... XXX XXXXXXX XXX ..",
}  # groups: US1.x | US2 US3 US235 | US4.x | US5 US6.1 US6.2 | US6.3 US6.6


def test_python_and_sql_rules_give_the_written_table_on_every_cs_us_pair():
    cover = [r["code_cs"] for r in csv.DictReader((NOMENCLATURE / "couverture.csv").open())]
    use = [r["code_us"] for r in csv.DictReader((NOMENCLATURE / "usage.csv").open())]
    assert (sorted(cover), sorted(use)) == (sorted(ARTIFICIALISED), sorted(USES))
    expected = {
        (cs, us): flag == "X"
        for cs, row in ARTIFICIALISED.items()
        for us, flag in zip(USES, row.replace(" ", ""), strict=True)
    }
    pairs = sorted(expected)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c, u, ocsge_artif(c, u) FROM unnest(%s::text[], %s::text[]) AS t(c, u)",
            [[c for c, _ in pairs], [u for _, u in pairs]],
        )
        sql = {(c, u): a for c, u, a in cur.fetchall()}
    python = {p: is_artificialised(*p) for p in pairs}
    assert sql == python == expected
    assert sum(expected.values()) == 4 * 20 - 1 + 2 * 13


# --- hand-built cases of the threshold rule ---------------------------------------------------


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def build(pieces, communes=((0, 0, 1000, 1000),), rank="M1"):
    """A département 98 with the given communes (boxes) and one vintage of (shape, codes)."""
    dep, _ = Departement.objects.get_or_create(code="98", defaults={"name": "Carré"})
    for k, b in enumerate(communes):
        Commune.objects.get_or_create(
            code=f"98{k + 1:03d}",
            defaults={
                "name": f"Commune {k + 1}",
                "departement": dep,
                "siren_epci": "200000098",
                "geom": MultiPolygon(GEOSGeometry(box(*b).wkt, srid=2154)),
            },
        )
    vintage = Vintage.objects.create(departement=dep, rank=rank, millesime=2021, source="import")
    LandCoverPolygon.objects.bulk_create(
        LandCoverPolygon(
            vintage=vintage,
            ocsge_id=f"{rank}-{i}",
            code_cs=cs,
            code_us=us,
            geom=MultiPolygon(GEOSGeometry(shapely.Polygon(shape).wkt, srid=2154)),
        )
        for i, (shape, (cs, us)) in enumerate(pieces)
    )
    return dep, vintage


def around(outer_codes, *holes, outer=(0, 0, 1000, 1000)):
    """The square `outer` with holes, and the holes as polygons of their own codes."""
    land = box(*outer)
    for hole, _ in holes:
        land = land.difference(box(*hole))
    return [(land, outer_codes)] + [(box(*hole), codes) for hole, codes in holes]


def artif_by_commune(vintage):
    rows = (
        ArtifStat.objects.filter(vintage=vintage)
        .values("commune__code")
        .annotate(a=Sum("area", filter=Q(artif=True)), t=Sum("area"))
    )
    return {r["commune__code"]: (round(r["a"] or 0.0, 3), round(r["t"], 3)) for r in rows}


def flips(vintage):
    return sorted(
        (p.code_cs, f.step, f.artif)
        for f, p in (
            (f, LandCoverPolygon.objects.get(pk=f.polygon_id))
            for f in ThresholdFlip.objects.filter(vintage=vintage)
        )
    )


def test_small_enclosed_garden_in_a_town_counts_as_artificialised():
    dep, v = build(around(BUILT, ((400, 400, 440, 440), GRASS)))  # 1,600 m² hole
    compute_departement(dep)
    assert artif_by_commune(v) == {"98001": (1_000_000.0, 1_000_000.0)}
    assert flips(v) == [("CS2.2.1", "fill", True)]


def test_enclosed_park_above_the_threshold_stays_natural():
    dep, v = build(around(BUILT, ((400, 400, 460, 460), GRASS)))  # 3,600 m²
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 1_000_000.0 - 3_600.0
    assert flips(v) == []


def test_an_isolated_building_in_fields_stays_artificialised():
    """Built surfaces qualify from 50 m² of footprint (décret n° 2023-1096): a 300 m²
    building alone in fields is not dropped."""
    dep, v = build(around(GRASS, ((400, 400, 420, 415), BUILT)))
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 300.0
    assert flips(v) == []


def test_a_car_park_alone_in_fields_is_dropped():
    dep, v = build(around(GRASS, ((400, 400, 450, 440), ("CS1.1.1.2", "US4.1.4"))))  # 2,000 m²
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 0.0
    assert flips(v) == [("CS1.1.1.2", "drop", False)]


def test_a_building_under_50_m2_alone_in_fields_is_dropped():
    dep, v = build(around(GRASS, ((400, 400, 406, 406), BUILT)))  # 36 m²
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 0.0
    assert flips(v) == [("CS1.1.1.1", "drop", False)]


def test_island_counts_its_touching_polygons_together():
    # Two 1,600 m² buildings side by side: one 3,200 m² island, kept.
    dep, v = build(
        around(GRASS, ((400, 400, 440, 440), BUILT), ((440, 400, 480, 440), ("CS1.1.1.2", "US5")))
    )
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 3_200.0
    assert flips(v) == []


def test_island_of_two_small_polygons_under_the_threshold_is_dropped_whole():
    paved = ("CS1.1.1.2", "US5")
    dep, v = build(around(GRASS, ((400, 400, 430, 440), paved), ((430, 400, 460, 440), paved)))
    compute_departement(dep)  # 2 × 1,200 m² of paving
    assert artif_by_commune(v)["98001"][0] == 0.0
    assert [step for _, step, _ in flips(v)] == ["drop", "drop"]


def test_a_building_keeps_the_small_island_it_stands_on():
    """A 1,200 m² building and its 1,200 m² yard alone in fields: the building is not
    dropped (50 m² threshold), so neither is the patch it belongs to."""
    dep, v = build(
        around(GRASS, ((400, 400, 430, 440), BUILT), ((430, 400, 460, 440), ("CS1.1.1.2", "US5")))
    )
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 2_400.0
    assert flips(v) == []


def test_a_hole_on_the_departements_edge_is_enclosed_by_what_the_departement_holds():
    """Nothing lies beyond the département's edge (the reference, Mon Diagnostic
    Artificialisation, and IGN's flags work on the whole département): a 1,600 m² field on
    the edge, surrounded by the town on its other sides, is filled."""
    dep, v = build(around(BUILT, ((0, 400, 40, 440), GRASS)))
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 1_000_000.0
    assert flips(v) == [("CS2.2.1", "fill", True)]


def test_a_car_park_on_the_departements_edge_alone_in_fields_is_dropped():
    dep, v = build(around(GRASS, ((960, 400, 1000, 440), ("CS1.1.1.2", "US4.1.4"))))
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 0.0
    assert flips(v) == [("CS1.1.1.2", "drop", False)]


def test_small_hole_touching_a_big_natural_area_is_part_of_it():
    # 1,600 m² of grass touching 4,000 m² of grass: one 5,600 m² patch, not filled.
    dep, v = build(around(BUILT, ((400, 400, 440, 440), GRASS), ((440, 400, 540, 440), GRASS)))
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 1_000_000.0 - 5_600.0
    assert flips(v) == []


def test_building_with_a_courtyard_in_fields_keeps_its_filled_courtyard():
    # A 1,500 m² building around a 100 m² grass courtyard, in fields: the courtyard is
    # filled (enclosed in the building), and the building is never dropped.
    pieces = around(GRASS, ((400, 400, 440, 440), BUILT))
    building = pieces[1][0].difference(box(415, 415, 425, 425))
    pieces = [pieces[0], (building, BUILT), (box(415, 415, 425, 425), GRASS)]
    dep, v = build(pieces)
    compute_departement(dep)
    assert artif_by_commune(v)["98001"][0] == 1_600.0
    assert flips(v) == [("CS2.2.1", "fill", True)]


def test_a_patch_across_a_commune_boundary_flips_and_counts_in_each_commune():
    """Patches are found over the whole département, then cut by commune: a 1,600 m² field
    straddling two communes, in the town, is filled — 800 m² in each."""
    dep, v = build(
        around(BUILT, ((480, 400, 520, 440), GRASS)),
        communes=((0, 0, 500, 1000), (500, 0, 1000, 1000)),
    )
    compute_departement(dep)
    assert artif_by_commune(v) == {
        "98001": (500_000.0, 500_000.0),
        "98002": (500_000.0, 500_000.0),
    }
    assert flips(v) == [("CS2.2.1", "fill", True)]


def test_a_patch_of_polygons_in_two_communes_is_one_patch():
    """Two 1,500 m² fields side by side, one in each commune, in the town: one 3,000 m²
    patch, not filled (each alone would be)."""
    dep, v = build(
        around(BUILT, ((470, 400, 500, 450), GRASS), ((500, 400, 530, 450), GRASS)),
        communes=((0, 0, 500, 1000), (500, 0, 1000, 1000)),
    )
    compute_departement(dep)
    assert artif_by_commune(v) == {
        "98001": (500_000.0 - 1_500.0, 500_000.0),
        "98002": (500_000.0 - 1_500.0, 500_000.0),
    }
    assert flips(v) == []


def test_a_road_network_of_many_vertices_counts_in_each_commune_it_crosses_and_none_other():
    """A road network of more than 10,000 vertices (its commune areas come from its
    intersection with each commune its box meets, not from a relate of the whole polygon):
    an L along the west and north edges of four square communes; its box covers the
    south-east commune, which it never enters."""
    road = box(0, 0, 40, 1000).union(box(40, 960, 1000, 1000))
    dense = shapely.segmentize(road, 0.25)
    assert shapely.get_num_coordinates(dense) > 10_000
    fields = box(0, 0, 1000, 1000).difference(road)
    dep, v = build(
        [(fields, GRASS), (dense, ("CS1.1.1.2", "US4.1.1"))],
        communes=(
            (0, 0, 500, 500),
            (500, 0, 1000, 500),
            (0, 500, 500, 1000),
            (500, 500, 1000, 1000),
        ),
    )
    compute_departement(dep)
    assert artif_by_commune(v) == {
        "98001": (20_000.0, 250_000.0),  # 40 m × 500 m of the west branch
        "98002": (0.0, 250_000.0),
        "98003": (38_400.0, 250_000.0),  # 40 × 500 west, 460 × 40 north
        "98004": (20_000.0, 250_000.0),  # 500 × 40 north
    }
    assert flips(v) == []


ROAD = ("CS1.1.1.2", "US4.1.1")


def test_a_changed_road_network_of_many_vertices_makes_the_pieces_of_its_changed_neighbours():
    """Both vintages' road network has more than 10,000 vertices and changed between them
    (no twin): a spur was built over a field, a house over a stretch of road. The network is
    cut down to its changed neighbours' boxes before the overlay; the pieces are exactly the
    two changes, and an unchanged field far from them makes none."""
    road = box(0, 0, 40, 1000).union(box(40, 960, 1000, 1000))
    spur, house = box(40, 500, 100, 540), box(0, 100, 20, 150)
    fields = [box(40, 0, 520, 480), box(520, 0, 1000, 480), box(520, 480, 1000, 960)]
    north_west = box(40, 480, 520, 960)
    road_m2 = road.union(spur).difference(house)
    dense_m1, dense_m2 = shapely.segmentize(road, 0.25), shapely.segmentize(road_m2, 0.25)
    assert min(shapely.get_num_coordinates([dense_m1, dense_m2])) > 10_000
    field_pieces = [(f, GRASS) for f in fields]
    dep, _ = build([(dense_m1, ROAD), (north_west, GRASS), *field_pieces])
    build(
        [(dense_m2, ROAD), (north_west.difference(spur), GRASS), (house, BUILT), *field_pieces],
        rank="M2",
    )
    compute_difference(dep)
    pieces = sorted(
        (p.cs_avant, p.us_avant, p.cs_apres, p.us_apres, round(p.area, 3))
        for p in ChangePiece.objects.filter(departement=dep)
    )
    assert pieces == [
        ("CS1.1.1.2", "US4.1.1", "CS1.1.1.1", "US5", 1_000.0),  # the house: 20 × 50
        ("CS2.2.1", "US1.1", "CS1.1.1.2", "US4.1.1", 2_400.0),  # the spur: 60 × 40
    ]


def test_a_correction_in_one_commune_updates_the_patch_it_extends_into_another():
    """The same two fields; the one in the first commune is built over: the other, now a
    1,500 m² enclosed field in the second commune only, is filled — the incremental update
    reaches the commune the corrected polygon does not meet, and equals a full
    recomputation."""
    dep, v = build(
        around(BUILT, ((470, 400, 500, 450), GRASS), ((500, 400, 530, 450), GRASS)),
        communes=((0, 0, 500, 1000), (500, 0, 1000, 1000)),
    )
    compute_departement(dep)
    west = v.polygons.get(ocsge_id="M1-1")
    v.polygons.filter(pk=west.pk).update(code_cs=BUILT[0], code_us=BUILT[1])
    result = update_after_correction(dep, [west.pk])
    assert sorted(
        Commune.objects.filter(pk__in=result["communes"]).values_list("code", flat=True)
    ) == [
        "98001",
        "98002",
    ]
    assert artif_by_commune(v) == {
        "98001": (500_000.0, 500_000.0),
        "98002": (500_000.0, 500_000.0),
    }
    assert flips(v) == [("CS2.2.1", "fill", True)]
    incremental = _snapshot(dep)
    compute_departement(dep)
    assert _snapshot(dep) == incremental


def test_figures_are_broken_down_by_cs_and_us():
    dep, v = build(around(GRASS, ((100, 100, 200, 200), ("CS2.2.1", "US5"))))  # 1 ha garden
    compute_departement(dep)
    garden = ArtifStat.objects.get(vintage=v, code_cs="CS2.2.1", code_us="US5")
    assert (garden.artif, garden.area) == (True, 10_000.0)


# --- flows -------------------------------------------------------------------------------------


def test_flows_split_artificialisation_and_desartificialisation():
    dep, m1 = build(around(GRASS, ((100, 100, 200, 200), BUILT), ((600, 600, 700, 700), GRASS)))
    _, m2 = build(
        around(GRASS, ((100, 100, 200, 200), GRASS), ((600, 600, 700, 700), BUILT)), rank="M2"
    )
    compute_difference(dep)
    compute_departement(dep)
    flows = {f.kind: (f.cs_avant, f.cs_apres, f.area) for f in ArtifFlow.objects.all()}
    assert flows == {
        "artif": ("CS2.2.1", "CS1.1.1.1", 10_000.0),
        "desartif": ("CS1.1.1.1", "CS2.2.1", 10_000.0),
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_no_transaction_open_both_vintages_are_computed_at_once_on_two_connections():
    """Outside a transaction (an import's task, the command), M1 and M2 are computed at the
    same time, each on a connection of its own; the figures are those of one after the
    other. M1: a built hectare and a 1,600 m² garden in the town (filled); M2: the hectare
    is fields again, another is built."""
    town = around(BUILT, ((400, 400, 440, 440), GRASS), ((100, 100, 200, 200), BUILT))
    dep, m1 = build(town)
    _, m2 = build(
        around(BUILT, ((400, 400, 440, 440), GRASS), ((100, 100, 200, 200), GRASS)), rank="M2"
    )
    compute_difference(dep)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        mine = cur.fetchone()[0]
    result = compute_departement(dep)
    at_once = _snapshot(dep)
    assert result["together"] is True
    assert len({mine, result["M1"]["backend"], result["M2"]["backend"]}) == 3
    assert artif_by_commune(m1) == {"98001": (1_000_000.0, 1_000_000.0)}
    assert artif_by_commune(m2) == {"98001": (990_000.0, 1_000_000.0)}
    assert {(f.kind, f.area) for f in ArtifFlow.objects.filter(departement=dep)} == {
        ("desartif", 10_000.0)
    }
    with transaction.atomic():
        result = compute_departement(dep)
    assert result["together"] is False
    assert result["M1"]["backend"] == result["M2"]["backend"] == mine
    assert _snapshot(dep) == at_once


def test_the_figures_give_each_flow_and_the_net_as_written(client):
    """M1: one built hectare in fields. M2: it is fields again, and 3 ha elsewhere are
    built: +3 ha artificialisation, 1 ha désartificialisation, net +2 ha."""
    dep, _m1 = build(around(GRASS, ((100, 100, 200, 200), BUILT)))
    build(around(GRASS, ((100, 100, 200, 200), GRASS), ((500, 500, 800, 600), BUILT)), rank="M2")
    compute_difference(dep)
    compute_departement(dep)
    client.force_login(get_user_model().objects.create_superuser("boss"))
    data = client.get("/api/artificialisation/departement/98/").json()
    assert {k: round(v, 6) for k, v in data["flows"].items() if k.endswith("_ha")} == {
        "artificialisation_ha": 3.0,
        "desartificialisation_ha": 1.0,
        "net_ha": 2.0,
    }
    assert (data["vintages"]["M1"]["artif_ha"], data["vintages"]["M2"]["artif_ha"]) == (1.0, 3.0)


def test_a_building_left_alone_when_its_town_goes_is_not_desartificialised():
    """M1: a 300 m² building on the edge of 4 ha of paving; M2: the paving is fields again,
    the building still stands, alone: 4 ha désartificialisation, not 4.03."""
    paved = ("CS1.1.1.2", "US5")
    town, building = ((300, 300, 500, 500), paved), ((500, 400, 520, 415), BUILT)
    dep, m1 = build(around(GRASS, town, building))
    _, m2 = build(around(GRASS, ((300, 300, 500, 500), GRASS), building), rank="M2")
    compute_difference(dep)
    compute_departement(dep)
    assert (artif_by_commune(m1)["98001"][0], artif_by_commune(m2)["98001"][0]) == (
        40_300.0,
        300.0,
    )
    flows = {
        kind: round(area, 3)
        for kind, area in ArtifFlow.objects.values_list("kind").annotate(a=Sum("area"))
    }
    assert flows == {"desartif": 40_000.0}


def test_threshold_flips_make_flows_without_code_changes():
    # M1: a 1,600 m² garden in a town (filled). M2: the town around it became fields; the
    # garden is the same polygon with the same codes but is no longer enclosed.
    dep, m1 = build(around(BUILT, ((400, 400, 440, 440), GRASS)))
    _, m2 = build(around(GRASS, ((400, 400, 440, 440), GRASS)), rank="M2")
    compute_difference(dep)
    compute_departement(dep)
    desartif = ArtifFlow.objects.filter(kind="desartif").aggregate(a=Sum("area"))["a"]
    assert desartif == pytest.approx(1_000_000.0)  # the town, and the garden with it
    assert artif_by_commune(m1)["98001"][0] - desartif == artif_by_commune(m2)["98001"][0]


def _identity_gaps(dep, m1, m2):
    a1, a2 = artif_by_commune(m1), artif_by_commune(m2)
    flows = {}
    for f in ArtifFlow.objects.filter(departement=dep).values("commune__code", "kind", "area"):
        sign = 1 if f["kind"] == "artif" else -1
        flows[f["commune__code"]] = flows.get(f["commune__code"], 0.0) + sign * f["area"]
    return {c: a2[c][0] - a1[c][0] - flows.get(c, 0.0) for c in a1}


def test_flow_identity_holds_in_every_commune_of_the_generated_departement(generated):
    dep, m1, m2 = generated
    gaps = _identity_gaps(dep, m1, m2)
    assert len(gaps) == Commune.objects.filter(departement=dep).count() >= 2
    assert ArtifFlow.objects.filter(departement=dep, kind="artif").exists()
    # Up to the difference product's discarded slivers (< 1 m² each).
    assert all(abs(gap) < 5.0 for gap in gaps.values()), gaps
    total = sum(ArtifStat.objects.filter(vintage=m1).values_list("area", flat=True))
    assert total == pytest.approx(m1.polygons.aggregate(a=Sum("area"))["a"], rel=1e-6)


def _snapshot(dep):
    return (
        sorted((f.vintage_id, f.polygon_id, f.step, f.artif) for f in ThresholdFlip.objects.all()),
        sorted(
            (s.vintage_id, s.commune_id, s.code_cs, s.code_us, s.artif, round(s.area, 2))
            for s in ArtifStat.objects.all()
        ),
        sorted(
            (f.commune_id, f.kind, f.cs_avant, f.us_avant, f.cs_apres, f.us_apres, round(f.area, 2))
            for f in ArtifFlow.objects.filter(departement=dep)
        ),
    )


def test_incremental_update_after_corrections_equals_a_full_recomputation(generated):
    dep, m1, m2 = generated
    # A flipped polygon, a big artificialised one, and a natural one: each changes codes.
    flipped = ThresholdFlip.objects.filter(vintage=m2).first().polygon_id
    big = m2.polygons.filter(code_cs="CS1.1.1.2").order_by("-area").first().pk
    natural = m2.polygons.filter(code_cs="CS2.2.1").order_by("area").first().pk
    changes = {flipped: BUILT, big: GRASS, natural: BUILT}
    for pk, (cs, us) in changes.items():
        LandCoverPolygon.objects.filter(pk=pk).update(code_cs=cs, code_us=us)
    ids = list(changes)
    compute_difference(dep, ids)
    result = update_after_correction(dep, ids)
    assert 0 < len(result["communes"]) < Commune.objects.filter(departement=dep).count() + 1
    incremental = _snapshot(dep)
    compute_difference(dep)
    compute_departement(dep)
    assert incremental == _snapshot(dep)
    assert all(abs(g) < 5.0 for g in _identity_gaps(dep, m1, m2).values())


def test_a_corrections_communes_are_found_from_its_polygons_whatever_the_statistics(
    generated,
):
    """The communes a correction changes are found from the changed polygons, read once by
    their ids: with the communes' statistics not yet gathered (just loaded: a few rows
    expected, 928 there on dép 96), the planner searched the polygons' spatial index once
    per commune — 2 s of every correction there."""
    import json

    dep, _m1, m2 = generated
    for k in range(300):  # communes loaded since the last ANALYZE
        x, y = 1_000_000 + (k % 20) * 100, 6_000_000 + (k // 20) * 100
        Commune.objects.create(
            code=f"99{500 + k}",
            name=f"Ajoutée {k}",
            departement=dep,
            geom=MultiPolygon(GEOSGeometry(shapely.box(x, y, x + 50, y + 50).wkt, srid=2154)),
        )
    natural = m2.polygons.filter(code_cs="CS2.2.1").order_by("area").first().pk
    LandCoverPolygon.objects.filter(pk=natural).update(code_cs=BUILT[0], code_us=BUILT[1])
    plans = []

    def explain(execute, sql, params, many, context):
        if "SELECT DISTINCT c.id" in sql:
            with context["connection"].connection.cursor() as raw:
                raw.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                plans.append(raw.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        update_after_correction(dep, [natural])
    assert plans

    def scans(node):
        if "landcover_landcoverpolygon" in node.get("Relation Name", ""):
            yield node["Actual Loops"]
        for child in node.get("Plans", []):
            yield from scans(child)

    for plan in plans:
        plan = plan if isinstance(plan, list) else json.loads(plan)
        assert list(scans(plan[0]["Plan"])) == [1], plan


def _tables_named(suffix):
    with connection.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relname LIKE %s", [f"%\\_{suffix}"])
        return sorted(r[0] for r in cur.fetchall())


def test_the_full_recomputation_works_in_tables_parallel_workers_can_read_and_leaves_none(
    generated,
):
    """A temporary table is readable by its own backend only, so a statement reading one
    never runs in parallel: the difference and the indicators keep their work in unlogged
    tables named after the backend, which PostgreSQL may scan with its parallel workers, and
    drop them when done."""
    dep, m1, m2 = generated
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    with connection.execute_wrapper(record):
        compute_difference(dep)
        compute_departement(dep)
    made = sorted(
        {s.split()[3] for s in statements if s.lstrip().startswith("CREATE UNLOGGED TABLE")}
    )
    assert made == [
        f"{name}_{pid}"
        for name in (
            "a_box", "a_drop", "a_fill", "a_flow", "a_pc", "a_s1", "a_s1_nb", "a_s2",
            "a_s2_nb", "diff_loose", "diff_parts", "diff_pieces", "diff_trim", "diff_twins",
        )
    ]  # fmt: skip
    assert not [s for s in statements if "TEMP TABLE" in s.upper()]
    assert _tables_named(pid) == []
    # Such a table, read with parallelism made cheap, is read by parallel workers.
    with connection.cursor() as cur:
        cur.execute(f"CREATE UNLOGGED TABLE probe_{pid} AS SELECT generate_series(1, 50000) AS n")
        cur.execute("SET LOCAL parallel_setup_cost = 0")
        cur.execute("SET LOCAL parallel_tuple_cost = 0")
        cur.execute("SET LOCAL min_parallel_table_scan_size = 0")
        cur.execute(f"EXPLAIN SELECT count(*) FROM probe_{pid}")
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute(f"DROP TABLE probe_{pid}")
    assert "Gather" in plan and "Parallel Seq Scan" in plan


def test_a_failed_recomputation_leaves_no_work_table_and_the_old_figures(generated):
    dep, m1, m2 = generated
    before = _snapshot(dep)
    pieces = sorted(ChangePiece.objects.filter(departement=dep).values_list("id", flat=True))
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]

    def fail_on_insert(execute, sql, params, many, context):
        if sql.lstrip().startswith("INSERT INTO artif_artifstat"):
            raise RuntimeError("the server went away")
        return execute(sql, params, many, context)

    with pytest.raises(RuntimeError), connection.execute_wrapper(fail_on_insert):
        compute_departement(dep)
    assert _tables_named(pid) == []
    assert _snapshot(dep) == before
    assert (
        sorted(ChangePiece.objects.filter(departement=dep).values_list("id", flat=True)) == pieces
    )


def test_import_command_computes_the_indicators_once_communes_are_loaded(small_departement):
    out, _ = small_departement
    call_command("load_territories", str(out / "territoires.gpkg"))
    call_command(
        "import_ocsge",
        str(out / "ocsge_M1.gpkg"),
        departement="99",
        rank="M1",
        stdout=io.StringIO(),
    )
    assert ArtifStat.objects.filter(vintage__rank="M1").exists()
    assert not ArtifFlow.objects.exists()


def test_compute_indicators_command_explains_what_is_missing():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="inconnu"):
        call_command("compute_indicators", departement="42")
    Departement.objects.create(code="42", name="Loire")
    with pytest.raises(CommandError, match="aucun millésime"):
        call_command("compute_indicators", departement="42")


# --- impact of a signalement -------------------------------------------------------------------


def test_impact_is_the_change_accepting_would_make_and_leaves_nothing_behind():
    dep, v = build(around(GRASS, ((100, 100, 200, 200), GRASS), ((400, 400, 440, 440), GRASS)))
    compute_departement(dep)
    before = _snapshot(dep)
    field = v.polygons.get(ocsge_id="M1-1")
    impact = correction_impact(field, *BUILT)
    assert impact["delta_m2"] == pytest.approx(10_000.0)
    assert impact["communes"][0]["code"] == "98001"
    assert format_delta(impact["delta_m2"]) in (
        "+1,00 ha artificialisés",
        "+1.00 ha artificialisés",
    )
    # A 1,600 m² car park in fields would be dropped by the threshold rule: no effect; a
    # building there counts whole (built surfaces qualify from 50 m²).
    small = v.polygons.get(ocsge_id="M1-2")
    assert correction_impact(small, "CS1.1.1.2", "US4.1.4")["delta_m2"] == pytest.approx(0.0)
    assert correction_impact(small, *BUILT)["delta_m2"] == pytest.approx(1_600.0)
    # A drawn part only: the part inside the shape.
    part = GEOSGeometry(box(100, 100, 150, 200).wkt, srid=2154)
    assert correction_impact(field, *BUILT, part)["delta_m2"] == pytest.approx(5_000.0)
    assert _snapshot(dep) == before
    assert v.polygons.count() == 3


# --- API, page, CSV ---------------------------------------------------------------------------


@pytest.fixture
def readers(generated):
    dep = generated[0]
    other = Departement.objects.create(code="97", name="Ailleurs")
    User = get_user_model()
    people = {"anonymous": None}
    for name, kind, territory in [
        ("reviewer", "ddt", dep),
        ("stranger", "ddt", other),
    ]:
        org = Organisation.objects.create(name=f"Org {name}", kind=kind)
        org.departements.add(territory)
        people[name] = User.objects.create_user(name)
        Membership.objects.create(user=people[name], organisation=org, role=Role.REVIEWER)
    return people


URLS = [
    "/api/artificialisation/{level}/{code}/",
    "/api/artificialisation/{level}/{code}/communes/",
    "/territoires/{level}/{code}/",
    "/territoires/{level}/{code}/artificialisation.csv",
    "/territoires/{level}/{code}/rapport.pdf",
]


# who -> status of the API and of the pages (the anonymous are sent to the login page)
FIGURES_TABLE = {"anonymous": (404, 302), "stranger": (404, 404), "reviewer": (200, 200)}


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("who", list(FIGURES_TABLE))
def test_figures_are_scoped_to_the_readers_territory(client, readers, url, who):
    if readers[who]:
        client.force_login(readers[who])
    api, page = FIGURES_TABLE[who]
    expected = api if url.startswith("/api/") else page
    assert client.get(url.format(level="departement", code="99")).status_code == expected


def test_published_figures_are_open_to_everyone(client, readers, generated):
    Vintage.objects.filter(departement=generated[0]).update(state=Vintage.State.PUBLISHED)
    assert client.get("/api/artificialisation/departement/99/").status_code == 200


@pytest.mark.parametrize("level", ["commune", "epci", "departement", "region"])
def test_every_level_sums_its_communes(client, readers, generated, level):
    dep, m1, m2 = generated
    commune = Commune.objects.filter(departement=dep).order_by("code").first()
    code = {
        "commune": commune.code,
        "epci": commune.siren_epci,
        "departement": "99",
        "region": dep.region.code if dep.region else "99",
    }[level]
    client.force_login(readers["reviewer"])
    data = client.get(f"/api/artificialisation/{level}/{code}/").json()
    communes = Commune.objects.filter(
        **{
            "commune": {"code": code},
            "epci": {"siren_epci": code},
            "departement": {"departement": dep},
            "region": {"departement": dep},
        }[level]
    )
    expected = ArtifStat.objects.filter(vintage=m2, commune__in=communes, artif=True).aggregate(
        a=Sum("area")
    )["a"]
    assert data["vintages"]["M2"]["artif_ha"] == pytest.approx(expected / 10_000)
    flows = data["flows"]
    assert flows["net_ha"] == pytest.approx(
        flows["artificialisation_ha"] - flows["desartificialisation_ha"]
    )


def test_unknown_territory_or_level_is_404(client, readers):
    client.force_login(readers["reviewer"])
    assert client.get("/api/artificialisation/canton/99/").status_code == 404
    assert client.get("/api/artificialisation/commune/00000/").status_code == 404


def test_csv_has_one_row_per_commune_with_shares(client, readers, generated):
    client.force_login(readers["reviewer"])
    response = client.get("/territoires/departement/99/artificialisation.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == Commune.objects.filter(departement=generated[0]).count()
    for row in rows:
        share = float(row["part_artif_m2_pct"])
        assert share == pytest.approx(
            100 * float(row["artif_m2_ha"]) / float(row["surface_ha"]), abs=0.01
        )


def test_choropleth_geojson_carries_each_communes_figures(client, readers, generated):
    client.force_login(readers["reviewer"])
    data = client.get("/api/artificialisation/departement/99/communes/").json()
    assert data["type"] == "FeatureCollection"
    props = data["features"][0]["properties"]
    assert {"code", "name", "M1_share", "M2_share", "net_ha"} <= set(props)
    assert data["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_territory_page_shows_figures_chart_and_map(client, readers):
    client.force_login(readers["reviewer"])
    html = client.get("/territoires/departement/99/").content.decode()
    for marker in (
        'id="figures"',
        'id="chart"',
        'id="by-cs"',
        'id="territory-map"',
        'id="communes"',
        "artificialisation.csv",
    ):
        assert marker in html


def test_territory_page_queries_do_not_grow_with_communes(client, readers, generated):
    from django.test.utils import CaptureQueriesContext

    client.force_login(readers["reviewer"])
    with CaptureQueriesContext(connection) as ctx:
        client.get("/territoires/departement/99/")
    first = len(ctx)
    dep = generated[0]
    for k in range(5):
        Commune.objects.create(
            code=f"99{900 + k}",
            name=f"Nouvelle {k}",
            departement=dep,
            geom=MultiPolygon(GEOSGeometry(box(5000 + k * 10, 0, 5005 + k * 10, 5).wkt, srid=2154)),
        )
    with CaptureQueriesContext(connection) as ctx:
        client.get("/territoires/departement/99/")
    assert len(ctx) == first


@pytest.mark.parametrize(
    "level, code, lines",
    [
        ("commune", "98001", ["Étréchy-sur-Carré (commune 98001)"]),
        ("departement", "98", ["Carré (département 98)", "Étréchy-sur-Carré 98001 0,00 6,25 1,00"]),
    ],
)
def test_the_territory_report_is_a_pdf_with_the_figures_of_the_page(
    client, world, level, code, lines
):
    """The PDF made on the server: M1 none artificialised, M2 the built square (1 ha of
    16 ha, 6,25 %), a net flow of 1 ha; a département's has its communes."""
    from pypdf import PdfReader

    from apps.artif.compute import compute_departement
    from apps.landcover.difference import compute_difference
    from apps.territories.models import Departement

    from .helpers import login

    dep = Departement.objects.get(code="98")
    compute_difference(dep)
    compute_departement(dep)
    login(client, world, "operator2")
    response = client.get(f"/territoires/{level}/{code}/rapport.pdf")
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="artificialisation_{level}_{code}.pdf"' in response["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    # Words in reading order (a table's cells come one per line).
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "M2 2024 1,00 16,00 6,25" in text
    assert "1,00 0,00 1,00" in text  # artificialisation, désartificialisation, net
    for line in lines:
        assert line in text
    assert "Licence Ouverte" in text


def test_an_epci_report_names_the_epci_and_each_of_its_communes(client, readers, generated):
    from pypdf import PdfReader

    from apps.territories.models import Epci

    dep = generated[0]
    epci = Epci.objects.filter(communes__departement=dep).distinct().order_by("siren").first()
    client.force_login(readers["reviewer"])
    response = client.get(f"/territoires/epci/{epci.siren}/rapport.pdf")
    text = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages).split()
    )
    assert f"{epci.name} (EPCI {epci.siren})" in text
    for name, code in epci.communes.values_list("name", "code"):
        assert f"{' '.join(name.split())} {code}" in text
