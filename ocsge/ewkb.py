"""WKB MultiPolygons for COPY, built from a file's WKB by rewriting bytes, not re-encoding.

An import stores each polygon twice: in Lambert-93 as read, and in Web Mercator for tiles.
Both are written here as one contiguous buffer per batch, with GEOS out of the loop:

- `multipolygons`: the file's little-endian 2D WKB MultiPolygons as they are (Arrow's own
  buffer, not copied); Polygons are wrapped as one-part MultiPolygons;
- `rings`: where each ring's coordinates lie in that buffer (single-ring polygons, the
  common case, are found with array operations; the others by walking their headers);
- `reprojected`: a copy of the buffer with every coordinate passed through a transform,
  laid out identically (a polygon's size does not change).

- `srid_header` + `bodies`: the same geometries as EWKB with an SRID, for a column whose
  rows carry their own (the département's CRS: Lambert-93 or a DROM's UTM projection),
  without a copy: the 9-byte EWKB header all these MultiPolygons share, and each geometry
  after its own 5-byte header.

A WKB without SRID takes the SRID of its column (geometry(MultiPolygon, 3857)).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from .copybin import Slices, Stream

_MULTI = 6
_HEAD = 9  # byte order, type, number of polygons
_POLY_HEAD = 9  # byte order, type, number of rings


# Geometries laid end to end: geometry i is data[starts[i]:starts[i + 1]].
Buffer = Stream


def multipolygons(column) -> Buffer | None:
    """WKB MultiPolygons from an Arrow column of little-endian 2D WKB Polygons and
    MultiPolygons. None when another encoding is met (the caller then uses GEOS)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_binary(column.type) or column.null_count:
        return None
    n = len(column)
    _validity, offsets, data = column.buffers()
    starts = np.frombuffer(offsets, dtype=np.int32)[column.offset : column.offset + n + 1]
    starts = starts.astype(np.int64)
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    heads = starts[:-1]
    if (np.diff(starts) < _HEAD).any() or (data[heads] != 1).any():
        return None
    kind = _u32(data, heads + 1)
    if (kind == _MULTI).all():
        return Buffer(data, starts)
    if not np.isin(kind, (3, _MULTI)).all():
        return None
    wrap = struct.pack("<BII", 1, _MULTI, 1)
    raw = data.tobytes()
    bounds = starts.tolist()
    return Buffer.of_items(
        [
            raw[a:b] if k == _MULTI else wrap + raw[a:b]
            for a, b, k in zip(bounds[:-1], bounds[1:], kind.tolist(), strict=True)
        ]
    )


def _u32(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Little-endian uint32 read at each byte offset of `at`."""
    out = data[at].astype(np.int64)
    for k in (1, 2, 3):
        out |= data[at + k].astype(np.int64) << (8 * k)
    return out


def rings(buf: Buffer) -> tuple[np.ndarray, np.ndarray] | None:
    """(byte offset, number of points) of every ring's coordinates, in buffer order; None
    when a part is not a little-endian 2D Polygon or the sizes do not add up."""
    data, starts = buf.data, buf.starts[:-1]
    sizes = np.diff(buf.starts)
    n_polys = _u32(data, starts + 5)
    simple = (n_polys == 1) & (sizes >= _HEAD + _POLY_HEAD + 4)
    at = starts[simple] + _HEAD
    simple[simple] = (data[at] == 1) & (_u32(data, at + 1) == 3) & (_u32(data, at + 5) == 1)
    n_points = np.zeros_like(n_polys)
    n_points[simple] = _u32(data, starts[simple] + _HEAD + _POLY_HEAD)
    simple &= sizes == _HEAD + _POLY_HEAD + 4 + 16 * n_points
    offsets = [starts[simple] + _HEAD + _POLY_HEAD + 4]
    counts = [n_points[simple]]
    others = np.flatnonzero(~simple)
    if len(others):
        walked = _walk(data.tobytes(), starts[others].tolist(), sizes[others].tolist())
        if walked is None:
            return None
        offsets.append(np.asarray(walked[0], dtype=np.int64))
        counts.append(np.asarray(walked[1], dtype=np.int64))
    offsets = np.concatenate(offsets)
    counts = np.concatenate(counts)
    order = np.argsort(offsets, kind="stable")
    return offsets[order], counts[order]


def _walk(raw: bytes, starts: list[int], sizes: list[int]):
    head = struct.Struct("<BI").unpack_from
    u32 = struct.Struct("<I").unpack_from
    offsets: list[int] = []
    counts: list[int] = []
    try:
        for s, size in zip(starts, sizes, strict=True):
            (n_polys,) = u32(raw, s + 5)
            p = s + _HEAD
            for _ in range(n_polys):
                if head(raw, p) != (1, 3):
                    return None
                (n_rings,) = u32(raw, p + 5)
                p += _POLY_HEAD
                for _ in range(n_rings):
                    (n,) = u32(raw, p)
                    offsets.append(p + 4)
                    counts.append(n)
                    p += 4 + 16 * n
            if p != s + size:
                return None
    except struct.error:  # ran past the end
        return None
    return offsets, counts


def reprojected(
    buf: Buffer,
    ring_offsets: np.ndarray,
    ring_counts: np.ndarray,
    transform: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> Buffer:
    """The same geometries with every coordinate through `transform`."""
    data = buf.data
    # Which bytes are coordinates: runs of headers and of ring coordinates, alternately.
    ends = ring_offsets + 16 * ring_counts
    runs = np.empty(2 * len(ring_offsets) + 1, dtype=np.int64)
    runs[0:-1:2] = ring_offsets - np.concatenate([[0], ends[:-1]])
    runs[1::2] = 16 * ring_counts
    runs[-1] = len(data) - (ends[-1] if len(ends) else 0)
    kinds = np.zeros(len(runs), dtype=bool)
    kinds[1::2] = True
    is_coord = np.repeat(kinds, runs)
    xy = data[is_coord].view("<f8").reshape(-1, 2)
    x, y = transform(xy[:, 0], xy[:, 1])
    out_xy = np.empty_like(xy)
    out_xy[:, 0] = x
    out_xy[:, 1] = y
    out = data.copy()
    out[is_coord] = out_xy.view(np.uint8).ravel()
    return Buffer(out, buf.starts)


_EWKB_SRID_FLAG = 0x20  # high byte of the little-endian type


def srid_header(n: int, srid: int) -> Stream:
    """The EWKB header of a little-endian MultiPolygon with `srid`, for `n` rows: with
    `bodies`, the geometries of `multipolygons` as EWKB, nothing copied."""
    one = struct.pack("<BII", 1, _MULTI | (_EWKB_SRID_FLAG << 24), srid)
    return Stream(np.tile(np.frombuffer(one, np.uint8), n), np.arange(n + 1, dtype=np.int64) * 9)


def bodies(buf: Buffer) -> Slices:
    """Each MultiPolygon of `multipolygons` after its byte order and type (5 bytes)."""
    return Slices(buf.data, buf.starts, 5)
