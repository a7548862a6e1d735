"""The operators' inference page: start a run on a département, follow it live."""

import os
import re
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from apps.landcover.models import ModelClass, Vintage
from apps.landcover.scoping import visible_departements
from apps.territories.permissions import Right, may

from . import finetune, orchestration
from .models import InferenceRun, ModelVersion
from .registry import class_ious


def can_run(user, departement) -> bool:
    return may(user, Right.RUN_INFERENCE, departement)


RASTERS = (".tif", ".tiff", ".vrt", ".jp2", ".asc")
SCAN_DEPTH = 5
SCAN_MAX = 5000  # directory entries read at most
LISTED_TILES = 20  # a folder with more rasters is offered as a folder of dalles only


def data_choices() -> tuple[list, list]:
    """What the server's data folder (DATA_DIR) offers, named relative to it: the rasters
    and the folders of dalles (two rasters or more; dalle by dalle too up to LISTED_TILES), and
    the checkpoints (.pt). Grouped by folder for the page's lists; bounded in depth and in
    entries read, whatever the folder holds."""
    root = Path(settings.DATA_DIR)
    rasters, checkpoints = {}, {}
    seen = 0

    def walk(folder: Path, depth: int):
        nonlocal seen
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        seen += len(entries)
        files = [e for e in entries if e.is_file() and not e.name.startswith(".")]
        tiles = [e for e in files if e.name.lower().endswith(RASTERS)]
        where = str(folder.relative_to(root)) if folder != root else "."
        if len(tiles) >= 2 and folder != root:
            label = ngettext("%(name)s/ (%(n)d dalle)", "%(name)s/ (%(n)d dalles)", len(tiles))
            rasters.setdefault(str(folder.parent.relative_to(root)), []).append(
                (where, label % {"name": folder.name, "n": len(tiles)})
            )
        # Each raster too, unless the folder is a dalle set too large to list one by one.
        for e in tiles if len(tiles) <= LISTED_TILES or folder == root else []:
            rasters.setdefault(where, []).append((_relative(root, e.path), e.name))
        for e in files:
            if e.name.endswith(".pt"):
                checkpoints.setdefault(where, []).append((_relative(root, e.path), e.name))
        if depth < SCAN_DEPTH and seen < SCAN_MAX:
            for e in entries:
                if e.is_dir(follow_symlinks=False) and not e.name.startswith("."):
                    walk(Path(e.path), depth + 1)

    if root.is_dir():
        walk(root, 0)
    return _grouped(rasters), _grouped(checkpoints)


def _relative(root: Path, path: str) -> str:
    return str(Path(path).relative_to(root))


def _grouped(found: dict) -> list:
    """Django's grouped choices: [(folder, [(value, label), …]), …], a leading empty one."""
    return [("", "—")] + [(folder, sorted(items)) for folder, items in sorted(found.items())]


