"""Which polygons lie inside a territory's outline, fast: a grid of the cells wholly inside
it answers most polygons by their bounding box alone (constant time each); GEOS tests only
the polygons near the outline's boundary. Used by the import (« every polygon inside the
département »)."""

import numpy as np
import shapely


class InnerCells:
    """A grid over the outline's bounding box and which of its cells lie wholly inside the
    outline, with a summed-area table so that any box of cells is tested in constant time.

    The cells the outline's boundary passes through are found from points every half cell
    along it; with their neighbours they are "near". Each 4-connected group of the other
    cells meets no boundary, so it lies wholly inside or wholly outside: one point tells."""

    MAX_CELLS = 512  # per side

    def __init__(self, outline):
        xmin, ymin, xmax, ymax = shapely.bounds(outline)
        self.cell = max(xmax - xmin, ymax - ymin, 1.0) / (self.MAX_CELLS - 4)
        self.origin = (xmin - 2 * self.cell, ymin - 2 * self.cell)
        nx = int(np.ceil((xmax - xmin) / self.cell)) + 4
        ny = int(np.ceil((ymax - ymin) / self.cell)) + 4
        x0, y0 = self.origin
        boundary = shapely.segmentize(shapely.boundary(outline), self.cell / 2)
        along = np.floor((shapely.get_coordinates(boundary) - (x0, y0)) / self.cell)
        edge = np.zeros((ny, nx), dtype=bool)
        edge[
            np.clip(along[:, 1], 0, ny - 1).astype(int), np.clip(along[:, 0], 0, nx - 1).astype(int)
        ] = True
        from scipy import ndimage  # here: scipy's import is a tenth of a second

        near = ndimage.binary_dilation(edge, structure=np.ones((3, 3), dtype=bool))
        groups, n_groups = ndimage.label(~near)
        labels, first = np.unique(groups.ravel(), return_index=True)
        gy, gx = np.divmod(first, nx)
        inside = np.zeros(n_groups + 1, dtype=bool)
        centre_x, centre_y = x0 + (gx + 0.5) * self.cell, y0 + (gy + 0.5) * self.cell
        inside[labels] = shapely.contains_xy(outline, centre_x, centre_y)
        inner = inside[groups] & (groups > 0)
        self.sat = np.zeros((ny + 1, nx + 1), dtype=np.int64)
        self.sat[1:, 1:] = inner.cumsum(0).cumsum(1)
        self.shape = (ny, nx)

    def covers_boxes(self, bounds: np.ndarray) -> np.ndarray:
        """For each (xmin, ymin, xmax, ymax): lies it wholly in covered cells?"""
        ny, nx = self.shape
        x0, y0 = self.origin
        with np.errstate(invalid="ignore"):
            ix0 = np.floor((bounds[:, 0] - x0) / self.cell)
            iy0 = np.floor((bounds[:, 1] - y0) / self.cell)
            ix1 = np.floor((bounds[:, 2] - x0) / self.cell)
            iy1 = np.floor((bounds[:, 3] - y0) / self.cell)
        ok = (ix0 >= 0) & (iy0 >= 0) & (ix1 < nx) & (iy1 < ny)  # False for NaN too
        ix0, iy0, ix1, iy1 = (np.where(ok, v, 0).astype(np.int64) for v in (ix0, iy0, ix1, iy1))
        sat = self.sat
        count = sat[iy1 + 1, ix1 + 1] - sat[iy0, ix1 + 1] - sat[iy1 + 1, ix0] + sat[iy0, ix0]
        return ok & (count == (ix1 - ix0 + 1) * (iy1 - iy0 + 1))
