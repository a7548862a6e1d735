"""Aerial photos as IGN delivers them (formats README « Aerial inputs »): folders of dalles —
BD ORTHO RVB and BD ORTHO IRC in JPEG 2000 (IRC: near infrared is band 1), RGE ALTI
elevation at another resolution — made into the three aligned rasters the model reads:
virtual mosaics (GDAL VRT, nothing copied), the infrared and the elevation on the photos'
own grid (the elevation resampled, bilinear).

A photo dalle with no infrared dalle of the same footprint, or a part of the photos no
elevation dalle covers, refuses the run with the list of what is missing.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import rasterio
import shapely
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

DALLE_SUFFIXES = (".jp2", ".tif", ".tiff", ".asc")
MAX_LISTED = 10


class MosaicError(ValueError):
    """The dalles cannot make aligned inputs; the message says what is missing."""


@dataclass(frozen=True)
class Dalle:
    path: Path
    bounds: tuple[float, float, float, float]
    res: float
    crs: object
    count: int


def dalles(folder: Path, what: str) -> list[Dalle]:
    found = sorted(
        p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in DALLE_SUFFIXES
    )
    if not found:
        raise MosaicError(
            _("%(what)s : aucune dalle (.jp2, .tif, .asc) dans %(folder)s")
            % {"what": what, "folder": folder}
        )
    out = []
    for path in found:
        try:
            with rasterio.open(path) as ds:
                out.append(Dalle(path, tuple(ds.bounds), abs(ds.transform.a), ds.crs, ds.count))
        except rasterio.errors.RasterioIOError as exc:
            raise MosaicError(
                _("%(what)s : dalle %(name)s illisible : %(why)s")
                % {"what": what, "name": path.name, "why": exc}
            ) from exc
    crs = {d.crs for d in out}
    if len(crs) > 1:
        raise MosaicError(
            _("%(what)s : dalles dans plusieurs systèmes de coordonnées (%(crs)s)")
            % {"what": what, "crs": ", ".join(map(str, crs))}
        )
    return out


def _gaps(photos: list[Dalle]) -> list[str]:
    """What the report says of the mosaic's holes: its box's share no dalle covers."""
    footprints = [shapely.box(*d.bounds) for d in photos]
    box = shapely.box(*shapely.total_bounds(footprints))
    share = 1 - shapely.union_all(footprints).area / box.area
    if share < 1e-6:
        return []
    return [
        _(
            "RVB : %(share)s %% de l'emprise sans dalle (dalle absente ou hors du territoire) : "
            "non classé"
        )
        % {"share": f"{100 * share:.1f}".replace(".", ",")}
    ]


def _vrt(out: Path, sources: list[Dalle], *options: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        "gdalbuildvrt",
        "-q",
        "-overwrite",
        *options,
        str(out),
        *(str(d.path) for d in sources),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise MosaicError(
            _("gdalbuildvrt a échoué pour %(name)s : %(why)s")
            % {"name": out.name, "why": done.stderr.strip()}
        )
    return out


def _listed(names: list[str]) -> str:
    more = len(names) - MAX_LISTED
    return ", ".join(names[:MAX_LISTED]) + (f" (+{more})" if more > 0 else "")


def _same_footprint(a, b, res: float) -> bool:
    return all(abs(x - y) <= res / 2 for x, y in zip(a, b, strict=True))


@dataclass
class Prepared:
    rgb: Path
    nir: Path
    elevation: Path
    report: list[str]


def prepare(rgb: Path, nir: Path, elevation: Path, workdir: Path) -> Prepared:
    """The three inputs of a run, each a raster or a folder of dalles: folders become VRTs in
    `workdir`, on the grid of the photos. Raises MosaicError with what is missing."""
    rgb, nir, elevation = Path(rgb), Path(nir), Path(elevation)
    report = []
    photos = dalles(rgb, "RVB") if rgb.is_dir() else None
    if photos is not None:
        # The alpha band marks where no dalle lies (a dalle missing, the edge of the
        # territory): those pixels are not classified.
        rgb = _vrt(workdir / "rgb.vrt", photos, "-b", "1", "-b", "2", "-b", "3", "-addalpha")
        report.append(_("RVB : %(n)d dalles") % {"n": len(photos)})
        report.extend(_gaps(photos))
    with rasterio.open(rgb) as ds:
        bounds, res = tuple(ds.bounds), abs(ds.transform.a)
    grid = ["-te", *map(repr, bounds), "-tr", repr(res), repr(abs(res))]
    if nir.is_dir():
        infrared = dalles(nir, "IRC")
        if photos is not None:
            missing = [
                p.path.name
                for p in photos
                if not any(_same_footprint(p.bounds, i.bounds, res) for i in infrared)
            ]
            if missing:
                raise MosaicError(
                    ngettext(
                        "IRC : aucune dalle infrarouge pour %(n)d dalle photo : %(list)s",
                        "IRC : aucune dalle infrarouge pour %(n)d dalles photo : %(list)s",
                        len(missing),
                    )
                    % {"n": len(missing), "list": _listed(missing)}
                )
        # BD ORTHO IRC: near infrared is band 1.
        nir = _vrt(workdir / "nir.vrt", infrared, "-b", "1", *grid, "-r", "bilinear")
        report.append(_("IRC : %(n)d dalles, bande 1") % {"n": len(infrared)})
    if elevation.is_dir():
        heights = dalles(elevation, _("altitude"))
        covered = shapely.union_all([shapely.box(*d.bounds) for d in heights])
        needed = photos or [Dalle(rgb, bounds, res, None, 3)]
        uncovered = [
            p.path.name for p in needed if not covered.buffer(res).contains(shapely.box(*p.bounds))
        ]
        if uncovered:
            raise MosaicError(
                ngettext(
                    "altitude : %(n)d dalle photo non couverte : %(list)s",
                    "altitude : %(n)d dalles photo non couvertes : %(list)s",
                    len(uncovered),
                )
                % {"n": len(uncovered), "list": _listed(uncovered)}
            )
        elevation = _vrt(workdir / "elevation.vrt", heights, "-b", "1", *grid, "-r", "bilinear")
        report.append(
            _("altitude : %(n)d dalles à %(src)s m, rééchantillonnées à %(res)s m")
            % {"n": len(heights), "src": f"{heights[0].res:g}", "res": f"{res:g}"}
        )
    return Prepared(rgb, nir, elevation, report)