class RunForm(forms.Form):
    rank = forms.ChoiceField(label=gettext_lazy("Rang"), choices=Vintage.Rank.choices)
    millesime = forms.IntegerField(label=gettext_lazy("Millésime"), min_value=1950, max_value=2100)
    rgb = forms.ChoiceField(label=gettext_lazy("Raster RVB, ou dossier des dalles BD ORTHO"))
    nir = forms.ChoiceField(
        label=gettext_lazy("Raster proche infrarouge, ou dossier des dalles BD ORTHO IRC")
    )
    elevation = forms.ChoiceField(
        label=gettext_lazy("Raster d'élévation, ou dossier des dalles RGE ALTI")
    )
    checkpoint = forms.ChoiceField(
        label=gettext_lazy("Modèle (checkpoint)"),
        required=False,
        help_text=gettext_lazy("Vide : le modèle retenu dans le registre pour ce département."),
    )
    block_px = forms.IntegerField(
        label=gettext_lazy("Taille des blocs (px)"), initial=8192, min_value=512, max_value=32768
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Chosen from what the data folder holds: no server path is typed, or shown.
        rasters, checkpoints = data_choices()
        for name in ("rgb", "nir", "elevation"):
            self.fields[name].choices = rasters
            self.fields[name].error_messages["invalid_choice"] = _(
                "Choisissez un fichier ou un dossier de la liste."
            )
        self.fields["checkpoint"].choices = checkpoints
        self.fields["checkpoint"].error_messages["invalid_choice"] = _(
            "Choisissez un modèle de la liste."
        )

    def _under_data_dir(self, name):
        """The chosen entry as a path of the data folder (DATA_DIR); refused if it left it
        (a link) or disappeared since the page was shown."""
        root = Path(settings.DATA_DIR).resolve()
        path = (root / self.cleaned_data[name]).resolve()
        if root not in path.parents or not path.exists():
            raise forms.ValidationError(_("Ce fichier n'est plus dans le dossier de données."))
        return str(path)

    def clean_rgb(self):
        return self._under_data_dir("rgb")

    def clean_nir(self):
        return self._under_data_dir("nir")

    def clean_elevation(self):
        return self._under_data_dir("elevation")

    def clean_checkpoint(self):
        if not self.cleaned_data.get("checkpoint"):
            return ""
        return self._under_data_dir("checkpoint")


def without_server_paths(message: str) -> str:
    """A refusal as the page shows it: paths of the data folder relative to it, any other
    absolute path reduced to its file name."""
    root = str(Path(settings.DATA_DIR).resolve())
    message = message.replace(root + os.sep, "").replace(str(settings.DATA_DIR) + os.sep, "")
    return re.sub(r"(?<![\w.])/(?:[^\s/:]+/)+([^\s/:]+)", r"\1", message)


def _departement(request, code):
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not can_run(request.user, departement):
        raise PermissionDenied
    return departement


def runs_page(request, code):
    departement = _departement(request, code)
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = InferenceRun(departement=departement, created_by=request.user, **form.cleaned_data)
        try:
            orchestration.start(run)
        except orchestration.RunRefused as exc:
            form.add_error(None, without_server_paths(str(exc)))
        else:
            messages.success(request, _("Inférence lancée."))
            return redirect("inference:runs", code=code)
    runs = list(
        InferenceRun.objects.filter(departement=departement).select_related(
            "vintage", "model_version"
        )[:20]
    )
    versions = list(
        ModelVersion.objects.filter(Q(departement=departement) | Q(departement__isnull=True))
        .select_related("parent")
        .order_by("-created_at", "-pk")[:20]
    )
    labels = dict(ModelClass.objects.values_list("id", "label"))
    for run in runs:
        run.shown_message = without_server_paths(run.message)
        run.ious = class_ious(run.model_version, labels) if run.model_version else []
    for version in versions:
        version.ious = class_ious(version, labels)
    return render(
        request,
        "inference/runs.html",
        {
            "departement": departement,
            "form": form,
            "runs": runs,
            "versions": versions,
            "current": ModelVersion.current_for(departement),
            "can_finetune": may(request.user, Right.FINETUNE, departement),
        },
    )


@require_POST
def finetune_page(request, code):
    """A production lead fine-tunes the model on the département's corrections (a task on
    the `gpu` queue); the registry on the page follows it."""
    departement = get_object_or_404(visible_departements(request.user), code=code)
    if not may(request.user, Right.FINETUNE, departement):
        raise PermissionDenied
    try:
        version = finetune.start(departement, user=request.user)
    except finetune.FinetuneRefused as exc:
        messages.error(request, _("Affinage impossible : %(why)s.") % {"why": exc})
    else:
        messages.success(
            request,
            _("Affinage lancé : « %(name)s » apparaît dans le registre une fois mesuré.")
            % {"name": version.name},
        )
    return redirect("inference:runs", code=code)


def run_state(request, code, pk):
    """Polled by the page: the run's progress."""
    departement = _departement(request, code)
    run = get_object_or_404(InferenceRun, pk=pk, departement=departement)
    return JsonResponse(
        {
            "id": run.pk,
            "state": run.state,
            "state_label": run.get_state_display(),
            "blocks_done": run.blocks_done,
            "blocks_total": run.blocks_total,
            "progress": run.progress,
            "message": without_server_paths(run.message),
            "vintage": run.vintage_id,
        }
    )


@require_POST
def run_action(request, code, pk, action):
    departement = _departement(request, code)
    run = get_object_or_404(InferenceRun, pk=pk, departement=departement)
    if action == "cancel":
        orchestration.cancel(run)
        messages.success(request, _("Inférence annulée."))
    elif action == "rerun":
        try:
            n = orchestration.rerun_failed(run)
        except orchestration.RunRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, ngettext("%(n)d bloc relancé.", "%(n)d blocs relancés.", n) % {"n": n}
            )
    else:
        raise PermissionDenied
    return redirect("inference:runs", code=code)
