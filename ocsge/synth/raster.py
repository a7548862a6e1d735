"""Raster primitives of the generator: smooth noise continuous across tiles, bilinear
upsampling, burning shapes into a class raster, wiggly lines."""

from __future__ import annotations

import math

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage


def noise_field(key, offset_px, shape, global_px, cell_px, octaves=3):
    """Smooth value noise in [0, 1] over the whole département, evaluated on one tile.

    `key` (a tuple of ints) seeds the field: every tile of a département computes the same
    field at the same place, so forests and fields continue across the seams. Octaves of
    random grids are interpolated (cubic splines) on a raster 1/f as fine, normalised with
    constants taken from the whole field, then bilinear to full size (cheap at any size).
    """
    h, w = shape
    gx0, gy0 = offset_px
    f = max(1, int(cell_px // 16))
    global_coarse = int(math.ceil(global_px / f))
    # Coarse pixels from one before the tile (for interpolation at its first pixels).
    cy0, cx0 = gy0 // f - 1, gx0 // f - 1
    ch, cw = math.ceil((gy0 + h) / f) - cy0 + 2, math.ceil((gx0 + w) / f) - cx0 + 2
    rows, cols = np.arange(cy0, cy0 + ch), np.arange(cx0, cx0 + cw)
    probe = np.linspace(0, global_coarse - 1, 96)  # where the normalisation is measured
    total = np.zeros((ch, cw), dtype=np.float32)
    sample = np.zeros((len(probe), len(probe)))
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        c = max(2.0, cell_px / f / (2**o))
        size = int(math.ceil(global_coarse / c)) + 4
        grid = np.random.default_rng([*key, o]).random((size, size))
        coeffs = ndimage.spline_filter(grid, order=3)

        def at(r, q, coeffs=coeffs, c=c):
            rr, qq = np.meshgrid(r / c, q / c, indexing="ij")
            return ndimage.map_coordinates(
                coeffs, [rr, qq], order=3, prefilter=False, mode="nearest"
            )

        total += np.float32(amp) * at(rows, cols).astype(np.float32)
        sample += amp * at(probe, probe)
        norm += amp
        amp *= 0.5
    lo, hi = np.percentile(sample / norm, [1, 99])
    total = (total / np.float32(norm) - np.float32(lo)) / np.float32(max(hi - lo, 1e-6))
    if f > 1:
        total = upsample(total, f, ch * f, cw * f)
    top, left = gy0 - cy0 * f, gx0 - cx0 * f
    total = np.ascontiguousarray(total[top : top + h, left : left + w])
    return np.clip(total, 0, 1, out=total)


def upsample(coarse: np.ndarray, f: int, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling by an integer factor (pixel centres aligned, edges clamped),
    float32. Output pixel k·f + j lies at the same fraction between two coarse pixels for
    every k, so the phases j before the pixel centre (interpolating from the coarse pixel on
    the left) and those after it take one broadcast operation each, with no index arrays as
    large as the output (0.24 s against 0.53 s for `ndimage.zoom` at 4800² pixels)."""

    t = (np.arange(f) + 0.5) / f - 0.5  # each phase's offset from its coarse pixel
    m = int((t < 0).sum())  # phases before the pixel centre interpolate from the left one
    frac = np.where(t < 0, t + 1, t).astype(np.float32)

    def along(a, n_out):  # upsample the last axis of `a` to n_out
        k = math.ceil(n_out / f)
        edge = a.shape[-1] - 1
        index = np.clip(np.arange(-1, k + 1), 0, edge)
        p = a[..., index]  # p[..., i + 1] is coarse pixel i, edges repeated
        out = np.empty(a.shape[:-1] + (k, f), dtype=np.float32)
        out[..., :m] = p[..., 0:k, None] * (1 - frac[:m]) + p[..., 1 : k + 1, None] * frac[:m]
        out[..., m:] = p[..., 1 : k + 1, None] * (1 - frac[m:]) + p[..., 2 : k + 2, None] * frac[m:]
        return out.reshape(a.shape[:-1] + (k * f,))[..., :n_out]

    rows = np.ascontiguousarray(along(coarse.T.astype(np.float32), h).T)  # (h, coarse columns)
    return np.ascontiguousarray(along(rows, w))


def burn(raster, geoms, value, transform, all_touched=False, onto=None, not_onto=None):
    """Give `value` to the pixels whose centre the geometries cover (only those holding one
    of `onto`, or none of `not_onto`, when given). Works in the geometries' window."""
    geoms = [g for g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    inv = ~transform
    (ca, ra), (cb, rb) = inv * (minx, maxy), inv * (maxx, miny)
    h, w = raster.shape
    r0, r1 = max(0, math.floor(min(ra, rb)) - 1), min(h, math.ceil(max(ra, rb)) + 1)
    c0, c1 = max(0, math.floor(min(ca, cb)) - 1), min(w, math.ceil(max(ca, cb)) + 1)
    if r0 >= r1 or c0 >= c1:
        return
    window = raster[r0:r1, c0:c1]
    mask = rasterio.features.geometry_mask(
        geoms,
        out_shape=window.shape,
        transform=transform * Affine.translation(c0, r0),
        invert=True,
        all_touched=all_touched,
    )
    if onto is not None:
        mask &= np.isin(window, onto)
    if not_onto is not None:
        mask &= ~np.isin(window, not_onto)
    window[mask] = value


def wiggly_line(rng, p0, p1, amplitude, n=24):
    """A gently curving polyline from p0 to p1."""
    t = np.linspace(0, 1, n)
    x = p0[0] + (p1[0] - p0[0]) * t
    y = p0[1] + (p1[1] - p0[1]) * t
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1]) or 1.0
    nx, ny = -(p1[1] - p0[1]) / length, (p1[0] - p0[0]) / length
    phase = rng.random(2) * 2 * math.pi
    offs = amplitude * (
        np.sin(t * math.pi * 2 + phase[0]) * 0.6 + np.sin(t * math.pi * 5 + phase[1]) * 0.4
    )
    offs *= np.sin(t * math.pi)  # fixed ends
    return shapely.LineString(np.column_stack([x + nx * offs, y + ny * offs]))
