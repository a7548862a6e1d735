from pathlib import Path

from django.core.management.base import CommandError

from apps.ops.backup import BackupError, restore
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = "Restore a backup: the database dump (replacing what is there) and the media archive."

    def add_arguments(self, parser):
        parser.add_argument("dump", type=Path)
        parser.add_argument("--media", type=Path, help="media-<stamp>.tar.gz of the same backup")
        parser.add_argument("--database", help="another database to restore into")

    def handle(self, *args, dump, media, database, **opts):
        try:
            restore(dump, media, database)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"restored {dump}"))
