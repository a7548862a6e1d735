"""Corrections have one owner (`apps.landcover.corrections`): the estimate shown before
filing is what accepting does, and restoring the original undoes every correction exactly.

A property test on the generated département: seeded random filings (whole polygons and
drawn shapes, codes that artificialise, de-artificialise or change nothing), each estimated,
then accepted through the operator's real path."""

import random

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Polygon
from django.db.models import Sum

from apps.artif.compute import compute_vintage
from apps.artif.impact import correction_impact
from apps.artif.models import ArtifStat
from apps.landcover import corrections
from apps.landcover.models import LandCoverPolygon, Vintage
from apps.signalements import decisions, errors, filing
from apps.territories.models import Membership, Organisation, Role

pytestmark = pytest.mark.django_db

# (CS, US) proposals: built (artificialised), grass and forest (natural), water.
PROPOSALS = [
    ("CS1.1.1.1", "US5"),
    ("CS1.1.1.2", "US4.1.1"),
    ("CS2.2.1", "US1.1"),
    ("CS2.1.1.1", "US1.2"),
    ("CS1.2.2", "US1.4"),
]


def _artif_total(vintage) -> float:
    return (
        ArtifStat.objects.filter(vintage=vintage, artif=True).aggregate(a=Sum("area"))["a"] or 0.0
    )


def _polygons(vintage) -> dict:
    return {
        p.pk: (p.code_cs, p.code_us, p.geom.normalize(clone=True).wkb.hex())
        for p in LandCoverPolygon.objects.filter(vintage=vintage)
    }


def _stats(vintage) -> list:
    return sorted(
        (s.commune_id, s.code_cs, s.code_us, s.artif, round(s.area, 3))
        for s in ArtifStat.objects.filter(vintage=vintage)
    )


@pytest.fixture
def crew(generated):
    dep, m1, m2 = generated
    Vintage.objects.filter(pk=m2.pk).update(feedback_open=True)
    User = get_user_model()
    agence = Organisation.objects.create(name="Agence 99", kind="agence_urbanisme")
    agence.departements.add(dep)
    ign = Organisation.objects.create(name="IGN 99", kind="ign")
    ign.departements.add(dep)
    contributor = User.objects.create_user("c99", password="x")
    operator = User.objects.create_user("o99", password="x")
    Membership.objects.create(user=contributor, organisation=agence, role=Role.CONTRIBUTOR)
    Membership.objects.create(user=operator, organisation=ign, role=Role.OPERATOR)
    return dep, Vintage.objects.get(pk=m2.pk), contributor, operator


def test_estimates_equal_what_accepting_does_and_restoring_undoes_it_all(
    crew, django_capture_on_commit_callbacks
):
    dep, m2, contributor, operator = crew
    original_polygons, original_stats = _polygons(m2), _stats(m2)
    rng = random.Random(17)
    candidates = list(
        LandCoverPolygon.objects.filter(vintage=m2, area__gt=600).values_list("pk", flat=True)
    )
    accepted = estimated_nonzero = 0
    for _ in range(12):
        polygon = LandCoverPolygon.objects.get(pk=rng.choice(candidates))
        cs, us = rng.choice([p for p in PROPOSALS if p != (polygon.code_cs, polygon.code_us)])
        shape = None
        if rng.random() < 0.5:  # a drawn part: a box around a point of the polygon
            x, y = polygon.geom.point_on_surface.coords
            half = rng.uniform(8, 40)
            shape = Polygon.from_bbox((x - half, y - half, x + half, y + half))
            shape.srid = 2154
        try:
            signalement = filing.file_signalement(
                contributor,
                filing.Filing(
                    vintage_id=m2.pk,
                    polygon_id=None if shape else polygon.pk,
                    geom=shape.ewkt if shape else None,
                    code_cs_proposed=cs,
                    code_us_proposed=us,
                ),
            )
        except errors.Refused:
            continue  # outside the rules (minimum unit is only a hint): skip
        target = LandCoverPolygon.objects.get(pk=signalement.polygon_id)
        impact = correction_impact(target, cs, us, signalement.geom)
        before = _artif_total(m2)
        with django_capture_on_commit_callbacks(execute=True):
            decisions.apply_action(operator, signalement.pk, "accept")
        change = _artif_total(m2) - before
        assert impact is not None
        assert change == pytest.approx(impact["delta_m2"], abs=0.01), (cs, us, shape)
        accepted += 1
        estimated_nonzero += abs(impact["delta_m2"]) > 1
    assert accepted >= 8 and estimated_nonzero >= 2, (accepted, estimated_nonzero)
    assert _polygons(m2) != original_polygons

    corrected = corrections.corrected_polygons(m2)
    assert len(corrected) >= accepted
    corrections.restore_original(corrected)
    compute_vintage(m2)
    assert _polygons(m2) == original_polygons
    assert _stats(m2) == original_stats


