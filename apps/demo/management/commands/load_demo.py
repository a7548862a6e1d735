"""Generate and load the demo département, and one demo user per role (idempotent)."""

import json
from pathlib import Path

from dateutil.relativedelta import relativedelta
from django.core.management import call_command
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.artif.models import ArtifStat
from apps.campaigns import loops
from apps.campaigns.calendar import create_plan
from apps.campaigns.models import ProductionPlan
from apps.demo.accounts import demo_user
from apps.demo.signalements import EXTRA_CONTRIBUTORS
from apps.demo.signalements import seed as seed_signalements
from apps.inference.ml.synthetic import render_geopackage
from apps.landcover.models import ChangePiece, Vintage
from apps.ops.commands import DataCommand
from apps.territories.models import Commune, Departement, Membership, Organisation, Role
from ocsge import synth

DEMO_PASSWORD = "demo-ocsge-2026"
# username, first name, last name, role, organisation (name, kind)
DEMO_USERS = [
    ("admin", "Alice", "Admin", Role.ADMIN, ("Plateforme OCS GE", Organisation.Kind.IGN)),
    (
        "responsable",
        "Marc",
        "Responsable",
        Role.MANAGER,
        ("IGN — Production OCS GE", Organisation.Kind.IGN),
    ),
    (
        "operateur",
        "Olivia",
        "Opératrice",
        Role.OPERATOR,
        ("IGN — Production OCS GE", Organisation.Kind.IGN),
    ),
    (
        "contributeur",
        "Camille",
        "Contributrice",
        Role.CONTRIBUTOR,
        ("Agence d'urbanisme de démonstration", Organisation.Kind.AGENCE),
    ),
    (
        "relecteur",
        "Romain",
        "Relecteur",
        Role.REVIEWER,
        ("DDT de démonstration", Organisation.Kind.DDT),
    ),
]


# The second demo département, whose M1 comes from the demo model (issue: inference).
INFERENCE_CODE = "97"


