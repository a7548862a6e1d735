"""Lambert-93 (EPSG:2154) to Web Mercator (EPSG:3857), fast and checked against PROJ.

Every imported polygon keeps a Web Mercator copy for tiles, so an import transforms every
vertex of the file (about 50 million for a large département). PROJ does it at about
0.3 µs a point; this does the same pipeline (`inv lcc` on GRS80, then `webmerc`) at a
tenth of that, as numpy array operations:

- Lambert-93 is a conic projection: a point's polar coordinates around the cone's apex
  (rho, theta) give its longitude exactly, lon = lon_0 + theta / n, hence
  X = a · lon in Web Mercator;
- its latitude, hence Web Mercator's Y, depends on rho alone. That one-variable function is
  smooth, so it is fitted, for the points at hand, by a Chebyshev polynomial through values
  PROJ itself computes, and the fit is checked against PROJ at other points of the same
  range before it is used. A fit worse than `TOLERANCE_M` (never seen: about 1e-8 m over
  all of France) makes the call fall back to PROJ.
"""

from __future__ import annotations

import numpy as np
from pyproj import Transformer

# GRS80 (Lambert-93's ellipsoid; Web Mercator's sphere has the same semi-major axis).
A = 6378137.0
_F = 1 / 298.257222101
_E2 = _F * (2 - _F)
_E = np.sqrt(_E2)
PHI_1, PHI_2, PHI_0, LAMBDA_0 = np.radians([49.0, 44.0, 46.5, 3.0])
X_0, Y_0 = 700_000.0, 6_600_000.0

TOLERANCE_M = 1e-4
DEGREE = 12
CHUNK = 1 << 16  # points per pass of the polynomial (keeps the work arrays in cache)


def _m(phi):
    return np.cos(phi) / np.sqrt(1 - _E2 * np.sin(phi) ** 2)


def _t(phi):
    s = _E * np.sin(phi)
    return np.tan(np.pi / 4 - phi / 2) / ((1 - s) / (1 + s)) ** (_E / 2)


N = float((np.log(_m(PHI_1)) - np.log(_m(PHI_2))) / (np.log(_t(PHI_1)) - np.log(_t(PHI_2))))
RHO_0 = float(A * _m(PHI_1) / (N * _t(PHI_1) ** N) * _t(PHI_0) ** N)


class LambertToWebMercator:
    """Callable (x, y) -> (X, Y) arrays; not thread-safe (one per thread, like PROJ's)."""

    def __init__(self):
        self.proj = Transformer.from_crs(2154, 3857, always_xy=True)
        self.fallbacks = 0

    def _y_of_rho(self, rho: np.ndarray):
        """Chebyshev coefficients of Y(rho) on [min, max] of `rho` (with the range's middle
        and half-width), or None when the fit misses PROJ by more than the tolerance
        somewhere in that range."""
        lo, hi = float(rho.min()), float(rho.max())
        half = max((hi - lo) / 2, 1.0)
        mid = (lo + hi) / 2
        k = np.arange(4 * DEGREE)
        nodes = np.cos(np.pi * (k + 0.5) / len(k))  # fitted here
        checks = np.linspace(-1, 1, 8 * DEGREE + 1)  # checked there
        u = np.concatenate([nodes, checks])
        # Points on the central meridian at distance rho from the apex.
        _x, y_proj = self.proj.transform(np.full(len(u), X_0), Y_0 + RHO_0 - (mid + half * u))
        coef = np.polynomial.chebyshev.chebfit(nodes, y_proj[: len(k)], DEGREE)
        error = np.abs(np.polynomial.chebyshev.chebval(checks, coef) - y_proj[len(k) :])
        if not np.isfinite(error).all() or error.max() > TOLERANCE_M:
            return None
        return mid, half, coef

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.size == 0:
            return x.copy(), y.copy()
        # The range of rho, from the points' bounding box (rho is the distance to the apex,
        # which lies far north of France: its extremes are at the box's corners or, for
        # the nearest, straight below the apex).
        xmin, xmax, ymin, ymax = x.min(), x.max(), y.min(), y.max()
        dy_box = RHO_0 - (np.array([ymin, ymax]) - Y_0)
        dx_near = 0.0 if xmin <= X_0 <= xmax else min(abs(xmin - X_0), abs(xmax - X_0))
        dx_far = max(abs(xmin - X_0), abs(xmax - X_0))
        fit = None
        if dy_box.min() > 0:  # south of the apex (all of France is)
            fit = self._y_of_rho(np.hypot([dx_near, dx_far], [dy_box.min(), dy_box.max()]))
        if fit is None:
            self.fallbacks += 1
            return self.proj.transform(x, y)
        mid, half, coef = fit
        out_x = np.empty_like(x)
        out_y = np.empty_like(x)
        for start in range(0, x.size, CHUNK):
            # One chunk at a time, so that the work arrays stay in the processor's cache.
            part = slice(start, start + CHUNK)
            dx = x[part] - X_0
            dy = Y_0 + RHO_0 - y[part]
            u = np.hypot(dx, dy)
            np.arctan2(dx, dy, out=dx)
            dx *= A / N
            dx += A * LAMBDA_0
            out_x[part] = dx
            u -= mid
            u /= half
            out_y[part] = _clenshaw(u, coef)
        return out_x, out_y


def _clenshaw(u: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Sum of coef[k]·T_k(u) (Chebyshev polynomials), with in-place array operations."""
    b1 = np.zeros_like(u)
    b2 = np.zeros_like(u)
    tmp = np.empty_like(u)
    u2 = 2 * u
    for ck in coef[:0:-1]:
        np.multiply(u2, b1, out=tmp)
        tmp -= b2
        tmp += ck
        b2, b1, tmp = b1, tmp, b2
    b1 *= u
    b1 -= b2
    b1 += coef[0]
    return b1
