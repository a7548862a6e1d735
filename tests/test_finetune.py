"""Fine-tuning on a territory's corrections: spatially held-out evaluation, replay of the
original data, a model registry the next run picks from. A tiny run here (a few steps of
the untrained test U-Net); the demonstration with figures is `make bench` (finetune)."""

import pytest
import shapely
from django.core.management import CommandError, call_command

from apps.inference import finetune, orchestration
from apps.inference.ml.checkpoint import load_checkpoint
from apps.inference.models import InferenceRun, ModelVersion
from apps.inference.training import build_training_set, photos_of
from apps.landcover import corrections
from apps.landcover.models import LandCoverPolygon, PolygonRevision

from .helpers import inference_run
from .test_inferred_product import CULTURE, designed_classes  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
PATCH = 64  # 640 m at 10 m: six columns of patches on the test photos


@pytest.fixture
def corrected(imagery, checkpoint, designed_classes, django_capture_on_commit_callbacks, tmp_path):  # noqa: F811
    """Département 99 produced by a run of the test checkpoint (registered as the general
    model, its replay data a FLAIR set of the run's own labels), then its fields — most of
    the land — corrected to vineyards by an accepted signalement."""
    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    vintage = InferenceRun.objects.get(pk=run.pk).vintage
    replay = tmp_path / "replay"
    build_training_set(vintage, photos_of(vintage), replay, patch=PATCH)
    general = ModelVersion.objects.create(
        name="test",
        checkpoint=str(checkpoint.resolve()),
        active=True,
        provenance={"replay": {"flair": str(replay)}},
    )
    fields = LandCoverPolygon.objects.get(vintage=vintage, model_class=CULTURE)
    corrections.apply(
        fields, "CS2.1.3", "US1.1", cause=PolygonRevision.Cause.SIGNALEMENT, origin="s 1"
    )
    vintage.refresh_from_db()
    assert vintage.revision == 2  # one correction
    return {"vintage": vintage, "general": general, "departement": vintage.departement}


def test_a_finetuning_is_measured_on_held_out_areas_registered_and_picked_next(
    corrected, imagery, checkpoint, django_capture_on_commit_callbacks
):
    dep, general = corrected["departement"], corrected["general"]
    with django_capture_on_commit_callbacks(execute=True):  # the task, eagerly
        version = finetune.start(dep, steps=2, patch=PATCH, batch=2, crop=PATCH)
    version.refresh_from_db()
    assert version.state == ModelVersion.State.READY, version.message
    assert (version.parent, version.departement) == (general, dep)
    model, meta = load_checkpoint(version.checkpoint)
    assert meta.num_classes == 17

    p = version.provenance
    (source,) = p["training_data"]
    assert (source["vintage"], source["revision"]) == (
        corrected["vintage"].pk,
        corrected["vintage"].revision,
    )
    assert p["patches"]["train"] > 0 and p["patches"]["held_out"] > 0
    assert p["replay"] == general.provenance["replay"]
    # Held out apart: every training patch lies a patch's width or more west of them.
    patches, _ = finetune.corrected_patches(dep, PATCH)
    split = finetune.spatial_split(patches)
    assert split.cut_x == p["held_out_from_x"]
    west_edge = min(q.box[0] for q in split.held_out)
    assert all(q.box[2] <= west_edge - PATCH * 10 + 1e-6 for q in split.train)
    assert len(split.train) + len(split.held_out) + len(split.gap) == len(patches)

    m = version.metrics
    assert set(m["before"]["iou"]) == set(m["after"]["iou"])
    # Only verified labels count on the corrected areas: the vineyards the signalement made.
    assert list(m["before"]["iou"]) == ["16"]
    assert m["original_before"]["iou"] and m["original_after"]["iou"]  # forgetting measured
    assert m["retained"] == version.active
    # The next run without a checkpoint takes the retained model, and remembers it.
    run = inference_run(imagery, "", rank="M2")
    orchestration.pick_model(run)
    assert run.model_version == (version if version.active else general)


