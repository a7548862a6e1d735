"""Signalements: the life cycle (its table written out), decisions, concurrency, corrections
and their impact on artificialisation."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.landcover.models import ChangePiece, LandCoverPolygon, PolygonRevision, Vintage
from apps.signalements import decisions, errors
from apps.signalements.models import RejectionReason, Signalement, SignalementEvent
from apps.signalements.transitions import AUTHOR, TRANSITIONS, Action, Status
from apps.territories.models import Membership, Role

from .conftest import X0, Y0
from .helpers import file, grass_polygon, login, square_wgs84

pytestmark = pytest.mark.django_db


# --- life cycle --------------------------------------------------------------------------


# The life cycle (DESIGN §4), written out: the status each action leads to from each status,
# "-" where it is refused (409, status unchanged).
STATUSES = [
    "submitted",
    "in_review",
    "awaiting_info",
    "accepted",
    "already_done",
    "rejected_out_of_spec",
    "rejected_irrelevant",
    "withdrawn",
]
LIFE_CYCLE = {  # action: its outcome from each of STATUSES, in that order
    "take": "in_review - in_review - - - - -",
    "ask_info": "awaiting_info awaiting_info - - - - - -",
    "answer": "- - submitted - - - - -",
    "accept": "accepted accepted accepted - - - - -",
    "already_done": "already_done already_done already_done - - - - -",
    "reject_out_of_spec": (
        "rejected_out_of_spec rejected_out_of_spec rejected_out_of_spec - - - - -"
    ),
    "reject_irrelevant": "rejected_irrelevant rejected_irrelevant rejected_irrelevant - - - - -",
    "withdraw": "withdrawn withdrawn withdrawn - - - - -",
}


def test_every_transition_is_allowed_or_refused_as_the_table_says(world):
    assert sorted(STATUSES) == sorted(Status.values) and sorted(LIFE_CYCLE) == sorted(Action.values)
    s = file(world)
    checked = 0
    for status in Status:
        for action in Action:
            Signalement.objects.filter(pk=s.pk).update(status=status)
            who = TRANSITIONS[action][2]
            actor = world["users"]["contributor_in" if who == AUTHOR else "operator"]
            reason = RejectionReason.objects.filter(applies_to=TRANSITIONS[action][1]).first()
            kwargs = {"reason": reason.pk if reason else None, "message": "précisez"}
            outcome = LIFE_CYCLE[action].split()[STATUSES.index(status)]
            expected = None if outcome == "-" else outcome
            if action == Action.ACCEPT and expected is not None:
                # Each accept corrects the polygon: put its codes back for the next one.
                LandCoverPolygon.objects.filter(pk=s.polygon_id).update(
                    code_cs="CS2.2.1", code_us="US1.1"
                )
            if expected is None:
                with pytest.raises(errors.Conflict):
                    decisions.apply_action(actor, s.pk, action, **kwargs)
                assert Signalement.objects.get(pk=s.pk).status == status, (status, action)
            else:
                result = decisions.apply_action(actor, s.pk, action, **kwargs)
                assert result.status == expected, (status, action)
                event = SignalementEvent.objects.filter(signalement=s).last()
                assert (event.from_status, event.to_status, event.actor) == (
                    status,
                    expected,
                    actor,
                )
            checked += 1
    assert checked == len(Status) * len(Action)


def test_nobody_decides_their_own_signalement(world):
    operator = world["users"]["operator"]
    Membership.objects.create(
        user=operator, organisation=world["orgs"]["agence"], role=Role.CONTRIBUTOR
    )
    s = file(world, user="operator")
    with pytest.raises(errors.Forbidden, match="propre"):
        decisions.apply_action(operator, s.pk, Action.ACCEPT)


def test_rejection_needs_a_reason_of_the_right_kind(world):
    s = file(world)
    irrelevant = RejectionReason.objects.filter(applies_to=Status.REJECTED_IRRELEVANT).first()
    operator = world["users"]["operator"]
    with pytest.raises(errors.Refused, match="motif"):
        decisions.apply_action(operator, s.pk, Action.REJECT_OUT_OF_SPEC)
    with pytest.raises(errors.Refused, match="motif"):
        decisions.apply_action(operator, s.pk, Action.REJECT_OUT_OF_SPEC, reason=irrelevant.pk)
    done = decisions.apply_action(operator, s.pk, Action.REJECT_IRRELEVANT, reason=irrelevant.pk)
    assert done.reason == irrelevant and done.decided_by == operator


def test_accept_writes_a_revision_bumps_the_vintage_and_updates_the_change_layer(
    world, django_capture_on_commit_callbacks
):
    s = file(world)
    polygon = grass_polygon(world)
    before = world["m2"].revision
    with django_capture_on_commit_callbacks() as after_commit:
        decisions.apply_action(world["users"]["operator"], s.pk, Action.ACCEPT)
    # The change layer follows once the decision is committed (a task; inline here).
    assert not ChangePiece.objects.filter(polygon_after=polygon, cs_apres="CS2.1.1.1").exists()
    for callback in after_commit:
        callback()
    polygon.refresh_from_db()
    assert (polygon.code_cs, polygon.code_us, polygon.revision) == ("CS2.1.1.1", "US1.2", 2)
    rev = PolygonRevision.objects.get(polygon=polygon)
    assert (rev.code_cs_before, rev.code_cs_after, rev.cause) == (
        "CS2.2.1",
        "CS2.1.1.1",
        "signalement",
    )
    assert Vintage.objects.get(pk=world["m2"].pk).revision == before + 1
    assert ChangePiece.objects.filter(polygon_after=polygon, cs_apres="CS2.1.1.1").exists()


def test_accept_of_a_drawn_shape_splits_the_polygon(world):
    polygon = grass_polygon(world)
    shape = square_wgs84(X0 + 100, Y0 + 100, X0 + 150, Y0 + 200)  # west half of (1, 1)
    s = file(world, polygon_id=None, geom=shape, cs="CS1.1.1.1", us="US5")
    assert s.polygon_id == polygon.pk and round(s.area) == 5000
    decisions.apply_action(world["users"]["operator"], s.pk, Action.ACCEPT)
    polygon.refresh_from_db()
    piece = LandCoverPolygon.objects.get(
        vintage=world["m2"], code_cs="CS1.1.1.1", source__startswith="signalement"
    )
    assert round(polygon.area) == 5000 and round(piece.area) == 5000
    assert polygon.code_cs == "CS2.2.1" and piece.code_us == "US5"
    assert polygon.geom.union(piece.geom).area == pytest.approx(10_000, abs=0.01)
    assert polygon.revisions.get().geom_before.area == pytest.approx(10_000)


def test_related_signalements_can_be_closed_in_bulk_as_already_done(client, world):
    first, second = file(world), file(world, user="colleague")
    login(client, world, "operator")
    assert client.get(f"/api/signalements/{first.pk}/").json()["properties"]["related"] == [
        second.pk
    ]
    client.post(f"/api/signalements/{first.pk}/accept/", {}, content_type="application/json")
    bulk = client.post(
        "/api/signalements/bulk/",
        {"ids": [first.pk, second.pk], "action": "already_done"},
        content_type="application/json",
    ).json()
    assert (bulk["done"], bulk["failed"]) == (1, 1)
    assert [r["code"] for r in bulk["results"] if not r["ok"]] == [409]
    assert Signalement.objects.get(pk=second.pk).status == Status.ALREADY_DONE


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_operators_deciding_at_once_give_one_decision_and_one_conflict(world):
    s = file(world)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(user, action):
        from django.db import connections

        barrier.wait()
        try:
            decisions.apply_action(user, s.pk, action)
            outcomes.append("ok")
        except errors.Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=(world["users"]["operator"], Action.ACCEPT)),
        threading.Thread(target=decide, args=(world["users"]["operator2"], Action.ALREADY_DONE)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    s.refresh_from_db()
    assert s.status in (Status.ACCEPTED, Status.ALREADY_DONE)
    assert SignalementEvent.objects.filter(signalement=s).count() == 2
    polygon = grass_polygon(world)
    assert polygon.revision == (2 if s.status == Status.ACCEPTED else 1)


# --- artificialisation impact ------------------------------------------------------------------


def _artif_m2(world):
    from django.db.models import Sum

    from apps.artif.models import ArtifStat

    return ArtifStat.objects.filter(vintage=world["m2"], artif=True).aggregate(a=Sum("area"))["a"]


def test_check_and_queue_show_the_artificialisation_impact_and_accept_applies_it(
    client, world, square_departement, django_capture_on_commit_callbacks
):
    from apps.artif.compute import compute_departement

    compute_departement(square_departement)
    before = _artif_m2(world)
    client.force_login(world["users"]["contributor_in"])
    polygon = grass_polygon(world)
    payload = {
        "vintage": world["m2"].pk,
        "polygon": polygon.pk,
        "code_cs_proposed": "CS1.1.1.1",
        "code_us_proposed": "US5",
    }
    checked = client.post("/api/signalements/check/", payload, content_type="application/json")
    assert checked.json()["artif_impact"]["delta_m2"] == pytest.approx(10_000.0)
    assert "1,00 ha" in checked.json()["artif_impact_text"]
    with django_capture_on_commit_callbacks(execute=True):  # estimated after the commit
        s = file(world, cs="CS1.1.1.1", us="US5")
    s.refresh_from_db()
    assert s.artif_impact == pytest.approx(10_000.0)
    client.force_login(world["users"]["operator"])
    html = client.get(f"/departements/98/signalements/?vintage={world['m2'].pk}").content.decode()
    assert "+1,00 ha artificialisés" in html
    with django_capture_on_commit_callbacks(execute=True):  # indicators: after the commit
        response = client.post(f"/api/signalements/{s.pk}/accept/", content_type="application/json")
    assert response.status_code == 200
    assert _artif_m2(world) == pytest.approx(before + 10_000.0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_neighbouring_corrections_accepted_at_once_leave_the_derived_data_exact(
    world, square_departement
):
    """Two operators accept corrections of touching polygons at the same moment: the change
    layer (updated in each decision's transaction) ends as a full recomputation makes it."""
    from django.db import connections

    from apps.landcover.difference import compute_difference

    compute_difference(square_departement)
    first = file(world, polygon_id=grass_polygon(world, 1, 1).pk)
    second = file(world, polygon_id=grass_polygon(world, 2, 1).pk)
    barrier = threading.Barrier(2)
    errors = []

    def decide(user, pk):
        try:
            barrier.wait()
            decisions.apply_action(world["users"][user], pk, "accept")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=("operator", first.pk)),
        threading.Thread(target=decide, args=("operator2", second.pk)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    def pieces():
        return sorted(
            (p.polygon_before_id, p.polygon_after_id, p.cs_apres, round(p.area, 1))
            for p in ChangePiece.objects.all()
        )

    concurrent = pieces()
    compute_difference(square_departement)
    assert concurrent == pieces()


def test_each_action_of_the_life_cycle_has_its_endpoint():
    from django.urls import reverse

    paths = {a: reverse(f"signalement-{a}", args=[7]) for a in LIFE_CYCLE}
    assert paths["reject_out_of_spec"] == "/api/signalements/7/reject_out_of_spec/"
    assert sorted(paths) == sorted(Action.values)


def test_the_departement_page_table_follows_an_accepted_correction(
    client, world, django_capture_on_commit_callbacks
):
    """The page reads a summary derived after each change (grouping a million polygons per
    view took a second): a grass square accepted as forest moves from one row to the
    other once the decision's derived data are done."""
    from apps.landcover.models import CoverSummary

    s = file(world)
    m2 = world["m2"]
    login(client, world, "operator")
    client.get("/departements/98/")  # summarised on first view

    def counts():
        return dict(CoverSummary.objects.filter(vintage=m2).values_list("code_cs", "polygons"))

    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        decisions.apply_action(world["users"]["operator"], s.pk, Action.ACCEPT)
    after = counts()
    assert after["CS2.2.1"] == before["CS2.2.1"] - 1
    assert after["CS2.1.1.1"] == before.get("CS2.1.1.1", 0) + 1
    page = client.get("/departements/98/").content.decode()
    assert "CS2.1.1.1" in page


def test_an_accept_answers_the_signalement_as_a_read_shows_it_in_few_statements(client, world):
    signalement = file(world)
    login(client, world, "operator")
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/signalements/{signalement.pk}/accept/", {}, content_type="application/json"
        )
    assert response.status_code == 200, response.content
    statements = [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    # the session with its user and admin flag, the locked signalement with its vintage,
    # people and the right to decide, the locked polygon, the polygon's new codes with its
    # revision (one statement, through the binary cursor), the vintage's revision, the
    # signalement, its event, the author's notification; the answer's journal, comments and
    # attachments (sent at once, one round trip) and the related ones.
    assert len(statements) <= 10, statements
    answer = response.json()
    assert answer == client.get(f"/api/signalements/{signalement.pk}/").json()
    assert answer["properties"]["status"] == "accepted"
    assert [e["action"] for e in answer["properties"]["events"]] == ["file", "accept"]


@pytest.mark.parametrize("pk", ["abc", "99999999999999999999999", "-1"])
def test_a_decision_on_what_is_no_signalement_id_is_not_found_and_changes_nothing(
    client, world, pk
):
    signalement = file(world)
    login(client, world, "operator")
    for step in ("accept", "undo"):
        response = client.post(
            f"/api/signalements/{pk}/{step}/", {}, content_type="application/json"
        )
        assert response.status_code == 404, response.content[:300]
    signalement.refresh_from_db()
    assert signalement.status == Status.SUBMITTED
