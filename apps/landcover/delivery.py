"""An OCS GE delivery as users have it, opened for the import (formats README « OCS GE »).

`opened(path)` accepts the `.7z` as downloaded from IGN's Géoplateforme, a `.zip`, the
extracted folder (at any depth), a GeoPackage holding OCCUPATION_SOL (and maybe
ZONE_CONSTRUITE), or a Shapefile `OCCUPATION_SOL.shp` (OCS GE 1.x); ZONE_CONSTRUITE is
found beside OCCUPATION_SOL. Archives are extracted — only the layers' files — into a
temporary folder removed afterwards, with limits: no absolute path, no `..`, no link, at
most MAX_EXTRACTED_BYTES in all and a compression ratio of at most MAX_RATIO (a « zip
bomb » is refused before a byte is written).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyogrio
import pyogrio.errors
from django.conf import settings
from django.utils.translation import gettext as _

OCCUPATION = "OCCUPATION_SOL"
ZONES = "ZONE_CONSTRUITE"
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
SQLITE = b"SQLite format 3\x00"
SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
ZIP = b"PK\x03\x04"
# What an archive may unpack to (the layers' files only): a département's OCS GE is a few GB.
MAX_EXTRACTED_BYTES = settings.IMPORT_MAX_EXTRACTED_BYTES
MAX_RATIO = 100  # uncompressed / compressed, over the files extracted
MAX_MEMBERS = 100_000


class DeliveryRefused(Exception):
    """The delivery cannot be read as OCS GE: the message names the file and the problem."""


@dataclass(frozen=True)
class Layer:
    path: Path  # what GDAL opens
    name: str  # the layer's name in it

    def __str__(self):
        return self.path.name if self.path.stem == self.name else f"{self.path.name}:{self.name}"


@dataclass(frozen=True)
class Delivery:
    occupation: Layer
    zones: Layer | None
    source: str  # the name the user gave (archive, folder or file)


@contextlib.contextmanager
def opened(path) -> Iterator[Delivery]:
    path = Path(path)
    if not path.exists():
        raise DeliveryRefused(_("Fichier introuvable : %s") % path)
    if path.is_dir():
        yield _find(path, path.name)
        return
    head = _head(path)
    if head.startswith(SEVEN_ZIP) or head.startswith(ZIP):
        with tempfile.TemporaryDirectory(prefix="ocsge-import-") as folder:
            _extract(path, Path(folder), seven=head.startswith(SEVEN_ZIP))
            yield _find(Path(folder), path.name)
        return
    if path.suffix.lower() == ".shp":
        yield _beside(Layer(path, path.stem), path.name)
        return
    if head.startswith(SQLITE[:8]) and _head(path, 16) == SQLITE:
        yield _from_geopackage(path)
        return
    if path.suffix.lower() == ".gpkg":
        raise DeliveryRefused(_("%s n'est pas un GeoPackage (en-tête SQLite absent).") % path.name)
    raise DeliveryRefused(
        _(
            "%s n'est ni une archive de livraison (.7z, .zip), ni un GeoPackage, ni un "
            "Shapefile OCCUPATION_SOL.shp."
        )
        % path.name
    )


def _head(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _layers(path: Path) -> list[str]:
    try:
        return [str(name) for name, _geom in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise DeliveryRefused(
            _("%(file)s illisible : %(why)s") % {"file": path.name, "why": exc}
        ) from exc


def _from_geopackage(path: Path) -> Delivery:
    layers = _layers(path)
    by_upper = {name.upper(): name for name in layers}
    if OCCUPATION not in by_upper:
        raise DeliveryRefused(
            _("Couche %(layer)s absente de %(file)s ; couches trouvées : %(found)s.")
            % {"layer": OCCUPATION, "file": path.name, "found": ", ".join(layers) or _("aucune")}
        )
    occupation = Layer(path, by_upper[OCCUPATION])
    if ZONES in by_upper:
        return Delivery(occupation, Layer(path, by_upper[ZONES]), path.name)
    return _beside(occupation, path.name)


def _beside(occupation: Layer, source: str) -> Delivery:
    """ZONE_CONSTRUITE in a file of its own beside OCCUPATION_SOL (GeoPackage or Shapefile)."""
    found = [
        layer
        for candidate in sorted(occupation.path.parent.iterdir())
        if candidate != occupation.path and candidate.stem.upper() == ZONES
        for layer in _candidate_layers(candidate)
        if layer.name.upper() == ZONES
    ]
    if len(found) > 1:
        raise DeliveryRefused(
            _("Plusieurs couches %(layer)s : %(found)s.")
            % {"layer": ZONES, "found": ", ".join(map(str, found))}
        )
    return Delivery(occupation, found[0] if found else None, source)


def _candidate_layers(path: Path) -> list[Layer]:
    suffix = path.suffix.lower()
    if suffix == ".shp":
        return [Layer(path, path.stem)]
    if suffix == ".gpkg" and _head(path, 16) == SQLITE:
        return [Layer(path, name) for name in _layers(path)]
    return []


def _find(folder: Path, source: str) -> Delivery:
    """The OCCUPATION_SOL and ZONE_CONSTRUITE layers anywhere under `folder`."""
    layers = [
        layer
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
        for layer in _candidate_layers(path)
    ]
    occupation = [layer for layer in layers if layer.name.upper() == OCCUPATION]
    zones = [layer for layer in layers if layer.name.upper() == ZONES]
    if not occupation:
        found = ", ".join(str(layer) for layer in layers) or _("aucune")
        raise DeliveryRefused(
            _("Aucune couche %(layer)s dans %(source)s (couches trouvées : %(found)s).")
            % {"layer": OCCUPATION, "source": source, "found": found}
        )
    for kind, found in ((OCCUPATION, occupation), (ZONES, zones)):
        if len(found) > 1:
            raise DeliveryRefused(
                _("Plusieurs couches %(layer)s dans %(source)s : %(found)s.")
                % {
                    "layer": kind,
                    "source": source,
                    "found": ", ".join(str(p.path.relative_to(folder)) for p in found),
                }
            )
    return Delivery(occupation[0], zones[0] if zones else None, source)


# --- archives ----------------------------------------------------------------------------


def _wanted(name: str) -> bool:
    """Only the layers' files are extracted (not the supplements: PDF, CSV…)."""
    path = PurePosixPath(name)
    suffix = path.suffix.lower()
    return suffix == ".gpkg" or (
        suffix in SHAPEFILE_PARTS and path.stem.upper() in (OCCUPATION, ZONES)
    )