@pytest.mark.parametrize(
    "before, after, original_before, original_after, retained",
    [
        # Vineyards learnt on the corrected areas, nothing forgotten elsewhere.
        ({16: 0.0}, {16: 0.30}, {1: 0.8, 14: 0.9}, {1: 0.795, 14: 0.9}, True),
        # The original data says vineyards are crops: class 14 "loses" there, not judged
        # (the corrections changed CS2.2.1, classes 13–15, to CS2.1.3, class 16).
        ({16: 0.0}, {16: 0.30}, {1: 0.8, 14: 0.9}, {1: 0.8, 14: 0.7}, True),
        # Buildings forgotten on the original data.
        ({16: 0.0}, {16: 0.30}, {1: 0.8, 14: 0.9}, {1: 0.78, 14: 0.9}, False),
        # Worse on the corrected areas.
        ({16: 0.20}, {16: 0.10}, {1: 0.8}, {1: 0.8}, False),
    ],
)
def test_a_version_is_retained_only_when_it_measures_no_worse(
    corrected, monkeypatch, before, after, original_before, original_after, retained
):
    dep = corrected["departement"]
    earlier = ModelVersion.objects.create(
        name="earlier", checkpoint="/tmp/earlier.pt", departement=dep, active=True
    )

    def measure(iou):
        return {"iou": iou, "miou": sum(iou.values()) / len(iou)}

    # Measured in this order: corrected areas before, original data before, then after.
    answers = iter([measure(x) for x in (before, original_before, after, original_after)])
    monkeypatch.setattr(finetune, "evaluate_on", lambda *a: next(answers))
    version = finetune.start(dep, parent=corrected["general"], enqueue=False)
    version = finetune.run(version.pk, steps=1, patch=PATCH, batch=2, crop=PATCH)
    earlier.refresh_from_db()
    assert version.metrics["classes_corrected"] == [13, 14, 15, 16]
    assert (version.active, earlier.active) == (retained, not retained)
    assert ModelVersion.current_for(dep) == (version if retained else earlier)


def test_finetuning_refuses_without_a_model_corrections_or_replay(
    square_vintages, corrected, tmp_path
):
    dep = corrected["departement"]
    square = square_vintages[0].departement
    with pytest.raises(finetune.FinetuneRefused, match="aucune correction"):
        finetune.start(square, parent=corrected["general"])
    bare = ModelVersion.objects.create(name="bare", checkpoint="/tmp/bare.pt", active=False)
    with pytest.raises(finetune.FinetuneRefused, match="sur quelles données"):
        finetune.start(dep, parent=bare)
    ModelVersion.objects.update(active=False)
    with pytest.raises(finetune.FinetuneRefused, match="aucun modèle retenu"):
        finetune.start(dep)
    with pytest.raises(CommandError, match="not in the model registry"):
        call_command("finetune_model", departement=dep.code, checkpoint=tmp_path / "x.pt")
    assert ModelVersion.objects.filter(state=ModelVersion.State.TRAINING).count() == 0


def test_the_polygons_shape_the_labels_the_patches_carry(corrected):
    """The corrected fields read as vineyards (16) in the patches fine-tuning sees."""
    patches, sources = finetune.corrected_patches(corrected["departement"], PATCH)
    assert sources[0]["patches"] == len(patches) > 0
    first = patches[0]
    assert (first.labels == 16).mean() > 0.5 and first.corrected
    assert shapely.box(*first.box).area == pytest.approx((PATCH * 10) ** 2)


@pytest.mark.parametrize(
    "who, status, offered",
    [
        ("operator", 403, False),
        ("operator2", 302, True),
        ("reviewer", 403, False),
        ("contributor_out", 404, False),
    ],
)
def test_production_leads_fine_tune_from_the_inference_page(client, world, who, status, offered):
    """Managers (operator2) are offered the button and start a fine-tuning; operators see the
    registry but not the button, and are refused; a reviewer has no inference page; a
    contributor of another département does not see 98."""
    from .helpers import login

    general = ModelVersion.objects.create(
        name="général", checkpoint="/tmp/general.pt", active=True, provenance={"replay": None}
    )
    login(client, world, who)
    page = client.get("/departements/98/inference/")
    if page.status_code == 200:
        text = page.content.decode()
        assert "général" in text and 'id="models"' in text
        assert ('id="finetune-form"' in text) == offered
    answer = client.post("/departements/98/inference/affiner/")
    assert answer.status_code == status
    # Square 98 has no photos nor replay recipe: refused, nothing registered.
    assert list(ModelVersion.objects.values_list("pk", flat=True)) == [general.pk]
    if status == 302:
        messages = [str(m) for m in client.get("/departements/98/inference/").context["messages"]]
        assert any("Affinage impossible" in m for m in messages)


def test_two_vintages_patches_on_the_same_cells_split_apart(corrected):
    """M1 and M2 read from the same photos give patches of the same cells, equal field by
    field: each is placed once."""
    import dataclasses

    patches, _ = finetune.corrected_patches(corrected["departement"], PATCH)
    twice = patches + [dataclasses.replace(p) for p in patches]
    split = finetune.spatial_split(twice)
    assert len(split.train) + len(split.held_out) + len(split.gap) == 2 * len(patches)
