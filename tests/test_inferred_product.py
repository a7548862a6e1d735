"""A vintage the model produced is a complete product: its built-up zones (ZONE_CONSTRUITE)
drawn from its buildings, stored and exported, and no polygon under its minimum mapping unit
against them."""

import json
import zipfile

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from django.db import connection

from apps.inference import orchestration
from apps.inference.models import InferenceRun
from apps.landcover.gpkg import export_ocsge
from apps.landcover.models import LandCoverPolygon, ZoneConstruite
from ocsge import builtup
from ocsge.vectorize import absorb_small

from .helpers import inference_run

CULTURE, LAWN, FOREST, BUILDING = 14, 13, 10, 1  # model classes (classes_ia.csv)


# --- the zones' definition -----------------------------------------------------------------


def test_buildings_closer_than_50_m_share_one_zone_and_farther_ones_do_not():
    a = shapely.box(0, 0, 20, 20)
    near, far = shapely.box(60, 0, 80, 20), shapely.box(75, 0, 95, 20)  # 40 m, 55 m apart
    assert len(builtup.zones([a, near])) == 1
    assert len(builtup.zones([a, far])) == 2
    assert len(builtup.zones([])) == 0


def test_an_isolated_building_keeps_a_5_m_margin():
    house = shapely.box(0, 0, 20, 20)
    (zone,) = builtup.zones([house])
    assert zone.bounds == pytest.approx((-5, -5, 25, 25))
    assert zone.contains(house.buffer(2.5))  # corners cut (octagonal arcs)
    assert zone.within(house.buffer(5.01, join_style="mitre"))


def test_the_raster_zone_is_the_vector_zone_on_pixel_centres():
    """Two houses 40 m apart on 2 m pixels: the pixels between them are in the zone, a pixel
    20 m beyond the outer wall is not."""
    is_building = np.zeros((60, 100), dtype=bool)
    is_building[20:30, 20:30] = True  # 20 m squares, 40 m apart
    is_building[20:30, 50:60] = True
    mask = builtup.zone_mask(is_building, 2.0)
    assert mask[25, 40]  # between them
    assert mask[25, 62]  # 4 m past the east wall
    assert not mask[25, 70]  # 20 m past it
    assert not mask[5, 40]  # 30 m north of the gap


# --- the last word on the minimum mapping units -----------------------------------------------


def test_a_polygon_under_its_unit_joins_the_neighbour_with_the_longest_border():
    a = shapely.box(0, 0, 100, 60)  # 6,000 m², culture
    b = shapely.box(100, 0, 110, 50)  # 500 m² of lawn: 50 m of border with a, 60 m with c
    c = shapely.union(shapely.box(110, 0, 200, 60), shapely.box(100, 50, 110, 60))
    geoms = np.array([a, b, c], dtype=object)
    values = np.array([CULTURE, LAWN, FOREST])
    out, out_values, group = absorb_small(
        geoms, values, lambda members: 2_500.0 if values[members[0]] != CULTURE else 0.0
    )
    assert list(out_values) == [CULTURE, FOREST]
    assert [round(g.area) for g in out] == [6_000, 6_000]
    assert list(group) == [0, 1, 1]
    assert out[1].geom_type == "Polygon" and out[1].is_valid


def test_a_polygon_without_neighbour_is_left_alone():
    lone = shapely.box(0, 0, 10, 10)
    out, _, group = absorb_small(np.array([lone], dtype=object), np.array([LAWN]), lambda m: 500)
    assert [g.area for g in out] == [100.0] and list(group) == [0]


# --- an inference run -------------------------------------------------------------------------


@pytest.fixture
def designed_classes(imagery, monkeypatch):
    """The model replaced by a designed class raster of the photos' size (10 m pixels):
    culture everywhere; a hamlet of four 20 m houses 30 m apart around a 30 m lawn; a 30 m
    lawn far from any house; a 60 m wood far from any house."""
    with rasterio.open(imagery["rgb"]) as ds:
        shape, transform = (ds.height, ds.width), ds.transform
    classes = np.full(shape, CULTURE, dtype=np.uint8)
    for r, c in [(100, 100), (100, 105), (105, 100), (105, 105)]:
        classes[r : r + 2, c : c + 2] = BUILDING
    classes[102:105, 102:105] = LAWN  # between the houses
    classes[300:303, 300:303] = LAWN  # alone in the fields
    classes[300:306, 60:66] = FOREST

    def classify(block):
        rows = slice(block.row_off, block.row_off + block.height)
        cols = slice(block.col_off, block.col_off + block.width)
        return (
            classes[rows, cols],
            np.full((block.height, block.width), 80, dtype=np.uint8),
            transform * Affine.translation(block.col_off, block.row_off),
        )

    monkeypatch.setattr(orchestration, "classify_block", classify)
    return transform


