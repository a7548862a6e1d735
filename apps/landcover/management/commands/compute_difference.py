import time

from django.core.management.base import CommandError

from apps.landcover.difference import compute_difference, vintage_pair
from apps.ops.commands import DataCommand
from apps.territories.models import Departement


class Command(DataCommand):
    help = "Rebuild the M1→M2 change layer (difference pieces) of a département."

    def add_arguments(self, parser):
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 99)")

    def handle(self, *args, departement, **opts):
        dep = Departement.objects.filter(code=departement).first()
        if dep is None:
            raise CommandError(f"Département {departement} inconnu.")
        if vintage_pair(dep) is None:
            raise CommandError(
                f"Le département {departement} n'a pas ses deux millésimes M1 et M2."
            )
        self.stdout.write(f"{departement}: computing the M1→M2 change layer …")
        start = time.perf_counter()
        pieces = compute_difference(dep)
        self.stdout.write(
            self.style.SUCCESS(
                f"{departement}: {pieces} change pieces in {time.perf_counter() - start:.1f} s"
            )
        )