def test_an_estimate_of_a_correction_accepting_would_refuse_is_none(crew):
    """A shape that no longer meets the polygon: accepting refuses it as a conflict, and
    there is no estimate (before, the estimate said « no effect »)."""
    dep, m2, *_ = crew
    polygon = LandCoverPolygon.objects.filter(vintage=m2, area__gt=1000).first()
    xmin, ymin, _, _ = polygon.geom.extent
    beside = Polygon.from_bbox((xmin - 30, ymin - 30, xmin - 10, ymin - 10))
    beside.srid = 2154
    assert correction_impact(polygon, "CS1.1.1.1", "US5", beside) is None
    with pytest.raises(corrections.CorrectionConflict):
        corrections.apply(polygon, "CS1.1.1.1", "US5", beside)


# --- cutting a drawn shape out of a polygon, ring by ring ---------------------------------

WITH_HOLES = (
    "POLYGON((0 0,100 0,100 100,0 100,0 0),(10 10,20 10,20 20,10 20,10 10),"
    "(70 70,80 70,80 80,70 80,70 70),(10 70,20 70,20 80,10 80,10 70))"
)


@pytest.mark.parametrize(
    "shape, parts",
    [
        # A strip across the whole shell: two pieces, each keeping the holes it holds.
        ("POLYGON((40 -10,60 -10,60 110,40 110,40 -10))", [(3800, 2), (3900, 1)]),
        # Over part of a hole: one piece, the hole and the shape one hole of 300 m².
        ("POLYGON((15 15,30 15,30 30,15 30,15 15))", [(9500, 3)]),
        # Away from every hole: a new hole, the three others kept.
        ("POLYGON((40 40,50 40,50 50,40 50,40 40))", [(9600, 4)]),
    ],
)
def test_cutting_a_shape_out_keeps_the_holes_it_does_not_meet(shape, parts, monkeypatch):
    import shapely

    def no_fallback(*args):
        raise AssertionError("the ring-by-ring cut fell back to the whole overlay")

    monkeypatch.setattr(corrections, "whole_difference", no_fallback)
    polygon, drawn = shapely.from_wkt(WITH_HOLES), shapely.from_wkt(shape)
    inside = shapely.intersection(polygon, drawn)
    outside = corrections.cut_out(polygon, drawn, inside.area)
    found = sorted((round(p.area), len(p.interiors)) for p in shapely.get_parts(outside))
    assert found == sorted(parts)
    assert outside.is_valid


def test_a_split_keeps_the_web_mercator_copy_and_the_area_in_step_with_the_outline(world):
    """The split's outside part comes with its Web Mercator copy computed by the fast
    projection (not by the table's trigger): it must match PROJ's within a centimetre, and
    the stored area the outline's."""
    from django.db import connection

    from .conftest import X0, Y0

    polygon = LandCoverPolygon.objects.filter(vintage=world["m2"], code_cs="CS2.2.1").first()
    x, y = polygon.geom.point_on_surface.coords
    shape = Polygon.from_bbox((x - 10, y - 10, x + 10, y + 10))
    shape.srid = 2154
    written = corrections.apply(polygon, "CS2.1.1.1", "US1.2", shape)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, ST_HausdorffDistance(geom_3857, ST_Transform(geom, 3857)), "
            "abs(area - ST_Area(geom)) FROM landcover_landcoverpolygon WHERE id = ANY(%s)",
            [written],
        )
        rows = cur.fetchall()
    assert len(rows) == 2
    assert all(distance < 0.01 and gap < 1e-6 for _, distance, gap in rows)
    assert X0 < x < X0 + 400 and Y0 < y < Y0 + 400


def test_a_polygon_split_twice_without_a_tag_gives_each_piece_its_own_id(world):
    from .helpers import grass_polygon

    polygon = grass_polygon(world)  # square (1, 1): x 100–200, y 100–200 from the corner
    x0, y0 = polygon.geom.extent[:2]
    pieces = []
    for dx in (0, 50):
        shape = Polygon.from_bbox((x0 + dx, y0, x0 + dx + 50, y0 + 40))
        shape.srid = 2154
        polygon.refresh_from_db()
        pieces.append(corrections.apply(polygon, "CS2.1.1.1", "US1.2", shape)[-1])
    ids = list(LandCoverPolygon.objects.filter(pk__in=pieces).values_list("ocsge_id", flat=True))
    base = polygon.ocsge_id[:20]
    assert sorted(ids) == [f"{base}-C2", f"{base}-C3"]