def _box(transform, row, col, size):
    x0, y0 = transform * (col, row)
    x1, y1 = transform * (col + size, row + size)
    return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


@pytest.mark.django_db
def test_an_inferred_vintage_has_its_built_up_zones_and_no_polygon_under_its_unit(
    imagery, checkpoint, designed_classes, django_capture_on_commit_callbacks, tmp_path
):
    t = designed_classes
    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    run.refresh_from_db()
    assert run.state == InferenceRun.State.DONE, run.message
    vintage = run.vintage
    zones = list(ZoneConstruite.objects.filter(vintage=vintage))
    assert len(zones) == 1
    zone = shapely.from_wkb(bytes(zones[0].geom.wkb))
    hamlet = _box(t, 100, 100, 7)  # the four houses' extent, 70 m
    assert zone.contains(hamlet)  # the 30 m gaps between the houses filled
    assert zone.within(hamlet.buffer(5.1, join_style="mitre"))
    assert zones[0].millesime == 2024 and zones[0].ocsge_id.startswith(f"ZC-IA-{run.pk}-")

    polygons = LandCoverPolygon.objects.filter(vintage=vintage)
    by_class = {}
    for p in polygons:
        by_class.setdefault(p.model_class, []).append(shapely.from_wkb(bytes(p.geom.wkb)))
    # The lawn among the houses is kept (900 m² ≥ 500 m² in a zone), the one in the fields is
    # not (900 m² < 2,500 m²), the wood is (3,600 m²); the four houses stay (400 m² each).
    assert [round(g.area) for g in by_class[LAWN]] == [900]
    assert shapely.symmetric_difference(by_class[LAWN][0], _box(t, 102, 102, 3)).area < 1e-6
    assert [round(g.area) for g in by_class[FOREST]] == [3_600]
    assert sorted(round(g.area) for g in by_class[BUILDING]) == [400, 400, 400, 400]

    # No polygon under its unit, judged as the platform judges a proposal.
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FROM landcover_landcoverpolygon p
            WHERE p.vintage_id = %s AND ST_Area(p.geom) < CASE
                WHEN p.code_cs = 'CS1.1.1.1' THEN 200
                WHEN EXISTS (SELECT 1 FROM landcover_zoneconstruite z
                             WHERE z.vintage_id = p.vintage_id
                               AND ST_Intersects(z.geom, p.geom)) THEN 500
                ELSE 2500 END
            """,
            [vintage.pk],
        )
        assert cur.fetchone()[0] == 0

    # Exported in the official layout with both layers.
    out = tmp_path / "ia.gpkg"
    export_ocsge(vintage.departement.code, vintage.rank, out)
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"OCCUPATION_SOL", "ZONE_CONSTRUITE"}
    assert pyogrio.read_info(out, layer="ZONE_CONSTRUITE")["features"] == 1


@pytest.mark.django_db
def test_a_run_of_the_untrained_model_leaves_no_polygon_under_its_unit(
    imagery, checkpoint, django_capture_on_commit_callbacks
):
    """The untrained model's speckled classes, joined across seams: every polygon at or over
    its unit against the zones stored."""
    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    run.refresh_from_db()
    assert run.state == InferenceRun.State.DONE, run.message
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE ST_Area(p.geom) < CASE
                WHEN p.code_cs = 'CS1.1.1.1' THEN 200
                WHEN EXISTS (SELECT 1 FROM landcover_zoneconstruite z
                             WHERE z.vintage_id = p.vintage_id
                               AND ST_Intersects(z.geom, p.geom)) THEN 500
                ELSE 2500 END)
            FROM landcover_landcoverpolygon p WHERE p.vintage_id = %s
            """,
            [run.vintage_id],
        )
        total, under = cur.fetchone()
    assert total > 0 and under == 0


# --- open training data from the corrections ----------------------------------------------------


