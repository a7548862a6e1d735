"""M1↔M2 coherence: a correction accepted on one vintage is proposed on the other where the
land did not change; accepting the proposal removes the false change.

The square département (`square_vintages`): 16 squares of 100 m, grass (CS2.2.1 / US1.1) in
both vintages, except M2's square (0, 0), built, and M2's squares (3, 0)+(3, 1), one wood."""

import pytest
from django.contrib.gis.geos import Point
from django.db.models import Sum

from apps.landcover.models import ChangePiece, LandCoverPolygon, Vintage
from apps.signalements import coherence, decisions
from apps.signalements.models import Signalement, SignalementEvent
from apps.signalements.tasks import propose_coherence
from apps.signalements.transitions import Action, Status

from .conftest import X0, Y0
from .helpers import file, login, square_wgs84

pytestmark = pytest.mark.django_db


def _m1_square(world, i, j):
    return LandCoverPolygon.objects.get(
        vintage=world["m1"],
        geom__intersects=Point(X0 + i * 100 + 50, Y0 + j * 100 + 50, srid=2154),
    )


def _false_change_m2(world, i, j) -> float:
    """m² of change pieces over square (i, j)."""
    x, y = X0 + i * 100 + 50, Y0 + j * 100 + 50
    pieces = ChangePiece.objects.filter(
        departement=world["m1"].departement, geom__intersects=Point(x, y, srid=2154)
    )
    return pieces.aggregate(a=Sum("area"))["a"] or 0


def _accept(world, s, capture, who="operator"):
    with capture(execute=True):
        return decisions.apply_action(world["users"][who], s.pk, Action.ACCEPT)


def test_a_correction_accepted_on_m2_is_proposed_on_m1_where_the_land_did_not_change(
    world, django_capture_on_commit_callbacks
):
    origin = file(world)  # M2 square (1, 1): grass → wood
    assert _false_change_m2(world, 1, 1) == 0
    _accept(world, origin, django_capture_on_commit_callbacks)
    # The correction made a change M1 → M2 that never happened: 10,000 m².
    assert _false_change_m2(world, 1, 1) == pytest.approx(10_000)

    (proposal,) = Signalement.objects.filter(kind=Signalement.Kind.COHERENCE)
    m1_square = _m1_square(world, 1, 1)
    assert (proposal.vintage_id, proposal.polygon_id, proposal.origin_id) == (
        world["m1"].pk,
        m1_square.pk,
        origin.pk,
    )
    assert (
        proposal.code_cs_current,
        proposal.code_us_current,
        proposal.code_cs_proposed,
        proposal.code_us_proposed,
    ) == ("CS2.2.1", "US1.1", "CS2.1.1.1", "US1.2")
    assert proposal.geom is None and proposal.area == pytest.approx(10_000)
    assert proposal.status == Status.SUBMITTED
    assert f"n° {origin.pk}" in proposal.comment
    author = proposal.author
    assert author.username == "plateforme" and not author.is_active
    assert not author.has_usable_password() and not author.memberships.exists()
    assert proposal.organisation.name == coherence.PLATFORM_ORGANISATION
    assert list(SignalementEvent.objects.filter(signalement=proposal).values_list("action")) == [
        ("file",)
    ]

    # Accepted: M1's square is a wood, the false change is gone, nothing proposed back.
    _accept(world, proposal, django_capture_on_commit_callbacks, who="operator2")
    m1_square.refresh_from_db()
    assert (m1_square.code_cs, m1_square.code_us) == ("CS2.1.1.1", "US1.2")
    assert _false_change_m2(world, 1, 1) == 0
    assert Signalement.objects.filter(kind=Signalement.Kind.COHERENCE).count() == 1


def test_no_proposal_where_the_other_vintage_has_other_codes(
    world, django_capture_on_commit_callbacks
):
    """M2's square (0, 0) is built, M1's is grass: the land changed, M1 is left alone."""
    from .helpers import grass_polygon

    built = LandCoverPolygon.objects.get(
        vintage=world["m2"], geom__intersects=Point(X0 + 50, Y0 + 50, srid=2154)
    )
    assert built.pk != grass_polygon(world).pk
    origin = file(world, polygon_id=built.pk, cs="CS1.1.1.2", us="US5")
    _accept(world, origin, django_capture_on_commit_callbacks)
    assert not Signalement.objects.filter(kind=Signalement.Kind.COHERENCE).exists()
    assert _m1_square(world, 0, 0).code_cs == "CS2.2.1"


