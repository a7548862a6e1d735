"""A published vintage no longer changes, by any path: filing, deciding, re-importing with
--replace, reopening its loop (by the calendar or by hand), moving its state. And a
publication that fails half-way publishes nothing. Each refusal is proven by the state
left unchanged."""

import pytest

from apps.campaigns import loops, publication
from apps.campaigns.models import Publication, Step
from apps.landcover.gpkg import ImportRefused, import_ocsge
from apps.landcover.models import LandCoverPolygon, PolygonRevision, Vintage
from apps.signalements import decisions, errors, filing
from apps.signalements.models import Signalement

from .conftest import square_rows, write_gpkg
from .helpers import at, date_of, decide_some, file, grass_polygon

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(campaign):
    """The campaign's M2 with one open signalement, then published (as `build` leaves it)."""
    loops.sync(at(date_of(campaign["plan"], Step.M2_OPEN)))
    pending = file(campaign, polygon_id=grass_polygon(campaign, 2, 3).pk)
    Vintage.objects.filter(pk=campaign["m2"].pk).update(
        state=Vintage.State.PUBLISHED, feedback_open=False
    )
    return {**campaign, "pending": pending, "m2": Vintage.objects.get(pk=campaign["m2"].pk)}


def _snapshot(vintage):
    return (
        Vintage.objects.values_list("state", "feedback_open", "revision").get(pk=vintage.pk),
        sorted(
            LandCoverPolygon.objects.filter(vintage=vintage).values_list(
                "ocsge_id", "code_cs", "code_us", "revision"
            )
        ),
        PolygonRevision.objects.filter(polygon__vintage=vintage).count(),
        sorted(Signalement.objects.filter(vintage=vintage).values_list("pk", "status")),
    )


def test_filing_on_a_published_vintage_is_refused(published):
    before = _snapshot(published["m2"])
    proposal = filing.Filing(
        vintage_id=published["m2"].pk,
        polygon_id=grass_polygon(published, 1, 1).pk,
        code_cs_proposed="CS2.1.1.1",
        code_us_proposed="US1.2",
    )
    with pytest.raises(errors.Refused, match="publié"):
        filing.file_signalement(published["users"]["contributor_in"], proposal)
    assert _snapshot(published["m2"]) == before


@pytest.mark.parametrize("action", ["accept", "take", "reject_irrelevant", "withdraw"])
def test_no_decision_on_a_published_vintage(published, action):
    before = _snapshot(published["m2"])
    who = "contributor_in" if action == "withdraw" else "operator"
    with pytest.raises(errors.Conflict, match="publié"):
        decisions.apply_action(published["users"][who], published["pending"].pk, action)
    assert _snapshot(published["m2"]) == before


def test_a_published_vintage_is_not_replaced_by_an_import(published, tmp_path):
    before = _snapshot(published["m2"])
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "m2.gpkg", geoms, **cols)
    with pytest.raises(ImportRefused, match="publié"):
        import_ocsge(path, "98", "M2", replace=True)
    assert _snapshot(published["m2"]) == before


def test_its_loop_does_not_reopen_by_the_calendar_or_by_hand(published, client):
    plan = published["plan"]
    before = _snapshot(published["m2"])
    inside_the_loop = date_of(plan, Step.M2_CLOSE) - __import__("datetime").timedelta(days=1)
    loops.sync(at(inside_the_loop))
    assert _snapshot(published["m2"]) == before
    with pytest.raises(loops.LoopRefused, match="publié"):
        loops.open_now(plan, "M2", today=inside_the_loop)
    opening = plan.milestones.get(step=Step.M2_OPEN)
    client.force_login(published["users"]["operator2"])
    response = client.post("/departements/98/boucles/M2/open/", follow=True)
    assert "publié" in response.content.decode()
    assert plan.milestones.get(step=Step.M2_OPEN).actual_date == opening.actual_date
    assert _snapshot(published["m2"]) == before


@pytest.mark.parametrize("state", ["draft", "in_review", "corrected"])
def test_its_state_does_not_move_back(published, client, state):
    before = _snapshot(published["m2"])
    client.force_login(published["users"]["operator2"])
    client.post("/departements/98/millesimes/M2/etat/", {"state": state})
    assert _snapshot(published["m2"]) == before


def test_a_publication_failing_half_way_publishes_nothing(
    campaign, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    decide_some(campaign, django_capture_on_commit_callbacks)
    dep = campaign["plan"].departement
    states = dict(Vintage.objects.filter(departement=dep).values_list("rank", "state"))

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    from apps.landcover import gpkg

    monkeypatch.setattr(gpkg, "export_difference", disk_full)  # what build() imports
    with pytest.raises(OSError), django_capture_on_commit_callbacks(execute=True):
        publication.publish(dep, campaign["users"]["operator2"])
    done = Publication.objects.get(departement=dep)
    assert (done.state, done.message, done.files) == (
        Publication.State.FAILED,
        "No space left on device",
        [],
    )
    assert dict(Vintage.objects.filter(departement=dep).values_list("rank", "state")) == states
    assert not any((tmp_path / "publications").rglob("*.gpkg"))
