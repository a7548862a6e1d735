"""Undoing a decision: for 15 minutes, the operator who decided (or a manager) puts the
signalement back — status, and an accept's correction reverted as a new revision of the
polygon (a split's piece removed, the outline whole again), the coherence proposals it
caused withdrawn, derived data recomputed — while the journal keeps both. Refused, with
nothing changed, when too late, by someone else, or when the polygon changed since."""

import datetime

import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.utils import timezone

from apps.landcover import corrections
from apps.landcover.models import LandCoverPolygon, PolygonRevision, Vintage
from apps.signalements import decisions, errors
from apps.signalements.models import RejectionReason, Signalement, SignalementEvent

from .conftest import X0, Y0
from .helpers import file, grass_polygon, login

pytestmark = pytest.mark.django_db


def _state(signalement_id):
    s = Signalement.objects.get(pk=signalement_id)
    polygon = LandCoverPolygon.objects.get(pk=s.polygon_id)
    return (
        s.status,
        polygon.code_cs,
        polygon.code_us,
        polygon.revision,
        round(polygon.area),
        Vintage.objects.get(pk=s.vintage_id).polygon_count,
    )


def test_an_accept_is_undone_codes_and_history_kept(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    s = file(world)
    with django_capture_on_commit_callbacks(execute=True):
        decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    assert _state(s.pk) == ("accepted", "CS2.1.1.1", "US1.2", 2, 10000, 15)
    # The platform proposed the same correction on M1 (coherence): nobody touched it yet.
    proposal = Signalement.objects.get(origin=s)
    derived = []
    monkeypatch.setattr(decisions, "update_derived", lambda dep, ids: derived.append(ids))
    decisions.undo(world["users"]["operator"], s.pk)
    assert _state(s.pk) == ("submitted", "CS2.2.1", "US1.1", 3, 10000, 15)
    assert derived == [[s.polygon_id]]  # the change layer and indicators follow
    history = PolygonRevision.objects.filter(polygon_id=s.polygon_id).order_by("revision")
    assert [(r.revision, r.cause, r.code_cs_after) for r in history] == [
        (2, "signalement", "CS2.1.1.1"),
        (3, "undo", "CS2.2.1"),
    ]
    journal = SignalementEvent.objects.filter(signalement=s).order_by("id")
    assert [(e.action, e.from_status, e.to_status) for e in journal] == [
        ("file", "", "submitted"),
        ("accept", "submitted", "accepted"),
        ("undo", "accepted", "submitted"),
    ]
    s.refresh_from_db()
    assert (s.decided_by, s.decided_at) == (None, None)
    assert Signalement.objects.get(pk=proposal.pk).status == "withdrawn"


def test_undoing_a_split_removes_the_piece_and_makes_the_polygon_whole(
    world, django_capture_on_commit_callbacks
):
    from apps.landcover.difference import compute_difference
    from apps.landcover.models import ChangePiece

    from .helpers import square_wgs84

    compute_difference(world["m2"].departement)
    changes = sorted(ChangePiece.objects.values_list("cs_apres", "area"))
    polygon = grass_polygon(world, 1, 1)
    shape = square_wgs84(X0 + 120, Y0 + 120, X0 + 180, Y0 + 180)
    s = file(world, polygon_id=None, geom=shape)
    with django_capture_on_commit_callbacks(execute=True):
        decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    piece = LandCoverPolygon.objects.get(vintage=world["m2"], ocsge_id__endswith=f"-S{s.pk}")
    assert round(piece.area) == 3600 and _state(s.pk)[4:] == (6400, 16)
    revision = Vintage.objects.get(pk=world["m2"].pk).revision
    assert len(ChangePiece.objects.all()) == len(changes) + 1  # the new wood
    with django_capture_on_commit_callbacks(execute=True):  # derived data after the commit
        decisions.undo(world["users"]["operator"], s.pk)
    # The change layer as it was before the accept (the removed piece's change gone).
    assert sorted(ChangePiece.objects.values_list("cs_apres", "area")) == changes
    assert _state(s.pk) == ("submitted", "CS2.2.1", "US1.1", 3, 10000, 15)
    assert not LandCoverPolygon.objects.filter(pk=piece.pk).exists()
    assert not PolygonRevision.objects.filter(polygon_id=piece.pk).exists()
    assert Vintage.objects.get(pk=world["m2"].pk).revision == revision + 1
    whole = LandCoverPolygon.objects.get(pk=polygon.pk)
    assert whole.geom.equals_exact(GEOSGeometry(polygon.geom.wkt, srid=2154), 0.001)
    # The Web Mercator copy follows the outline again (the tiles draw the whole square).
    assert round(whole.geom_3857.transform(2154, clone=True).area) == 10000


def test_a_rejection_is_undone_reason_cleared(world):
    s = file(world)
    reason = RejectionReason.objects.filter(applies_to="rejected_irrelevant").first()
    decisions.apply_action(world["users"]["operator"], s.pk, "reject_irrelevant", reason=reason.pk)
    decisions.undo(world["users"]["operator"], s.pk)
    s.refresh_from_db()
    assert (s.status, s.reason, s.decided_by) == ("submitted", None, None)


@pytest.mark.parametrize(
    "case, error",
    [
        ("too-late", errors.Conflict),
        ("another-operator", errors.Forbidden),
        ("polygon-changed-since", errors.Conflict),
        ("not-a-decision", errors.Conflict),
        ("published", errors.Conflict),
    ],
)
def test_an_undo_is_refused_and_nothing_changes(world, case, error):
    from django.contrib.auth import get_user_model

    from apps.territories.models import Membership, Role

    s = file(world)
    deciding = world["users"]["operator"]
    if case != "not-a-decision":
        decisions.apply_action(deciding, s.pk, "accept")
    if case == "too-late":
        SignalementEvent.objects.filter(signalement=s).update(
            created_at=timezone.now() - datetime.timedelta(minutes=16)
        )
    if case == "another-operator":
        other = get_user_model().objects.create_user("operator3", password="pw-123456")
        Membership.objects.create(
            user=other,
            organisation=world["users"]["operator"].memberships.get().organisation,
            role=Role.OPERATOR,
        )
        deciding = other
    if case == "polygon-changed-since":
        corrections.apply(LandCoverPolygon.objects.get(pk=s.polygon_id), "CS2.1.2", "US1.2")
    if case == "published":
        Vintage.objects.filter(pk=world["m2"].pk).update(state=Vintage.State.PUBLISHED)
    before = _state(s.pk), SignalementEvent.objects.count(), PolygonRevision.objects.count()
    with pytest.raises(error):
        decisions.undo(deciding, s.pk)
    assert (
        _state(s.pk),
        SignalementEvent.objects.count(),
        PolygonRevision.objects.count(),
    ) == before


# role -> status of `POST /api/signalements/{id}/undo/` on an accept by `operator`
UNDO_TABLE = {
    "anonymous": 403,
    "contributor_in": 403,
    "colleague": 403,
    "contributor_out": 404,
    "operator": 200,  # who decided
    "operator2": 200,  # a manager of the département
    "operator_out": 404,
    "reviewer": 403,
}


@pytest.mark.parametrize("role", list(UNDO_TABLE))
def test_the_undo_endpoint_answers_each_role_as_the_table_says(client, world, role):
    s = file(world)
    decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    if world["users"][role] is not None:
        login(client, world, role)
    answer = client.post(f"/api/signalements/{s.pk}/undo/")
    assert answer.status_code == UNDO_TABLE[role]
    expected = "submitted" if UNDO_TABLE[role] == 200 else "accepted"
    assert Signalement.objects.get(pk=s.pk).status == expected


def test_the_signalement_page_offers_the_undo_to_who_decided(client, world):
    s = file(world)
    decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    login(client, world, "contributor_in")
    assert 'value="undo"' not in client.get(f"/signalements/{s.pk}/").content.decode()
    login(client, world, "operator")
    assert 'value="undo"' in client.get(f"/signalements/{s.pk}/").content.decode()
    client.post(f"/signalements/{s.pk}/", {"do": "undo"})
    assert Signalement.objects.get(pk=s.pk).status == "submitted"
    assert 'value="undo"' not in client.get(f"/signalements/{s.pk}/").content.decode()
