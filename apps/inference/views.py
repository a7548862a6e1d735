"""The operators' inference page: start a run on a département, follow it live."""

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

from apps.landcover.models import Vintage
from apps.landcover.scoping import visible_departements
from apps.territories.permissions import Right, may

from . import finetune, orchestration
from .models import InferenceRun, ModelVersion


def can_run(user, departement) -> bool:
    return may(user, Right.RUN_INFERENCE, departement)


class RunForm(forms.Form):
    rank = forms.ChoiceField(label=gettext_lazy("Rang"), choices=Vintage.Rank.choices)
    millesime = forms.IntegerField(label=gettext_lazy("Millésime"), min_value=1950, max_value=2100)
    rgb = forms.CharField(label=gettext_lazy("Raster RVB, ou dossier des dalles BD ORTHO"))
    nir = forms.CharField(
        label=gettext_lazy("Raster proche infrarouge, ou dossier des dalles BD ORTHO IRC")
    )
    elevation = forms.CharField(
        label=gettext_lazy("Raster d'élévation, ou dossier des dalles RGE ALTI")
    )
    checkpoint = forms.CharField(
        label=gettext_lazy("Modèle (checkpoint)"),
        required=False,
        help_text=gettext_lazy("Vide : le modèle retenu dans le registre pour ce département."),
    )
    block_px = forms.IntegerField(
        label=gettext_lazy("Taille des blocs (px)"), initial=8192, min_value=512, max_value=32768
    )

    def _under_data_dir(self, name, folder_allowed=True):
        """Inputs are files — or folders of dalles as delivered — of the server's data folder
        (DATA_DIR), named relative to it."""
        root = Path(settings.DATA_DIR).resolve()
        path = (root / self.cleaned_data[name]).resolve()
        found = path.is_file() or (folder_allowed and path.is_dir())
        if root not in path.parents or not found:
            raise forms.ValidationError(
                _("Fichier introuvable dans le dossier de données du serveur (%(root)s).")
                % {"root": root}
            )
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
        return self._under_data_dir("checkpoint", folder_allowed=False)


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
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Inférence lancée."))
            return redirect("inference:runs", code=code)
    runs = InferenceRun.objects.filter(departement=departement).select_related(
        "vintage", "model_version"
    )[:20]
    versions = (
        ModelVersion.objects.filter(Q(departement=departement) | Q(departement__isnull=True))
        .select_related("parent")
        .order_by("-created_at", "-pk")[:20]
    )
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
            "message": run.message,
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
