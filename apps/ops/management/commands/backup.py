from pathlib import Path

from django.core.management.base import CommandError

from apps.ops.backup import BackupError, backup
from apps.ops.commands import DataCommand


class Command(DataCommand):
    help = "Back up the database (pg_dump, custom format) and the media folder."

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=Path("var/backups"))

    def handle(self, *args, dir, **opts):
        try:
            dump, media = backup(dir)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{dump}\n{media}"))
