from django.core.management.base import CommandError

from apps.artif.compute import compute_departement
from apps.landcover.models import Vintage
from apps.ops.commands import DataCommand
from apps.territories.models import Departement


class Command(DataCommand):
    help = (
        "Compute the artificialisation indicators of a département: per commune and vintage "
        "(threshold rule applied), and the M1→M2 flows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--departement", required=True, help="INSEE code (e.g. 99)")

    def handle(self, *args, departement, **opts):
        dep = Departement.objects.filter(code=departement).first()
        if dep is None:
            raise CommandError(f"Département {departement} inconnu.")
        if not Vintage.objects.filter(departement=dep).exists():
            raise CommandError(f"Le département {departement} n'a aucun millésime.")
        if not dep.communes.exists():
            raise CommandError(
                f"Le département {departement} n'a pas de communes : chargez-les d'abord "
                "(manage.py load_territories)."
            )
        self.stdout.write(f"{departement}: computing the artificialisation indicators …")
        result = compute_departement(dep, log=self.stdout.write)
        self.stdout.write(
            self.style.SUCCESS(f"{departement}: indicators in {result['seconds']:.1f} s")
        )