class Command(DataCommand):
    help = "Generate (once) and load the demo département with M1 and M2, and the demo users."

    def add_arguments(self, parser):
        parser.add_argument("--dir", type=Path, default=Path("var/data/demo"))
        parser.add_argument("--code", default="99")
        parser.add_argument("--size-km", type=float, default=16.0)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--model",
            type=Path,
            default=Path("var/models/demo_unet.pt"),
            help="the demo model (trained here once when missing)",
        )
        parser.add_argument(
            "--no-inference",
            action="store_true",
            help="skip the second demo département, produced by the demo model",
        )

    def handle(self, *args, dir, code, size_km, seed, model=None, no_inference=False, **opts):
        files = [dir / "ocsge_M1.gpkg", dir / "ocsge_M2.gpkg", dir / "territoires.gpkg"]
        if all(f.exists() for f in files):
            self.stdout.write(f"Demo files already in {dir}.")
        else:
            self.stdout.write(f"Generating the demo département in {dir} …")
            synth.generate(
                dir,
                code=code,
                size_km=size_km,
                seed=seed,
                name="Val-de-Démonstration",
                log=self.stdout.write,
                ign_artif=True,  # as recent deliveries: the territory pages compare
            )
        call_command("load_territories", str(files[2]), stdout=self.stdout)
        for rank, path in (("M1", files[0]), ("M2", files[1])):
            if Vintage.objects.filter(departement__code=code, rank=rank).exists():
                self.stdout.write(f"{code} {rank} already loaded.")
            else:
                call_command(
                    "import_ocsge", str(path), departement=code, rank=rank, stdout=self.stdout
                )
        if not ChangePiece.objects.filter(departement__code=code).exists():
            # Loaded before the change layer existed: build it now.
            call_command("compute_difference", departement=code, stdout=self.stdout)
        if not ArtifStat.objects.filter(commune__departement__code=code).exists():
            # Loaded before the indicators existed: compute them now.
            call_command("compute_indicators", departement=code, stdout=self.stdout)
        self._users(code)
        self._plan(code)
        # A few weeks of a loop: signalements in every status, from three organisations.
        seed_signalements(Departement.objects.get(code=code), DEMO_PASSWORD, self.stdout.write)
        if not no_inference:
            self._inference_demo(dir.parent / "demo_ia", model or Path("var/models/demo_unet.pt"))

    def _inference_demo(self, folder, model):
        """Département 97: its M1 produced by the demo model from synthetic aerial photos
        (trained once, ~4 min on 2 cores; its held-out mIoU is written next to it)."""
        from apps.inference.models import InferenceRun, ModelVersion
        from apps.inference.orchestration import start
        from apps.inference.registry import register_general

        code = INFERENCE_CODE
        if Vintage.objects.filter(departement__code=code, rank="M1").exists():
            self.stdout.write(f"{code} M1 (from the model) already loaded.")
            return
        if not model.exists():
            self.stdout.write("Training the demo model (once) …")
            call_command("train_demo_model", out=model, stdout=self.stdout)
        elif not ModelVersion.objects.filter(checkpoint=str(model.resolve())).exists():
            report = model.with_suffix(".json")
            register_general(
                model, "Démo U-Net", json.loads(report.read_text()) if report.exists() else {}
            )
        if not (folder / "ocsge_M1.gpkg").exists():
            synth.generate(
                folder,
                code=code,
                size_km=4.0,
                seed=7,
                name="Val-d'Inférence (démo IA)",
                log=self.stdout.write,
            )
        call_command("load_territories", str(folder / "territoires.gpkg"), stdout=self.stdout)
        if not (folder / "imagery" / "rgb.tif").exists():
            render_geopackage(
                folder / "ocsge_M1.gpkg", folder / "imagery", res=2.5, seed=3, log=self.stdout.write
            )
        departement = Departement.objects.get(code=code)
        imagery = folder / "imagery"
        run = start(
            InferenceRun(
                departement=departement,
                rank="M1",
                millesime=timezone.localdate().year,
                rgb=str(imagery / "rgb.tif"),
                nir=str(imagery / "nir.tif"),
                elevation=str(imagery / "elevation.tif"),
                checkpoint=str(model),
                block_px=1024,
            )
        )
        run.refresh_from_db()
        self.stdout.write(
            f"{code} M1 by the demo model: run {run.pk} {run.get_state_display()} — {run.message}"
        )
        for name in ("IGN — Production OCS GE", "DDT de démonstration"):
            org = Organisation.objects.filter(name=name).first()
            if org:
                org.departements.add(departement)

    def _plan(self, code):
        """A production plan started 7½ months ago: M1's loop is over, M2's is open, so
        contributors can file signalements at once."""
        departement = Departement.objects.get(code=code)
        if not ProductionPlan.objects.filter(departement=departement).exists():
            start = timezone.localdate() - relativedelta(months=7, days=15)
            plan = create_plan(departement, start)
            # What the calendar says is past happened on time.
            plan.milestones.filter(planned_date__lte=timezone.localdate()).update(
                actual_date=F("planned_date")
            )
            self.stdout.write(f"Production plan from {start} (M2 feedback loop open).")
        loops.sync()

    @transaction.atomic
    def _users(self, code):
        departement = Departement.objects.get(code=code)
        lines = []
        for username, first, last, role, (org_name, kind) in DEMO_USERS:
            org, _ = Organisation.objects.get_or_create(name=org_name, defaults={"kind": kind})
            if kind == Organisation.Kind.AGENCE:
                org.communes.set(Commune.objects.filter(departement=departement))
            elif role != Role.ADMIN:
                org.departements.add(departement)
            user = demo_user(username, first, last, DEMO_PASSWORD)
            # The Django admin is the platform admin's alone; production leads manage
            # their départements from the application's own pages (members, calendar).
            user.is_superuser = user.is_staff = role == Role.ADMIN
            user.save()
            user.user_permissions.clear()
            Membership.objects.update_or_create(
                user=user, organisation=org, defaults={"role": role}
            )
            lines.append(f"  {username:<14} {role.label:<32} {org_name}")
        for username, _first, _last, kind in EXTRA_CONTRIBUTORS:
            lines.append(
                f"  {username:<14} {Role.CONTRIBUTOR.label:<32} "
                f"({Organisation.Kind(kind).label}, created with the demo's signalements)"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Demo users (password: {DEMO_PASSWORD}):\n" + "\n".join(lines))
        )
