"""The model proposes, people decide: the retained model's disagreements with a vintage, where
its confidence was low or corrections cluster, filed as « proposition du modèle » — never on
a corrected polygon, never twice."""

import numpy as np
import pytest
import rasterio
from django.core.management import CommandError, call_command

from apps.inference import orchestration
from apps.inference.models import InferenceRun, ModelVersion
from apps.landcover import corrections
from apps.landcover.models import LandCoverPolygon, PolygonRevision, Vintage
from apps.signalements import model_proposals
from apps.signalements.models import Signalement

from .helpers import inference_run
from .test_inferred_product import BUILDING, CULTURE, FOREST, LAWN, designed_classes  # noqa: F401

pytestmark = pytest.mark.django_db
VINEYARD = 16


@pytest.fixture
def rerun(imagery, checkpoint, designed_classes, django_capture_on_commit_callbacks, monkeypatch):  # noqa: F811
    """Département 99 as the designed model read it; the wood then corrected to conifers by
    an accepted signalement; the fields given a low confidence. The re-run « model » reads
    the fields as vineyards and the wood as lawn, the rest as before."""
    t = designed_classes
    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    vintage = InferenceRun.objects.get(pk=run.pk).vintage
    ModelVersion.objects.create(name="affiné", checkpoint=str(checkpoint.resolve()), active=True)
    wood = LandCoverPolygon.objects.get(vintage=vintage, model_class=FOREST)
    corrections.apply(
        wood, "CS2.1.1.2", "US1.2", cause=PolygonRevision.Cause.SIGNALEMENT, origin="s 1"
    )
    LandCoverPolygon.objects.filter(vintage=vintage, model_class=CULTURE).update(confidence=0.3)
    with rasterio.open(imagery["rgb"]) as ds:
        shape = (ds.height, ds.width)
    read = np.full(shape, VINEYARD, dtype=np.uint8)
    for r, c in [(100, 100), (100, 105), (105, 100), (105, 105)]:
        read[r : r + 2, c : c + 2] = BUILDING
    read[102:105, 102:105] = LAWN
    read[300:306, 60:66] = LAWN  # the corrected wood

    def fake(model, meta, bands, transform):
        col, row = (~t) * (transform.c, transform.f)
        r0, c0 = round(row), round(col)
        h, w = bands.shape[1:]
        out = np.zeros((h, w), dtype=np.uint8)
        part = read[r0 : r0 + h, c0 : c0 + w]
        out[: part.shape[0], : part.shape[1]] = part
        return out, np.full((h, w), 90, dtype=np.uint8)

    monkeypatch.setattr(model_proposals, "predict", fake)
    return vintage


def test_the_model_s_disagreements_are_filed_except_on_corrected_polygons(rerun):
    summary = model_proposals.propose(rerun, window=128)
    # 7 polygons: the fields, four houses, the lawn among them, the wood.
    assert (summary.polygons_compared, summary.disagreements) == (7, 2)
    assert (len(summary.filed), summary.skipped_corrected, summary.skipped_open) == (1, 1, 0)
    (proposal,) = Signalement.objects.filter(kind=Signalement.Kind.MODEL)
    fields = LandCoverPolygon.objects.get(vintage=rerun, model_class=CULTURE)
    assert proposal.polygon_id == fields.pk and proposal.vintage_id == rerun.pk
    assert (proposal.code_cs_current, proposal.code_cs_proposed) == ("CS2.2.1", "CS2.1.3")
    assert proposal.code_us_proposed == proposal.code_us_current == "US6.6"
    assert "Vigne" in proposal.comment and "« affiné »" in proposal.comment
    assert proposal.author.username == "plateforme"
    assert proposal.model_confidence == pytest.approx(0.9)
    # The corrected wood is untouched, and a re-run files nothing twice.
    wood = LandCoverPolygon.objects.get(vintage=rerun, model_class=FOREST)
    assert not Signalement.objects.filter(polygon=wood).exists()
    again = model_proposals.propose(rerun, window=128)
    assert (len(again.filed), again.skipped_open) == (0, 1)
    assert Signalement.objects.filter(kind=Signalement.Kind.MODEL).count() == 1


def test_only_windows_of_low_confidence_or_corrections_are_classified_again(rerun):
    LandCoverPolygon.objects.filter(vintage=rerun).update(confidence=0.9)
    summary = model_proposals.propose(rerun, window=128)
    # The corrected wood's window only (rows 256–383, columns 0–127).
    assert summary.windows == 1
    assert summary.filed == []  # the fields are only partly seen there


def test_proposals_are_refused_on_a_published_vintage_or_without_a_model(rerun):
    ModelVersion.objects.update(active=False)
    with pytest.raises(model_proposals.ProposalsRefused, match="aucun modèle"):
        model_proposals.propose(rerun)
    ModelVersion.objects.update(active=True)
    Vintage.objects.filter(pk=rerun.pk).update(state=Vintage.State.PUBLISHED)
    rerun.refresh_from_db()
    with pytest.raises(CommandError, match="publié"):
        call_command("propose_from_model", departement="99", rank="M1")
    assert not Signalement.objects.filter(kind=Signalement.Kind.MODEL).exists()


def test_a_production_lead_asks_the_model_from_the_queue_and_others_cannot(client, rerun):
    from django.contrib.auth import get_user_model

    from apps.territories.models import Membership, Organisation, Role

    ign = Organisation.objects.create(name="IGN 99", kind=Organisation.Kind.IGN)
    ign.departements.add(rerun.departement)
    users = {}
    for name, role in (("lead", Role.MANAGER), ("op", Role.OPERATOR)):
        users[name] = get_user_model().objects.create_user(name, password="x")
        Membership.objects.create(user=users[name], organisation=ign, role=role)
    url = "/departements/99/signalements/"
    client.force_login(users["op"])
    assert 'id="ask-model"' not in client.get(url).content.decode()
    refused = client.post(url, {"do": "model-proposals", "vintage": rerun.pk})
    assert refused.status_code == 403
    assert not Signalement.objects.filter(kind=Signalement.Kind.MODEL).exists()
    client.force_login(users["lead"])
    assert 'id="ask-model"' in client.get(url).content.decode()
    answer = client.post(url, {"do": "model-proposals", "vintage": rerun.pk})  # runs eagerly
    assert answer.status_code == 302
    (proposal,) = Signalement.objects.filter(kind=Signalement.Kind.MODEL)
    assert proposal.code_cs_proposed == "CS2.1.3"
    page = client.get(url + "?kind=model").content.decode()
    assert "proposition du modèle" in page and f'data-id="{proposal.pk}"' in page