@pytest.mark.django_db
def test_the_corrected_vintage_becomes_a_training_set_in_flair_layout(
    imagery, checkpoint, designed_classes, django_capture_on_commit_callbacks, tmp_path
):
    """Patches of 128 px (10 m pixels): the wood (patch row 2, col 0) corrected by an accepted
    signalement to conifers, the lawn among the houses (patch 0, 0) by an operator to
    sealed ground; every other label is the model's."""
    from apps.inference.training import build_training_set, photos_of, zip_training_set
    from apps.landcover import corrections
    from apps.landcover.models import PolygonRevision

    t = designed_classes
    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    vintage = InferenceRun.objects.get(pk=run.pk).vintage
    wood = LandCoverPolygon.objects.get(vintage=vintage, model_class=FOREST)
    lawn = LandCoverPolygon.objects.get(vintage=vintage, model_class=LAWN)
    corrections.apply(
        wood, "CS2.1.1.2", "US1.2", cause=PolygonRevision.Cause.SIGNALEMENT, origin="s 1"
    )
    corrections.apply(lawn, "CS1.1.1.2", "US5", cause=PolygonRevision.Cause.CORRECTION)

    photos = photos_of(vintage)
    assert photos is not None and photos.rgb == imagery["rgb"]
    with rasterio.open(imagery["rgb"]) as ds:
        across, down = ds.width // 128, ds.height // 128
    out = tmp_path / "flair"
    summary = build_training_set(vintage, photos, out, patch=128)
    assert summary["patches"] == across * down
    domain = out / "aerial" / "D099_2024" / "Z1" / "img"
    labels = out / "labels" / "D099_2024" / "Z1" / "msk"
    first, wood_patch = "000001", f"{2 * across + 1:06d}"
    with rasterio.open(labels / f"MSK_{first}.tif") as msk:
        m = msk.read(1)
        assert (msk.count, msk.dtypes[0], msk.width) == (1, "uint8", 128)
        assert msk.transform == t  # patch (0, 0) starts at the photos' corner
    # Houses 1, the corrected lawn 2 (the lowest class of CS1.1.1.2), fields 14.
    assert (m[100, 100], m[103, 103], m[50, 50]) == (BUILDING, 2, CULTURE)
    with rasterio.open(labels / f"MSK_{wood_patch}.tif") as msk:
        w = msk.read(1)
    assert (w[300 - 256 + 2, 62]) == 9  # Conifère, the lowest class of CS2.1.1.2
    assert np.count_nonzero(w == 9) == 36
    with rasterio.open(domain / f"IMG_{first}.tif") as img, rasterio.open(imagery["nir"]) as nir:
        assert (img.count, img.dtypes[0]) == (5, "float32")
        assert np.array_equal(img.read(4), nir.read(1, window=((0, 128), (0, 128))))
    meta = json.loads((out / "metadata.json").read_text())
    assert meta[f"IMG_{wood_patch}"]["label_sources"] == {
        "model": round(1 - 36 / 128**2, 4),
        "correction": 0.0,
        "signalement": round(36 / 128**2, 4),
        "delivery": 0.0,
    }
    assert meta[f"IMG_{first}"]["label_sources"]["correction"] == round(9 / 128**2, 4)
    assert meta[f"IMG_{first}"]["domain"] == "D099_2024"

    corrected = build_training_set(
        vintage, photos, tmp_path / "only", patch=128, only_corrected=True
    )
    assert corrected["patches"] == 2
    archive = zip_training_set(out, tmp_path / "flair.zip")
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
    assert f"aerial/D099_2024/Z1/img/IMG_{wood_patch}.tif" in names
    assert {"metadata.json", "classes.json", "README.txt"} <= names


@pytest.mark.django_db
def test_no_training_set_is_left_half_written(
    imagery, checkpoint, designed_classes, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.inference import training

    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    vintage = InferenceRun.objects.get(pk=run.pk).vintage
    calls = {"n": 0}
    real = training.label_patch

    def fail_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "label_patch", fail_on_third)
    with pytest.raises(OSError):
        training.build_training_set(
            vintage, training.photos_of(vintage), tmp_path / "ts", patch=128
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_export_training_data_command_writes_the_set_or_says_what_is_missing(
    square_vintages, imagery, tmp_path
):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No M1 vintage for département 42"):
        call_command("export_training_data", departement="42", rank="M1", out=tmp_path / "a")
    with pytest.raises(CommandError, match="No photos known"):
        call_command("export_training_data", departement="98", rank="M1", out=tmp_path / "b")
    with pytest.raises(CommandError, match="together"):
        call_command(
            "export_training_data",
            departement="98",
            rank="M1",
            out=tmp_path / "c",
            rgb=imagery["rgb"],
        )
    # The small département's photos lie elsewhere: no patch of 98 holds a label.
    with pytest.raises(CommandError, match="no patch holds a label"):
        call_command(
            "export_training_data",
            departement="98",
            rank="M1",
            out=tmp_path / "d",
            rgb=imagery["rgb"],
            nir=imagery["nir"],
            elevation=imagery["elevation"],
        )
    assert not any(p.name[0] in "abcd" for p in tmp_path.iterdir())  # nothing half-written
