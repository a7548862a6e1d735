"""The import's fast geometry paths give exactly what GEOS and PROJ give: validity of
polygons with many holes, the Web Mercator transform, and EWKB written by rewriting bytes."""

import struct

import numpy as np
import pyarrow as pa
import pytest
import shapely
from pyproj import Transformer

from ocsge import copybin, ewkb, validity
from ocsge.projection import LambertToWebMercator


@pytest.fixture
def split_always(monkeypatch):
    """Send every polygon with holes through the split check."""
    monkeypatch.setattr(validity, "MANY_POINTS", 0)
    monkeypatch.setattr(validity, "MANY_HOLES", 1)


def square(x, y, size=10.0):
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]


SHELL = square(0, 0, 1000)


def polygon(holes, shell=SHELL):
    return shapely.Polygon(shell, holes)


GRID = [square(50 + 40 * i, 50 + 40 * j) for i in range(20) for j in range(20)]
CASES = {
    "disjoint holes": (polygon(GRID), True),
    "hole touching the shell at a point": (
        polygon([*GRID, [(0, 500), (20, 490), (20, 510), (0, 500)]]),
        True,
    ),
    "hole sharing an edge with the shell": (polygon([*GRID, square(0, 500)]), False),
    "holes touching at a corner": (polygon([*GRID, square(900, 900), square(910, 910)]), True),
    "holes sharing an edge": (polygon([*GRID, square(900, 900), square(910, 900)]), False),
    "four holes closing a ring (interior cut off)": (
        polygon(
            [
                *GRID,
                [(900, 905), (905, 900), (910, 905), (905, 910), (900, 905)],
                [(910, 905), (915, 900), (920, 905), (915, 910), (910, 905)],
                [(905, 910), (910, 905), (915, 910), (910, 915), (905, 910)],
                [(905, 900), (910, 895), (915, 900), (910, 905), (905, 900)],
            ]
        ),
        False,
    ),
    "chain of holes from shell to shell (interior cut in two)": (
        polygon(
            [*GRID]
            + [
                [(x, 980), (x + 10, 970), (x + 20, 980), (x + 10, 990), (x, 980)]
                for x in range(0, 1000, 20)
            ]
        ),
        False,
    ),
    "chain of holes touching the shell at one end": (
        polygon(
            [*GRID]
            + [
                [(x, 980), (x + 10, 970), (x + 20, 980), (x + 10, 990), (x, 980)]
                for x in range(0, 500, 20)
            ]
        ),
        True,
    ),
    "hole inside a hole": (polygon([*GRID, square(900, 900, 50), square(910, 910, 5)]), False),
    "hole crossing the shell": (polygon([*GRID, square(995, 500)]), False),
    "hole outside the shell": (polygon([*GRID, square(2000, 2000)]), False),
    "self-intersecting hole": (
        polygon([*GRID, [(900, 900), (920, 920), (920, 900), (900, 920), (900, 900)]]),
        False,
    ),
    "self-intersecting shell": (
        polygon(GRID, [(0, 0), (1000, 1000), (1000, 0), (0, 1000), (0, 0)]),
        False,
    ),
    "hole touching itself": (
        polygon(
            [
                *GRID,
                [
                    (900, 900),
                    (920, 900),
                    (910, 910),
                    (920, 920),
                    (900, 920),
                    (910, 910),
                    (900, 900),
                ],
            ]
        ),
        False,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_split_validity_agrees_with_geos(split_always, name):
    geom, expected = CASES[name]
    assert bool(shapely.is_valid(geom)) is expected  # the case says what it claims
    both = np.array([geom, shapely.MultiPolygon([geom])], dtype=object)
    assert validity.is_valid(both).tolist() == [expected, expected]


def test_split_validity_agrees_with_geos_on_random_holes(split_always):
    rng = np.random.default_rng(3)
    geoms = []
    for _ in range(60):
        # Squares on a coarse lattice, some nudged to touch or overlap neighbours or the
        # shell: a mix of valid and invalid polygons.
        k = rng.integers(5, 40)
        cells = rng.choice(400, size=k, replace=False)
        holes = []
        for c in cells:
            x, y = 25 * (c % 20) + rng.choice([5, 5, 5, 5, 5, 5, 0]), 25 * (c // 20) + 5
            size = rng.choice([10.0] * 30 + [20.0, 25.0, 30.0])
            holes.append(square(float(x), float(y), size))
        geoms.append(polygon(holes, square(0, 0, 500)))
    geoms = np.array(geoms, dtype=object)
    expected = shapely.is_valid(geoms)
    assert 5 < expected.sum() < len(geoms) - 5  # both kinds are exercised
    assert validity.is_valid(geoms).tolist() == expected.tolist()


def test_fast_mercator_matches_proj_to_the_micrometre():
    rng = np.random.default_rng(0)
    # All of metropolitan France, then one département-sized patch.
    for x0, x1, y0, y1 in ((100e3, 1.2e6, 6.05e6, 7.15e6), (600e3, 700e3, 6.5e6, 6.6e6)):
        x = rng.uniform(x0, x1, 200_000)
        y = rng.uniform(y0, y1, 200_000)
        ref_x, ref_y = Transformer.from_crs(2154, 3857, always_xy=True).transform(x, y)
        fast = LambertToWebMercator()
        got_x, got_y = fast(x, y)
        assert fast.fallbacks == 0
        assert np.abs(got_x - ref_x).max() < 1e-6
        assert np.abs(got_y - ref_y).max() < 1e-6


def test_fast_mercator_falls_back_to_proj_when_the_fit_misses(monkeypatch):
    monkeypatch.setattr("ocsge.projection.TOLERANCE_M", 0.0)
    x, y = np.array([650e3, 651e3]), np.array([6.86e6, 6.87e6])
    fast = LambertToWebMercator()
    got = fast(x, y)
    assert fast.fallbacks == 1
    ref = Transformer.from_crs(2154, 3857, always_xy=True).transform(x, y)
    assert np.allclose(got, ref, rtol=0, atol=1e-9)


def _arrow(wkb):
    return pa.array(list(wkb), type=pa.binary())


def test_wkb_rewrite_matches_geos_encoding():
    single = shapely.Polygon(square(650e3, 6.86e6, 30))
    holed = shapely.Polygon(square(651e3, 6.86e6, 300), [square(651e3 + 10, 6.86e6 + 10)])
    multi = shapely.MultiPolygon([single, holed])
    one_part = shapely.MultiPolygon([holed])
    geoms = np.array([single, holed, multi, one_part, single], dtype=object)
    buf = ewkb.multipolygons(_arrow(shapely.to_wkb(geoms, byte_order=1)))
    offsets, counts = ewkb.rings(buf)
    assert counts.tolist() == [5] * 9
    l93 = shapely.from_wkb([bytes(v) for v in buf.segments()])
    assert shapely.get_type_id(l93).tolist() == [6] * 5
    as_multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms]
    assert shapely.equals_exact(l93, np.array(as_multi, dtype=object), 0).all()
    to_3857 = Transformer.from_crs(2154, 3857, always_xy=True)
    mercator = ewkb.reprojected(buf, offsets, counts, to_3857.transform)
    got = shapely.from_wkb([bytes(v) for v in mercator.segments()])
    ref = shapely.transform(l93, lambda c: np.column_stack(to_3857.transform(c[:, 0], c[:, 1])))
    assert np.array_equal(shapely.get_coordinates(got), shapely.get_coordinates(ref))
    assert shapely.get_num_interior_rings(shapely.get_geometry(got, 0)).tolist() == [0, 1, 0, 1, 0]


def test_multipolygons_are_sent_as_read_without_copy():
    geoms = np.array([shapely.MultiPolygon([shapely.Polygon(square(0, 0))])] * 3, dtype=object)
    column = _arrow(shapely.to_wkb(geoms, byte_order=1))
    buf = ewkb.multipolygons(column)
    assert np.shares_memory(buf.data, np.frombuffer(column.buffers()[2], dtype=np.uint8))


def test_wkb_rewrite_declines_other_encodings():
    point = shapely.to_wkb(np.array([shapely.Point(1, 2)], dtype=object))
    assert ewkb.multipolygons(_arrow(point)) is None
    big_endian = shapely.to_wkb(np.array([shapely.Polygon(square(0, 0))]), byte_order=0)
    assert ewkb.multipolygons(_arrow(big_endian)) is None
    with_z = shapely.to_wkb(
        np.array([shapely.Polygon([(0, 0, 1), (1, 0, 1), (1, 1, 1), (0, 0, 1)])]),
        output_dimension=3,
        flavor="iso",
    )
    assert ewkb.multipolygons(_arrow(with_z)) is None
    # A MultiPolygon whose part is big-endian, or whose sizes do not add up: the rings
    # are not trusted (the import then encodes with GEOS).
    part_be = shapely.to_wkb(shapely.Polygon(square(0, 0)), byte_order=0)
    mixed = struct.pack("<BII", 1, 6, 2) + part_be + part_be
    assert ewkb.rings(ewkb.multipolygons(_arrow([mixed]))) is None
    good = shapely.to_wkb(shapely.MultiPolygon([shapely.Polygon(square(0, 0))] * 2), byte_order=1)
    assert ewkb.rings(ewkb.multipolygons(_arrow([good]))) is not None
    assert ewkb.rings(ewkb.multipolygons(_arrow([good[:-8]]))) is None


def test_copy_rows_lay_each_rows_fields_end_to_end():
    ids = copybin.Stream.fixed([7, 8, 9], ">i2")
    null = np.array([False, True, False])
    numbers = copybin.Stream.fixed([1, 2, 3], ">i4", null=null)
    text = copybin.Stream(np.frombuffer(b"xxabcde", np.uint8), np.array([2, 4, 4, 7]))
    headed = copybin.Slices(np.frombuffer(b"HHpqHHHHrs", np.uint8), np.array([0, 4, 6, 10]), 2)
    fields = [
        ids,
        *numbers.with_length(null=null),
        *text.with_length(),
        headed,
    ]
    assert bytes(copybin.rows(fields)) == (
        b"\x00\x07"
        + b"\x00\x00\x00\x04"
        + b"\x00\x00\x00\x01"
        + b"\x00\x00\x00\x02ab"
        + b"pq"
        + b"\x00\x08"
        + b"\xff\xff\xff\xff"
        + b"\x00\x00\x00\x00"
        + b""
        + b"\x00\x09"
        + b"\x00\x00\x00\x04"
        + b"\x00\x00\x00\x03"
        + b"\x00\x00\x00\x03cde"
        + b"rs"
    )
    empty = copybin.Stream(np.zeros(0, np.uint8), np.zeros(1, np.int64))
    assert bytes(copybin.rows([empty, copybin.Slices(empty.data, empty.starts, 5)])) == b""


def test_inner_cells_never_claim_a_box_the_outline_does_not_cover():
    from ocsge.outline import InnerCells

    # A concave outline with a bay, a hole and an island.
    main = shapely.Polygon(
        [
            (0, 0),
            (10_000, 0),
            (10_000, 10_000),
            (6_000, 10_000),
            (5_000, 3_000),
            (4_000, 10_000),
            (0, 10_000),
        ],
        [[(1_000, 1_000), (2_000, 1_000), (2_000, 2_000), (1_000, 1_000)]],
    )
    outline = shapely.MultiPolygon([main, shapely.box(12_000, 0, 13_000, 1_000)])
    cells = InnerCells(outline)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1_000, 14_000, 20_000)
    y = rng.uniform(-1_000, 11_000, 20_000)
    w = rng.uniform(1, 400, 20_000)
    boxes = shapely.box(x, y, x + w, y + w)
    claimed = cells.covers_boxes(shapely.bounds(boxes))
    truth = shapely.covers(outline, boxes)
    assert not (claimed & ~truth).any()
    assert claimed.sum() > 0.8 * truth.sum()  # it does spare GEOS most of the work
    assert not cells.covers_boxes(np.array([[np.nan] * 4, [-5e6, -5e6, -4e6, -4e6]])).any()
