"""IGN deliveries as users download them (formats README): an archive (`.7z`, `.zip`), its
extracted folder (layers at any depth), a GeoPackage or a Shapefile — and the named layers
found in them. Archives are extracted (the wanted layers' files only) into a temporary
folder removed afterwards, with limits: no absolute path, no `..`, no link, at most
IMPORT_MAX_EXTRACTED_BYTES in all and a compression ratio of at most MAX_RATIO (a « zip
bomb » is refused before a byte is written).

Used by the OCS GE import (`landcover/delivery.py`) and by `load_territories` (ADMIN
EXPRESS).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils.translation import gettext as _

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
SQLITE = b"SQLite format 3\x00"
SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
ZIP = b"PK\x03\x04"
MAX_RATIO = 100  # uncompressed / compressed, over the files extracted
MAX_MEMBERS = 100_000


class DeliveryRefused(Exception):
    """The delivery cannot be read: the message names the file and the problem."""


@dataclass(frozen=True)
class Layer:
    path: Path  # what GDAL opens
    name: str  # the layer's name in it

    def __str__(self):
        return self.path.name if self.path.stem == self.name else f"{self.path.name}:{self.name}"


@dataclass
class Found:
    """The wanted layers found in a delivery, by upper-case name (several when repeated)."""

    layers: dict[str, list[Layer]]
    source: str  # the name the user gave (archive, folder or file)
    root: Path  # the folder searched (relative paths in messages)
    seen: list[Layer]  # every layer found, wanted or not (for the refusal's message)

    def one(self, name: str, required: bool = True) -> Layer | None:
        found = self.layers.get(name, [])
        if len(found) > 1:
            raise DeliveryRefused(
                _("Plusieurs couches %(layer)s dans %(source)s : %(found)s.")
                % {
                    "layer": name,
                    "source": self.source,
                    "found": ", ".join(self._where(layer) for layer in found),
                }
            )
        if not found and required:
            everything = ", ".join(str(layer) for layer in self.seen)
            raise DeliveryRefused(
                _("Aucune couche %(layer)s dans %(source)s (couches trouvées : %(found)s).")
                % {"layer": name, "source": self.source, "found": everything or _("aucune")}
            )
        return found[0] if found else None

    def _where(self, layer: Layer) -> str:
        try:
            return str(layer.path.relative_to(self.root))
        except ValueError:
            return str(layer)


@contextlib.contextmanager
def layers_of(path, names: tuple[str, ...], kinds: str) -> Iterator[Found]:
    """The layers `names` (matched without regard to case) in the delivery at `path`.
    `kinds`: what the user may give, for the refusal of anything else."""
    path = Path(path)
    names = tuple(n.upper() for n in names)
    if not path.exists():
        raise DeliveryRefused(_("Fichier introuvable : %s") % path)
    if path.is_dir():
        yield _found(sorted(p for p in path.rglob("*") if p.is_file()), names, path.name, path)
        return
    head = _head(path)
    if head.startswith(SEVEN_ZIP) or head.startswith(ZIP):
        with tempfile.TemporaryDirectory(prefix="ocsge-import-") as folder:
            root = Path(folder)
            _extract(path, root, names, seven=head.startswith(SEVEN_ZIP))
            files = sorted(p for p in root.rglob("*") if p.is_file())
            yield _found(files, names, path.name, root)
        return
    suffix = path.suffix.lower()
    if suffix == ".shp" or (suffix == ".gpkg" and _head(path, 16) == SQLITE):
        # The file itself, and the other wanted layers in files beside it.
        siblings = [
            p for p in sorted(path.parent.iterdir()) if p != path and p.stem.upper() in names
        ]
        yield _found([path, *siblings], names, path.name, path.parent)
        return
    if suffix == ".gpkg":
        raise DeliveryRefused(_("%s n'est pas un GeoPackage (en-tête SQLite absent).") % path.name)
    raise DeliveryRefused(_("%(file)s n'est ni %(kinds)s.") % {"file": path.name, "kinds": kinds})


def _head(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _layers(path: Path) -> list[str]:
    from ocsge.ogr import pyogrio  # here: 0.1 s of imports no page start should pay

    try:
        return [str(name) for name, _geom in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise DeliveryRefused(
            _("%(file)s illisible : %(why)s") % {"file": path.name, "why": exc}
        ) from exc


def _found(files: list[Path], names: tuple[str, ...], source: str, root: Path) -> Found:
    layers: dict[str, list[Layer]] = {}
    seen: list[Layer] = []
    for path in files:
        if path.is_symlink():
            continue
        suffix = path.suffix.lower()
        if suffix == ".shp":
            candidates = [Layer(path, path.stem)]
        elif suffix == ".gpkg" and _head(path, 16) == SQLITE:
            candidates = [Layer(path, name) for name in _layers(path)]
        else:
            continue
        seen.extend(candidates)
        for layer in candidates:
            if layer.name.upper() in names:
                layers.setdefault(layer.name.upper(), []).append(layer)
    return Found(layers, source, root, seen)


# --- archives ----------------------------------------------------------------------------


def _wanted(name: str, names: tuple[str, ...]) -> bool:
    """Only the layers' files are extracted (not the supplements: PDF, CSV…)."""
    path = PurePosixPath(name)
    suffix = path.suffix.lower()
    return suffix == ".gpkg" or (suffix in SHAPEFILE_PARTS and path.stem.upper() in names)


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
    if total > settings.IMPORT_MAX_EXTRACTED_BYTES:
        raise DeliveryRefused(
            _("%(archive)s se décompresse en %(gb).1f Go : %(max).0f Go au plus.")
            % {
                "archive": archive.name,
                "gb": total / 2**30,
                "max": settings.IMPORT_MAX_EXTRACTED_BYTES / 2**30,
            }
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


def _extract(archive: Path, folder: Path, names: tuple[str, ...], seven: bool):
    try:
        if seven:
            _extract_7z(archive, folder, names)
        else:
            _extract_zip(archive, folder, names)
    except DeliveryRefused:
        raise
    except Exception as exc:  # a damaged archive fails in the library, in many ways
        raise DeliveryRefused(
            _("Archive %(archive)s illisible : %(why)s") % {"archive": archive.name, "why": exc}
        ) from exc


def _extract_zip(archive: Path, folder: Path, names: tuple[str, ...]):
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DeliveryRefused(_("%s contient trop de fichiers.") % archive.name)
        chosen = []
        for info in infos:
            name = _safe(info.filename, archive.name)
            link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if not info.is_dir() and not link and _wanted(name, names):
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


def _extract_7z(archive: Path, folder: Path, names: tuple[str, ...]):
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as z:
        infos = z.list()
        if len(infos) > MAX_MEMBERS:
            raise DeliveryRefused(_("%s contient trop de fichiers.") % archive.name)
        chosen = []
        for info in infos:
            name = _safe(info.filename, archive.name)
            if info.is_directory or getattr(info, "is_symlink", False) or not _wanted(name, names):
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