def _safe(name: str, archive: str) -> str:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DeliveryRefused(
            _("%(archive)s contient un chemin refusé : %(name)s")
            % {"archive": archive, "name": name}
        )
    return str(path)


def _check_sizes(archive: Path, members: list[tuple[str, int, int]]):
    """members: (name, uncompressed, compressed) of the files to extract."""
    if not members:
        return
    total = sum(size for _n, size, _c in members)
    packed = max(1, sum(c for _n, _s, c in members))
    if total > MAX_EXTRACTED_BYTES:
        raise DeliveryRefused(
            _("%(archive)s se décompresse en %(gb).1f Go : %(max).0f Go au plus.")
            % {"archive": archive.name, "gb": total / 2**30, "max": MAX_EXTRACTED_BYTES / 2**30}
        )
    if total / packed > MAX_RATIO:
        raise DeliveryRefused(
            _("%(archive)s : taux de compression de %(ratio).0f pour 1, suspect (%(max)d au plus).")
            % {"archive": archive.name, "ratio": total / packed, "max": MAX_RATIO}
        )
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if total > free:
        raise DeliveryRefused(
            _("%(archive)s se décompresse en %(gb).1f Go : %(free).1f Go libres seulement.")
            % {"archive": archive.name, "gb": total / 2**30, "free": free / 2**30}
        )


def _extract(archive: Path, folder: Path, seven: bool):
    try:
        if seven:
            _extract_7z(archive, folder)
        else:
            _extract_zip(archive, folder)
    except DeliveryRefused:
        raise
    except Exception as exc:  # a damaged archive fails in the library, in many ways
        raise DeliveryRefused(
            _("Archive %(archive)s illisible : %(why)s") % {"archive": archive.name, "why": exc}
        ) from exc


def _extract_zip(archive: Path, folder: Path):
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DeliveryRefused(_("%s contient trop de fichiers.") % archive.name)
        chosen = []
        for info in infos:
            name = _safe(info.filename, archive.name)
            link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if not info.is_dir() and not link and _wanted(name):
                chosen.append((info, name))
        _check_sizes(archive, [(n, i.file_size, i.compress_size) for i, n in chosen])
        for info, name in chosen:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as out:
                _copy_bounded(src, out, info.file_size, archive)


def _copy_bounded(src, out, declared: int, archive: Path):
    """Copy, refusing a member that grows past its declared size (a forged header)."""
    written = 0
    while chunk := src.read(1 << 20):
        written += len(chunk)
        if written > declared:
            raise DeliveryRefused(_("%s : un fichier dépasse sa taille déclarée.") % archive.name)
        out.write(chunk)


def _extract_7z(archive: Path, folder: Path):
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as z:
        infos = z.list()
        if len(infos) > MAX_MEMBERS:
            raise DeliveryRefused(_("%s contient trop de fichiers.") % archive.name)
        chosen = []
        for info in infos:
            name = _safe(info.filename, archive.name)
            if info.is_directory or getattr(info, "is_symlink", False) or not _wanted(name):
                continue
            chosen.append((info.filename, name, info.uncompressed, info.compressed))
        # 7z compresses files in solid blocks: a member's own packed size is often unknown.
        packed = archive.stat().st_size
        sizes = [(n, u, 0) for _f, n, u, _c in chosen]
        if sizes:
            sizes[0] = (sizes[0][0], sizes[0][1], packed)
        _check_sizes(archive, sizes)
        if chosen:
            z.extract(path=folder, targets=[f for f, *_ in chosen])
    for path in folder.rglob("*"):
        if path.is_symlink():
            raise DeliveryRefused(_("%s contient un lien symbolique.") % archive.name)
