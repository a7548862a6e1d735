"""Raster → polygons building blocks: noded polygonize, windowed nearest fill, seam joins."""

import numpy as np
import pytest
import shapely
from affine import Affine
from scipy import ndimage

from ocsge import vectorize as V
from ocsge.synth import raster, tiling

RES = 2.5
ORIGIN = Affine(RES, 0, 600_000.0, 0, -RES, 6_600_000.0)


def _blocky(shape, seed, cell=6, classes=5):
    """A label raster of rectangles of random classes (many T-junctions), plus specks."""
    rng = np.random.default_rng(seed)
    h, w = shape
    coarse = rng.integers(1, classes + 1, (h // cell + 2, w // cell + 2))
    labels = np.repeat(np.repeat(coarse, cell, 0), cell, 1)[:h, :w]
    # Shift every other band of rows so vertical edges meet horizontal ones mid-run.
    labels[:: 2 * cell] = np.roll(labels[:: 2 * cell], cell // 2, axis=1)
    specks = rng.random(shape) < 0.02
    labels[specks] = rng.integers(1, classes + 1, specks.sum())
    return labels.astype(np.uint8)


def test_polygonize_outlines_each_component_as_a_noded_coverage():
    labels = _blocky((90, 120), seed=1)
    comp = V._components(labels)
    polys = V.polygonize(labels, ORIGIN, nodata=None, components=comp)
    assert len(polys) == comp.max()
    sizes = np.bincount(comp.ravel())
    assert np.allclose(shapely.area(polys.geoms), sizes[polys.components] * RES * RES)
    value_of = np.zeros(comp.max() + 1, dtype=int)
    value_of[comp.ravel()] = labels.ravel()
    assert (polys.values == value_of[polys.components]).all()
    assert shapely.is_valid(polys.geoms).all()
    assert shapely.coverage_is_valid(polys.geoms)
    # Noded: a coverage union only dissolves shared edges, so it needs exact vertex matches.
    union = shapely.coverage_union_all(polys.geoms)
    assert union.equals(shapely.box(*ORIGIN * (0, 90), *ORIGIN * (120, 0)))


def test_polygonize_adds_a_vertex_where_a_third_polygon_meets_a_straight_edge():
    labels = np.ones((8, 8), dtype=np.uint8)
    labels[:, 4:] = 2
    labels[5:, 4:] = 3  # the edge between 1 and {2, 3} is straight; 2 and 3 meet it at row 5
    polys = V.polygonize(labels, Affine.identity(), nodata=None)
    left = polys.geoms[polys.values == 1][0]
    assert (4.0, 5.0) in {tuple(c) for c in shapely.get_coordinates(left)}
    # ... and a vertex at every pixel corner of the raster's border, for the seams.
    border = {tuple(c) for c in shapely.get_coordinates(left) if c[0] == 0}
    assert border == {(0.0, float(r)) for r in range(9)}


def test_polygonize_leaves_nodata_out_and_keeps_the_outline_exact():
    labels = _blocky((60, 60), seed=2)
    yy, xx = np.mgrid[0:60, 0:60]
    labels[(yy - 30) ** 2 + (xx - 30) ** 2 > 27**2] = 0
    polys = V.polygonize(labels, ORIGIN, nodata=0)
    assert (polys.values != 0).all()
    assert shapely.area(polys.geoms).sum() == pytest.approx((labels != 0).sum() * RES * RES)
    simplified = V.simplify_coverage(polys.geoms, RES * 0.75)
    assert shapely.is_valid(simplified).all() and shapely.coverage_is_valid(simplified)
    # The coverage's outer boundary (the outline) is kept as drawn.
    assert shapely.coverage_union_all(simplified).equals(shapely.coverage_union_all(polys.geoms))


def _tiles(labels, k):
    """Polygonize a raster as k × k tiles; return their polygons, values and facing pairs."""
    h, w = labels.shape
    th, tw = h // k, w // k
    results = []
    for ty, tx in np.ndindex(k, k):
        part = labels[ty * th : (ty + 1) * th, tx * tw : (tx + 1) * tw]
        comp = V._components(part)
        polys = V.polygonize(part, ORIGIN * Affine.translation(tx * tw, ty * th), 0, comp)
        index = np.full(comp.max() + 1, -1)
        index[polys.components] = np.arange(len(polys))
        sides = {
            "top": index[comp[0]],
            "bottom": index[comp[-1]],
            "left": index[comp[:, 0]],
            "right": index[comp[:, -1]],
        }
        results.append((polys.geoms, polys.values, sides))
    left, right = tiling._facing_across_seams(results, k)
    geoms = np.concatenate([r[0] for r in results])
    values = np.concatenate([r[1] for r in results])
    return geoms, values, left, right


def test_tiles_polygonized_apart_join_into_the_polygons_of_the_whole_raster():
    labels = _blocky((96, 96), seed=3, cell=9, classes=3)
    labels[40:44, :] = 4  # a road across all the tiles: one polygon once joined
    labels[:5, :5] = 0
    whole = V.polygonize(labels, ORIGIN, nodata=0)
    geoms, values, left, right = _tiles(labels, 3)
    merged, merged_values, group = V.merge_by_pixels(geoms, values, left, right)
    assert len(merged) == len(whole)
    assert shapely.is_valid(merged).all() and shapely.coverage_is_valid(merged)
    key = lambda g, v: (v, round(shapely.area(g), 6), tuple(np.round(g.bounds, 6)))  # noqa: E731
    assert sorted(map(key, merged, merged_values)) == sorted(map(key, whole.geoms, whole.values))
    road = merged[merged_values == 4]
    assert len(road) == 1 and road[0].area == pytest.approx(4 * 96 * RES * RES)
    # `group` maps every tile polygon to the polygon it became part of.
    assert (merged_values[group] == values).all()
    assert np.allclose(np.bincount(group, weights=shapely.area(geoms)), shapely.area(merged))


def test_a_seam_hundreds_of_pixels_long_joins_one_polygon():
    labels = np.full((600, 40), 7, dtype=np.uint8)  # 600 pixel pairs face each other
    geoms, values, left, right = _tiles(labels, 2)
    merged, merged_values, _ = V.merge_by_pixels(geoms, values, left, right)
    assert len(merged) == 1 and merged[0].equals(V.polygonize(labels, ORIGIN).geoms[0])


def test_merge_by_pixels_leaves_different_classes_apart():
    a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    geoms, values, group = V.merge_by_pixels(
        np.array([a, b]), np.array([1, 2]), np.array([0]), np.array([1])
    )
    assert len(geoms) == 2 and list(group) == [0, 1]
    geoms, values, group = V.merge_by_pixels(
        np.array([a, b]), np.array([1, 1]), np.array([0, -1]), np.array([1, 0])
    )
    assert len(geoms) == 1 and geoms[0].equals(shapely.box(0, 0, 2, 1)) and list(group) == [0, 0]


@pytest.mark.parametrize("seed", [0, 1, 2], ids=lambda seed: f"seed-{seed}")
def test_windowed_nearest_finds_a_nearest_source_pixel_by_city_block_distance(seed):
    rng = np.random.default_rng(seed)
    source = rng.random((700, 650)) < 0.3
    source[200:330, 100:260] = False  # a wide hole: some answers lie beyond one window
    wanted = (rng.random(source.shape) < 0.0005) & ~source
    wanted[250:260, 150:160] = True
    rows, cols = V._nearest(source, wanted)
    wr, wc = np.nonzero(wanted)
    assert source[rows, cols].all()
    dist = ndimage.distance_transform_cdt(~source, metric="taxicab")
    assert (np.abs(rows - wr) + np.abs(cols - wc) == dist[wr, wc]).all()


def test_windowed_nearest_falls_back_when_no_source_is_in_reach():
    source = np.zeros((600, 600), dtype=bool)
    source[0, 0] = True
    wanted = np.zeros_like(source)
    wanted[590, 595] = True
    rows, cols = V._nearest(source, wanted)
    assert (rows[0], cols[0]) == (0, 0)


def test_sieve_returns_the_components_of_its_result():
    labels = _blocky((80, 80), seed=4, cell=3)
    sieved, comp = V.sieve_components(labels, {}, default_min_size=20, nodata=None)
    assert np.array_equal(comp, V._components(sieved))
    assert np.bincount(comp.ravel())[1:].min() >= 20


@pytest.mark.parametrize("factor", [3, 10, 37])
def test_noise_upsampling_is_bilinear_between_pixel_centres(factor):
    coarse = np.random.default_rng(5).random((12, 9)).astype(np.float32)
    h, w = 12 * factor - 2, 9 * factor - 1
    out = raster.upsample(coarse, factor, h, w)
    rows = np.clip((np.arange(h) + 0.5) / factor - 0.5, 0, 11)
    cols = np.clip((np.arange(w) + 0.5) / factor - 0.5, 0, 8)
    expected = ndimage.map_coordinates(coarse, np.meshgrid(rows, cols, indexing="ij"), order=1)
    assert out.shape == (h, w) and np.abs(out - expected).max() < 1e-5
