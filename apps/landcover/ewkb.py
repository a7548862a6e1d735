"""EWKB MultiPolygons built from a file's WKB by rewriting bytes, not by re-encoding.

An import stores each polygon twice: in Lambert-93 as read, and in Web Mercator for tiles.
Both are written here as one contiguous buffer per batch, with GEOS out of the loop:

- `multipolygons`: the file's little-endian 2D WKB (Polygon or MultiPolygon) becomes EWKB
  MultiPolygons with an SRID by rewriting the headers only;
- `rings`: where each ring's coordinates lie in that buffer (single-ring polygons, the
  common case, are found with array operations; the others by walking their headers);
- `reprojected`: a copy of the buffer with another SRID and every coordinate passed
  through a transform, laid out identically (a polygon's size does not change).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from .copybin import Stream

_MULTI_EWKB = 6 | 0x20000000  # MultiPolygon with SRID
_HEAD = 13  # byte order, type, SRID, number of polygons
_POLY_HEAD = 9  # byte order, type, number of rings


# Geometries laid end to end: geometry i is data[starts[i]:starts[i + 1]].
Buffer = Stream


def multipolygons(wkb, srid: int) -> Buffer | None:
    """EWKB MultiPolygons with `srid` from plain little-endian 2D WKB Polygons and
    MultiPolygons. None when another encoding is met (the caller then uses GEOS)."""
    head = struct.pack("<BII", 1, _MULTI_EWKB, srid)
    one = struct.pack("<I", 1)
    parts = []
    for item in wkb:
        if item is None or item[0] != 1:
            return None
        kind = int.from_bytes(item[1:5], "little")
        if kind == 6:
            parts.append(head + item[5:])
        elif kind == 3:
            parts.append(head + one + item)
        else:
            return None
    return Buffer.of_items(parts)


def _u32(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Little-endian uint32 read at each byte offset of `at`."""
    out = data[at].astype(np.int64)
    for k in (1, 2, 3):
        out |= data[at + k].astype(np.int64) << (8 * k)
    return out


def rings(buf: Buffer) -> tuple[np.ndarray, np.ndarray]:
    """(byte offset, number of points) of every ring's coordinates, in buffer order."""
    data, starts = buf.data, buf.starts[:-1]
    sizes = np.diff(buf.starts)
    n_polys = _u32(data, starts + 9)
    simple = n_polys == 1
    n_rings = np.zeros_like(n_polys)
    n_rings[simple] = _u32(data, starts[simple] + _HEAD + 5)
    simple &= n_rings == 1
    n_points = np.zeros_like(n_polys)
    n_points[simple] = _u32(data, starts[simple] + _HEAD + _POLY_HEAD)
    simple &= sizes == _HEAD + _POLY_HEAD + 4 + 16 * n_points
    offsets = [starts[simple] + _HEAD + _POLY_HEAD + 4]
    counts = [n_points[simple]]
    others = np.flatnonzero(~simple)
    if len(others):
        raw = data.tobytes()
        o, c = _walk(raw, starts[others].tolist())
        offsets.append(np.asarray(o, dtype=np.int64))
        counts.append(np.asarray(c, dtype=np.int64))
    offsets = np.concatenate(offsets)
    counts = np.concatenate(counts)
    order = np.argsort(offsets, kind="stable")
    return offsets[order], counts[order]


def _walk(raw: bytes, starts: list[int]) -> tuple[list[int], list[int]]:
    u32 = struct.Struct("<I").unpack_from
    offsets: list[int] = []
    counts: list[int] = []
    for s in starts:
        (n_polys,) = u32(raw, s + 9)
        p = s + _HEAD
        for _ in range(n_polys):
            (n_rings,) = u32(raw, p + 5)
            p += _POLY_HEAD
            for _ in range(n_rings):
                (n,) = u32(raw, p)
                offsets.append(p + 4)
                counts.append(n)
                p += 4 + 16 * n
    return offsets, counts


def reprojected(
    buf: Buffer,
    ring_offsets: np.ndarray,
    ring_counts: np.ndarray,
    transform: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    srid: int,
) -> Buffer:
    """The same geometries with every coordinate through `transform` and another SRID."""
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
    srid_bytes = np.frombuffer(struct.pack("<I", srid), dtype=np.uint8)
    at = buf.starts[:-1, None] + 5 + np.arange(4)
    out[at] = srid_bytes
    return Buffer(out, buf.starts)
