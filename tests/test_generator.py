"""Invariants of the synthetic département (pure Python, no database)."""

from collections import Counter

import numpy as np
import pyogrio
import pytest
import shapely

from ocsge import synth
from ocsge.nomenclature import valid_pairs


def _layer(path, layer="OCCUPATION_SOL"):
    return pyogrio.read_dataframe(path, layer=layer)


@pytest.mark.parametrize("rank", ["M1", "M2"])
def test_each_vintage_tiles_the_departement_without_gap_or_overlap(small_departement, rank):
    out, _ = small_departement
    polys = _layer(out / f"ocsge_{rank}.gpkg")
    dept = pyogrio.read_dataframe(out / "territoires.gpkg", layer="DEPARTEMENT").geometry[0]
    geoms = polys.geometry.values
    assert shapely.is_valid(geoms).all()
    assert shapely.coverage_is_valid(geoms), "polygons overlap or are badly noded"
    total = shapely.area(geoms).sum()
    assert abs(total - dept.area) / dept.area < 1e-4
    union = shapely.coverage_union_all(geoms)
    assert shapely.symmetric_difference(union, dept).area / dept.area < 1e-4


@pytest.mark.parametrize("rank", ["M1", "M2"])
def test_polygons_honour_the_minimum_mapping_units(small_departement, rank):
    out, _ = small_departement
    polys = _layer(out / f"ocsge_{rank}.gpkg")
    zones = shapely.union_all(_layer(out / f"ocsge_{rank}.gpkg", "ZONE_CONSTRUITE").geometry.values)
    area = polys.geometry.area.values
    building = polys.code_cs.values == "CS1.1.1.1"
    assert (area[building] >= 200).all()
    others = ~building
    in_zone = shapely.intersection(polys.geometry.values[others], zones)
    mostly_in_zone = shapely.area(in_zone) * 2 > area[others]
    limit = np.where(mostly_in_zone, 500.0, 2500.0)
    assert (area[others] >= limit).all()


@pytest.mark.parametrize("rank", ["M1", "M2"])
def test_it_uses_only_valid_cs_us_pairs_and_unique_ids(small_departement, rank):
    out, _ = small_departement
    polys = _layer(out / f"ocsge_{rank}.gpkg")
    pairs = set(zip(polys.code_cs, polys.code_us, strict=True))
    assert pairs <= valid_pairs()
    assert polys.id.is_unique
    assert polys.id.str.fullmatch(r"OCSGE\d{16}").all()
    assert len(pairs) >= 10, "a landscape needs variety"


def test_landscape_has_towns_fields_forests_water_and_a_quarry(small_departement):
    out, _ = small_departement
    m1 = _layer(out / "ocsge_M1.gpkg")
    pairs = Counter(zip(m1.code_cs, m1.code_us, strict=True))
    assert pairs["CS1.1.1.1", "US5"] > 0  # houses
    assert pairs["CS1.1.1.2", "US4.1.1"] > 0  # roads
    assert pairs["CS2.2.1", "US1.1"] > 0  # fields
    assert pairs["CS1.2.2", "US6.3"] > 0  # the river
    assert sum(pairs[cs, "US1.2"] for cs in ("CS2.1.1.1", "CS2.1.1.2", "CS2.1.1.3")) > 0
    assert pairs["CS1.1.2.1", "US1.3"] + pairs["CS1.2.1", "US1.3"] > 0  # the quarry


def test_m2_is_m1_plus_plausible_change(small_departement):
    out, _ = small_departement
    m1 = _layer(out / "ocsge_M1.gpkg")
    m2 = _layer(out / "ocsge_M2.gpkg")

    def area(df, cs, us):
        sel = (df.code_cs == cs) & (df.code_us == us)
        return df.geometry.area[sel].sum()

    # New houses and roads on farmland, clear-cuts, demolition sites.
    assert area(m2, "CS1.1.1.1", "US5") > area(m1, "CS1.1.1.1", "US5")
    assert area(m2, "CS1.1.1.2", "US4.1.1") > area(m1, "CS1.1.1.2", "US4.1.1")
    assert area(m2, "CS2.1.2", "US1.2") > area(m1, "CS2.1.2", "US1.2")
    assert area(m2, "CS1.2.1", "US6.1") > area(m1, "CS1.2.1", "US6.1")
    assert area(m2, "CS2.2.1", "US1.1") < area(m1, "CS2.2.1", "US1.1")


def test_communes_partition_the_departement(small_departement):
    out, _ = small_departement
    communes = pyogrio.read_dataframe(out / "territoires.gpkg", layer="COMMUNE")
    dept = pyogrio.read_dataframe(out / "territoires.gpkg", layer="DEPARTEMENT")
    assert communes.INSEE_COM.is_unique
    assert communes.INSEE_COM.str.startswith("99").all()
    assert abs(communes.geometry.area.sum() - dept.geometry.area[0]) / dept.geometry.area[0] < 1e-6
    assert communes.NOM.is_unique and communes.SIREN_EPCI.str.len().eq(9).all()


def test_generation_is_reproducible_from_its_seed(tmp_path):
    a = synth.draw_landscape("99", 1.5, seed=3, log=lambda *_: None)
    b = synth.draw_landscape("99", 1.5, seed=3, log=lambda *_: None)
    c = synth.draw_landscape("99", 1.5, seed=4, log=lambda *_: None)
    assert np.array_equal(a.m1, b.m1) and np.array_equal(a.m2, b.m2)
    assert not np.array_equal(a.m1, c.m1)


