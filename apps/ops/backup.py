"""Backups: the database with pg_dump (custom format: every table, PostGIS included) and the
media folder (attachments, imports, publications) as a tar archive, side by side."""

import subprocess
import tarfile
import time
from pathlib import Path

from django.conf import settings


class BackupError(RuntimeError):
    pass


def dsn(name: str | None = None) -> str:
    db = settings.DATABASES["default"]
    parts = [
        f"dbname={name or db['NAME']}",
        f"host={db.get('HOST') or '127.0.0.1'}",
        f"port={db.get('PORT') or 5432}",
        f"user={db.get('USER') or 'postgres'}",
    ]
    if db.get("PASSWORD"):
        parts.append(f"password={db['PASSWORD']}")
    return " ".join(parts)


def _run(cmd: list[str]):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {result.stderr.strip()[-2000:]}")


def backup(folder: Path) -> tuple[Path, Path]:
    """Write ocsge-<stamp>.dump and media-<stamp>.tar.gz into `folder`; return both."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dump = folder / f"ocsge-{stamp}.dump"
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", dsn()])
    media = folder / f"media-{stamp}.tar.gz"
    root = Path(settings.MEDIA_ROOT)
    with tarfile.open(media, "w:gz") as tar:
        if root.exists():
            tar.add(root, arcname="media")
    return dump, media


def restore(dump: Path, media: Path | None = None, database: str | None = None):
    """Restore a dump into `database` (default: the configured one, replacing its objects),
    and the media archive into MEDIA_ROOT."""
    if not dump.is_file():
        raise BackupError(f"{dump} not found")
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={dsn(database)}",
            str(dump),
        ]
    )
    if media is not None:
        root = Path(settings.MEDIA_ROOT)
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(media, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.name.startswith("media") or ".." in Path(member.name).parts:
                    raise BackupError(f"unexpected path in {media.name}: {member.name}")
            tar.extractall(root.parent / "_restore", filter="data")
        extracted = root.parent / "_restore" / "media"
        if extracted.exists():
            for path in extracted.rglob("*"):
                target = root / path.relative_to(extracted)
                if path.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    path.replace(target)