def test_a_drawn_correction_is_proposed_on_the_same_part(world, django_capture_on_commit_callbacks):
    shape = square_wgs84(X0 + 100, Y0 + 100, X0 + 150, Y0 + 200)  # west half of (1, 1)
    origin = file(world, polygon_id=None, geom=shape, cs="CS1.1.1.1", us="US5")
    _accept(world, origin, django_capture_on_commit_callbacks)
    (proposal,) = Signalement.objects.filter(origin=origin)
    assert proposal.polygon_id == _m1_square(world, 1, 1).pk
    assert proposal.geom is not None and proposal.geom.srid == 2154
    assert proposal.geom.extent == pytest.approx((X0 + 100, Y0 + 100, X0 + 150, Y0 + 200))
    assert proposal.area == pytest.approx(5_000)
    assert _false_change_m2(world, 1, 1) == pytest.approx(5_000)
    _accept(world, proposal, django_capture_on_commit_callbacks, who="operator2")
    piece = LandCoverPolygon.objects.get(vintage=world["m1"], code_cs="CS1.1.1.1")
    assert piece.geom.area == pytest.approx(5_000)
    assert _false_change_m2(world, 1, 1) == 0


def test_a_retried_task_files_each_proposal_once(world, django_capture_on_commit_callbacks):
    origin = file(world)
    with django_capture_on_commit_callbacks() as later:
        decisions.apply_action(world["users"]["operator"], origin.pk, Action.ACCEPT)
    corrected = origin.polygon_id
    assert len(coherence.propose(origin.pk, corrected)) == 1
    assert propose_coherence.apply(args=[origin.pk, corrected]).get() == []  # a retry
    for callback in later:  # the delivery the accept queued, after the retry
        callback()
    assert Signalement.objects.filter(origin=origin).count() == 1


def test_nothing_is_proposed_on_a_published_vintage_or_after_a_rejection(
    world, django_capture_on_commit_callbacks
):
    origin = file(world)
    Vintage.objects.filter(pk=world["m1"].pk).update(state=Vintage.State.PUBLISHED)
    _accept(world, origin, django_capture_on_commit_callbacks)
    assert not Signalement.objects.filter(kind=Signalement.Kind.COHERENCE).exists()
    rejected = file(world, user="colleague", polygon_id=_m2_polygon(world, 2, 2).pk)
    assert coherence.propose(rejected.pk, rejected.polygon_id) == []  # not accepted


def _m2_polygon(world, i, j):
    return LandCoverPolygon.objects.get(
        vintage=world["m2"],
        geom__intersects=Point(X0 + i * 100 + 50, Y0 + j * 100 + 50, srid=2154),
    )


def test_the_queue_shows_and_filters_the_proposals_and_the_page_links_them(
    client, world, django_capture_on_commit_callbacks
):
    origin = file(world)
    _accept(world, origin, django_capture_on_commit_callbacks)
    proposal = Signalement.objects.get(origin=origin)
    file(world, user="colleague", polygon_id=_m2_polygon(world, 2, 2).pk)
    login(client, world, "operator2")
    page = client.get("/departements/98/signalements/?kind=coherence").content.decode()
    assert "cohérence M1/M2" in page
    assert f'data-id="{proposal.pk}"' in page and page.count('<tr data-id="') == 1
    api = client.get("/api/signalements/?kind=coherence").json()
    assert [(f["id"], f["properties"]["origin"]) for f in api["features"]] == [
        (proposal.pk, origin.pk)
    ]
    detail = client.get(f"/signalements/{proposal.pk}/").content.decode()
    assert f'href="/signalements/{origin.pk}/"' in detail
    assert (
        f'href="/signalements/{proposal.pk}/"'
        in client.get(f"/signalements/{origin.pk}/").content.decode()
    )
    # A contributor does not see the platform's proposals.
    login(client, world, "contributor_in")
    assert client.get("/api/signalements/?kind=coherence").json()["features"] == []