@pytest.fixture(scope="module")
def tiled_departement(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiled")
    synth.generate(out, code="99", size_km=4, seed=11, tile_km=2, log=lambda *_: None)
    return out


def test_a_tiled_departement_is_one_seamless_coverage(tiled_departement):
    polys = _layer(tiled_departement / "ocsge_M1.gpkg")
    dept = pyogrio.read_dataframe(tiled_departement / "territoires.gpkg", layer="DEPARTEMENT")
    geoms = polys.geometry.values
    assert shapely.is_valid(geoms).all() and shapely.coverage_is_valid(geoms)
    assert abs(shapely.area(geoms).sum() - dept.area[0]) / dept.area[0] < 1e-4
    # No two neighbours with the same codes: polygons cut by a tile seam were joined.
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="touches")
    keep = left < right
    left, right = left[keep], right[keep]
    same = (polys.code_cs.values[left] == polys.code_cs.values[right]) & (
        polys.code_us.values[left] == polys.code_us.values[right]
    )
    shared = shapely.length(shapely.intersection(geoms[left[same]], geoms[right[same]]))
    assert (shared < 1e-6).all(), "same-class polygons share an edge"


@pytest.mark.parametrize("rank", ["M1", "M2"])
def test_built_up_zones_lie_within_the_departement(small_departement, tiled_departement, rank):
    for out in (small_departement[0], tiled_departement):
        dept = pyogrio.read_dataframe(out / "territoires.gpkg", layer="DEPARTEMENT").geometry[0]
        zones = _layer(out / f"ocsge_{rank}.gpkg", "ZONE_CONSTRUITE").geometry.values
        assert len(zones) and shapely.is_valid(zones).all()
        assert shapely.area(shapely.difference(zones, dept)).max() < 1e-3


def test_both_vintages_share_the_departement_outline(small_departement):
    out, _ = small_departement
    dept = pyogrio.read_dataframe(out / "territoires.gpkg", layer="DEPARTEMENT").geometry[0]
    for rank in ("M1", "M2"):
        geoms = _layer(out / f"ocsge_{rank}.gpkg").geometry.values
        outside = shapely.difference(geoms, dept)
        assert shapely.area(outside).max() < 1e-3, rank


def test_tiles_drawn_apart_continue_across_their_seam():
    """Fields, forests and rivers come from the département's seed, not the tile's."""

    def tile(tx):
        return synth.draw_landscape(
            "99",
            4.0,
            seed=100 + tx,
            res=5.0,
            log=lambda *_: None,
            offset_px=(tx * 800, 0),
            global_px=1600,
            outline_seed=3,
        )

    left, right = tile(0), tile(1)
    inside = (left.m1[:, -1] > 0) & (right.m1[:, 0] > 0)
    assert inside.sum() > 100
    # Tiles drawn from unrelated noise agreed on about 1 pixel in 5 along the seam.
    assert (left.m1[:, -1] == right.m1[:, 0])[inside].mean() > 0.75


def test_a_vintage_that_fails_to_write_fails_the_generation(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synth.tiling, "write_vintage", broken)
    with pytest.raises(RuntimeError, match="M1, M2 failed"):
        synth.generate(tmp_path, size_km=4, seed=2, tile_km=2, workers=2, log=lambda *_: None)
    assert not (tmp_path / "generation.json").exists()


def test_generation_leaves_a_record_of_what_it_made(tiled_departement):
    import json

    record = json.loads((tiled_departement / "generation.json").read_text())
    assert record["tiles"] == 4 and record["size_km"] == 4 and record["seconds"] > 0
    info = pyogrio.read_info(tiled_departement / "ocsge_M2.gpkg", layer="OCCUPATION_SOL")
    assert record["polygons"]["M2"] == info["features"]


def test_a_shifted_departement_is_the_same_land_drawn_elsewhere(tiled_departement, tmp_path):
    """`--shift-km` spreads benchmark départements over the map: the same polygons, codes
    and communes, translated by exactly the shift (250 km east, 60 km south here)."""
    import json

    synth.generate(
        tmp_path, code="99", size_km=4, seed=11, tile_km=2, shift_km=(250, -60), log=lambda *_: None
    )
    for path, layer in [
        ("ocsge_M1.gpkg", "OCCUPATION_SOL"),
        ("ocsge_M2.gpkg", "OCCUPATION_SOL"),
        ("territoires.gpkg", "COMMUNE"),
    ]:
        here = _layer(tiled_departement / path, layer)
        there = _layer(tmp_path / path, layer)
        assert len(there) == len(here) > 0
        back = shapely.transform(there.geometry.values, lambda xy: xy - [250_000.0, -60_000.0])
        assert shapely.equals_exact(back, here.geometry.values, tolerance=1e-6).all(), path
        if "code_cs" in here:
            assert list(there.code_cs) == list(here.code_cs)
    record = json.loads((tmp_path / "generation.json").read_text())
    assert record["shift_km"] == [250, -60]


def test_a_shift_out_of_the_projections_area_is_refused_with_nothing_written(tmp_path):
    from django.core.management import CommandError, call_command

    out = tmp_path / "far"
    with pytest.raises(CommandError, match=r"--shift-km: .*EPSG:2154 .*longitudes"):
        call_command("generate_departement", str(out), "--size-km", "2", "--shift-km", "3000", "0")
    assert not out.exists()
