"""The production calendar: the template, loops opened and closed by date, mails sent exactly
once, results; its pages (a permission table)."""

import datetime
import threading

import pytest

from apps.campaigns import loops
from apps.campaigns.calendar import create_plan
from apps.campaigns.mail import send_pending
from apps.campaigns.models import Milestone, OutboxMail, Step
from apps.landcover.models import Vintage
from apps.signalements import decisions, errors, filing
from apps.signalements.models import RejectionReason, Signalement
from apps.signalements.transitions import Status

from .helpers import START, at, date_of, file, grass_polygon

pytestmark = pytest.mark.django_db


def recipients(kind):
    return sorted(m.recipient.split("@")[0] for m in OutboxMail.objects.filter(kind=kind))


def test_plan_is_built_from_the_template_at_its_month_offsets(square_departement):
    plan = create_plan(square_departement, START)
    dates = {m.step: m.planned_date for m in plan.milestones.all()}
    assert dates == {
        Step.START: datetime.date(2026, 1, 15),
        Step.MEETING_INFO: datetime.date(2026, 3, 15),
        Step.MEETING_TRAINING: datetime.date(2026, 5, 15),
        Step.M1_OPEN: datetime.date(2026, 6, 15),
        Step.M1_CLOSE: datetime.date(2026, 6, 30),
        Step.M1_RESULTS: datetime.date(2026, 7, 15),
        Step.M2_OPEN: datetime.date(2026, 8, 15),
        Step.M2_CLOSE: datetime.date(2026, 12, 15),
        Step.M2_RESULTS: datetime.date(2027, 1, 15),
        Step.MEETING_REVIEW: datetime.date(2027, 4, 15),
    }
    with pytest.raises(ValueError):
        create_plan(square_departement, START)


def test_milestone_state_is_planned_done_or_late(square_departement):
    plan = create_plan(square_departement, START)
    m = plan.milestones.get(step=Step.MEETING_INFO)
    assert m.state_on(datetime.date(2026, 3, 1)) == Milestone.State.PLANNED
    assert m.state_on(datetime.date(2026, 3, 20)) == Milestone.State.LATE
    m.actual_date = datetime.date(2026, 3, 16)
    assert m.state_on(datetime.date(2026, 3, 20)) == Milestone.State.DONE


def _can_file(campaign, rank):
    vintage = campaign["m1"] if rank == "M1" else campaign["m2"]
    polygon = vintage.polygons.order_by("pk").first()
    proposal = filing.Filing(
        vintage_id=vintage.pk,
        polygon_id=polygon.pk,
        code_cs_proposed="CS2.1.1.1",
        code_us_proposed="US1.2",
    )
    try:
        filing.prepare(campaign["users"]["contributor_in"], proposal)
        return True
    except errors.Refused:
        return False


def test_loops_open_and_close_at_their_dates_and_filing_follows(campaign):
    plan = campaign["plan"]
    m1_open, m1_close = date_of(plan, Step.M1_OPEN), date_of(plan, Step.M1_CLOSE)
    loops.sync(at(m1_open - datetime.timedelta(days=1)))
    assert not _can_file(campaign, "M1")
    assert loops.sync(at(m1_open)) == {"opened": 1, "closed": 0}
    assert _can_file(campaign, "M1") and not _can_file(campaign, "M2")
    assert plan.milestones.get(step=Step.M1_OPEN).actual_date == m1_open
    assert loops.sync(at(m1_open)) == {"opened": 0, "closed": 0}  # nothing twice
    loops.sync(at(m1_close - datetime.timedelta(days=1), hour=23))
    assert _can_file(campaign, "M1")
    assert loops.sync(at(m1_close, hour=0)) == {"opened": 0, "closed": 1}
    assert not _can_file(campaign, "M1")
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    assert _can_file(campaign, "M2") and not _can_file(campaign, "M1")


def test_author_actions_are_refused_once_the_loop_closes(campaign):
    plan = campaign["plan"]
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    s = file(campaign)
    loops.sync(at(date_of(plan, Step.M2_CLOSE)))
    with pytest.raises(errors.Refused):
        decisions.apply_action(campaign["users"]["contributor_in"], s.pk, "withdraw")


def test_a_manager_opens_and_closes_a_loop_now(campaign):
    plan = campaign["plan"]
    today = date_of(plan, Step.M1_OPEN) - datetime.timedelta(days=10)
    loops.open_now(plan, "M1", today)
    loops.sync(at(today))
    assert Vintage.objects.get(pk=campaign["m1"].pk).feedback_open
    loops.close_now(plan, "M1", today)
    loops.sync(at(today, hour=10))
    assert not Vintage.objects.get(pk=campaign["m1"].pk).feedback_open
    with pytest.raises(ValueError):  # its end is past: reopening needs a new end date
        loops.open_now(plan, "M1", today)


def test_launch_reminder_and_end_mails_reach_the_right_people_once(campaign, mailoutbox):
    plan = campaign["plan"]
    m2_open, m2_close = date_of(plan, Step.M2_OPEN), date_of(plan, Step.M2_CLOSE)
    for _ in range(2):
        loops.sync(at(m2_open))
    people = ["colleague", "contributor_in", "operator", "operator2"]
    assert recipients("loop_open") == people  # not the other département, not reviewers
    loops.sync(at(m2_close - datetime.timedelta(days=8)))
    assert recipients("loop_reminder") == []
    loops.sync(at(m2_close - datetime.timedelta(days=7)))
    loops.sync(at(m2_close - datetime.timedelta(days=3)))
    assert recipients("loop_reminder") == ["colleague", "contributor_in"]
    loops.sync(at(m2_close))
    assert recipients("loop_close") == people
    send_pending()
    send_pending()
    assert len(mailoutbox) == OutboxMail.objects.count() == 4 + 2 + 4
    launch = next(m for m in mailoutbox if "est ouverte" in m.subject)
    assert "M2" in launch.subject and "/departements/98/carte/" in launch.body
    assert launch.alternatives[0][1] == "text/html"
    last_day = m2_close - datetime.timedelta(days=1)
    assert str(last_day.day) in launch.subject


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_sending_at_once_send_each_mail_once(campaign, mailoutbox, monkeypatch):
    monkeypatch.setattr("apps.campaigns.mail._send_later", lambda: None)  # no eager send
    loops.sync(at(date_of(campaign["plan"], Step.M2_OPEN)))
    pending = OutboxMail.objects.filter(state="pending").count()
    assert pending == 4
    from django.db import connections

    def worker():
        try:
            send_pending()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    send_pending()
    assert len(mailoutbox) == pending
    assert OutboxMail.objects.filter(state="sent").count() == pending


def test_failed_sends_are_retried_then_marked_failed(campaign, mailoutbox, settings):
    loops.sync(at(date_of(campaign["plan"], Step.M2_OPEN)))
    settings.EMAIL_BACKEND = "tests.test_calendar.BrokenBackend"
    for _ in range(5):
        send_pending()
    assert OutboxMail.objects.filter(state="failed").count() == 1  # the first, 5 tries
    mail = OutboxMail.objects.get(state="failed")
    assert mail.attempts == 5 and "refused" in mail.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    send_pending()
    assert len(mailoutbox) == 3


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("refused by the SMTP server")


def test_meeting_invitations_carry_an_ics_and_a_new_date_sends_an_update(campaign, mailoutbox):
    plan = campaign["plan"]
    meeting = plan.milestones.get(step=Step.MEETING_INFO)
    meeting.place = "Préfecture, salle 2"
    meeting.save()
    loops.sync(at(meeting.date - datetime.timedelta(days=43)))
    assert not OutboxMail.objects.filter(kind="invitation").exists()
    loops.sync(at(meeting.date - datetime.timedelta(days=42)))
    loops.sync(at(meeting.date - datetime.timedelta(days=30)))
    invited = recipients("invitation")
    # Every member of the département's organisations (reviewers too), once.
    assert invited == sorted(["colleague", "contributor_in", "operator", "operator2", "reviewer"])
    send_pending()
    ics = mailoutbox[0].attachments[0]
    assert ics[0] == "invitation.ics" and ics[2] == "text/calendar"
    assert "BEGIN:VEVENT" in ics[1] and "LOCATION:Préfecture\\, salle 2" in ics[1]
    assert "DTSTART:20260315T130000Z" in ics[1]  # 14:00 in Paris
    Milestone.objects.filter(pk=meeting.pk).update(
        planned_date=meeting.date + datetime.timedelta(7)
    )
    loops.sync(at(meeting.date - datetime.timedelta(days=20)))
    assert OutboxMail.objects.filter(kind="invitation").count() == 2 * len(invited)


def test_results_mail_groups_each_signalement_exactly_once(campaign, mailoutbox):
    plan = campaign["plan"]
    users = campaign["users"]
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    reason = RejectionReason.objects.filter(applies_to=Status.REJECTED_OUT_OF_SPEC).first()
    reason.explanation = "La surface est sous l'unité minimale de collecte."
    reason.save()
    made = {}
    for (i, j), action in {
        (1, 1): "accept",
        (1, 2): "reject_out_of_spec",
        (2, 1): "already_done",
        (2, 2): None,
        (2, 3): "withdraw",
    }.items():
        polygon = grass_polygon(campaign, i, j)
        s = file(campaign, polygon_id=polygon.pk)
        if action == "withdraw":
            decisions.apply_action(users["contributor_in"], s.pk, action)
        elif action:
            why = reason.pk if action.startswith("reject") else None
            decisions.apply_action(users["operator"], s.pk, action, reason=why)
        made[action] = s.pk
    other = file(campaign, user="colleague", polygon_id=grass_polygon(campaign, 1, 3).pk)
    groups = loops.results_groups(users["contributor_in"], campaign["m2"])
    ids = {
        k: [s.pk for s in groups[k]] for k in ("corrected", "explained", "still_open", "withdrawn")
    }
    assert ids == {
        "corrected": [made["accept"]],
        "explained": sorted([made["reject_out_of_spec"], made["already_done"]]),
        "still_open": [made[None]],
        "withdrawn": [made["withdraw"]],
    }
    every = sorted(pk for group in ids.values() for pk in group)
    assert every == sorted(
        Signalement.objects.filter(author=users["contributor_in"]).values_list("pk", flat=True)
    )
    loops.sync(at(date_of(plan, Step.M2_CLOSE)))
    assert not OutboxMail.objects.filter(kind="results").exists()  # not before its date
    for _ in range(2):
        loops.sync(at(date_of(plan, Step.M2_RESULTS)))
    assert recipients("results") == ["colleague", "contributor_in"]
    send_pending()
    mail = next(
        m for m in mailoutbox if m.to == ["contributor_in@example.org"] and "suites" in m.subject
    )
    assert "ERREURS CORRIGÉES (1)" in mail.body
    assert "INCOMPRÉHENSIONS DE LA DONNÉE (2)" in mail.body
    assert "sous l'unité minimale de collecte" in mail.body
    assert "/nomenclature/#CS2.1.1.1" in mail.body
    assert f"/signalements/{other.pk}/" not in mail.body


def test_daily_digest_counts_new_signalements_for_operators(campaign, mailoutbox):
    from django.utils import timezone

    loops.sync(at(date_of(campaign["plan"], Step.M2_OPEN)))
    file(campaign)
    file(campaign, polygon_id=grass_polygon(campaign, 2, 2).pk)
    now = timezone.now() + datetime.timedelta(hours=1)
    assert loops.digest(now) == 2
    assert loops.digest(now) == 0
    assert recipients("digest") == ["operator", "operator2"]
    assert "2 nouveaux signalements" in OutboxMail.objects.filter(kind="digest").first().subject


def test_user_text_is_escaped_in_html_mails(campaign, mailoutbox):
    plan = campaign["plan"]
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    s = file(campaign)
    decisions.apply_action(
        campaign["users"]["operator"], s.pk, "accept", message="<script>alert(1)</script>"
    )
    loops.sync(at(date_of(plan, Step.M2_RESULTS)))
    mail = OutboxMail.objects.get(kind="results")
    assert "<script>" not in mail.body_html and "&lt;script&gt;" in mail.body_html


# --- pages ---------------------------------------------------------------------------------

PAGE_TABLE = {  # role -> (GET plan page, POST calendar, POST loop action)
    "anonymous": (302, 404, 404),  # the page: to the login page, and back
    "contributor_in": (200, 403, 403),
    "operator": (200, 403, 403),
    "operator2": (200, 302, 302),  # the manager
    "operator_out": (404, 404, 404),
    "reviewer": (200, 403, 403),
    "admin": (200, 302, 302),
}


@pytest.mark.parametrize("role", list(PAGE_TABLE))
def test_calendar_page_and_actions_follow_the_permission_table(client, campaign, role):
    """A 302 answers success and refusal alike on these forms: the state decides."""
    user = campaign["users"][role]
    if user:
        client.force_login(user)
    expected = PAGE_TABLE[role]
    allowed = expected[1] == 302
    assert client.get("/departements/98/calendrier/").status_code == expected[0]
    plan = campaign["plan"]
    info = plan.milestones.get(step=Step.MEETING_INFO)
    moved = info.planned_date + datetime.timedelta(days=3)
    # M1's loop ends in the future, so that opening it can succeed (a loop whose end has
    # passed is refused — with a 302 too).
    later = datetime.date.today() + datetime.timedelta(days=60)
    data = _formset_data(plan, meeting_info=moved, m1_close=later)
    assert client.post("/departements/98/calendrier/", data).status_code == expected[1]
    info.refresh_from_db()
    assert info.planned_date == (moved if allowed else moved - datetime.timedelta(days=3))
    m1 = campaign["m1"]
    was_open = m1.feedback_open
    response = client.post("/departements/98/boucles/M1/open/")
    assert response.status_code == expected[2]
    m1.refresh_from_db()
    assert m1.feedback_open is (True if allowed else was_open)


def _formset_data(plan, **changes):
    milestones = list(plan.milestones.order_by("order"))
    data = {"form-TOTAL_FORMS": str(len(milestones)), "form-INITIAL_FORMS": str(len(milestones))}
    for k, m in enumerate(milestones):
        data[f"form-{k}-id"] = str(m.pk)
        data[f"form-{k}-planned_date"] = str(changes.get(m.step, m.planned_date))
        data[f"form-{k}-actual_date"] = ""
        data[f"form-{k}-time"] = "14:00" if m.time else ""
        data[f"form-{k}-place"] = m.place
    return data


def test_calendar_refuses_a_loop_that_ends_before_it_opens(client, campaign):
    client.force_login(campaign["users"]["operator2"])
    plan = campaign["plan"]
    bad = _formset_data(plan, m1_close=datetime.date(2026, 6, 1))
    response = client.post("/departements/98/calendrier/", bad)
    assert response.status_code == 200
    assert "doit se terminer après son ouverture" in response.content.decode()
    assert date_of(plan, Step.M1_CLOSE) == datetime.date(2026, 6, 30)


def test_calendar_page_shows_the_timeline_and_the_loops(client, campaign):
    client.force_login(campaign["users"]["reviewer"])
    html = client.get("/departements/98/calendrier/").content.decode()
    assert 'id="timeline"' in html and 'id="loops"' in html and 'id="milestones"' in html
    assert 'id="mails"' not in html  # managers only
    assert 'type="date"' not in html  # read-only


def test_nomenclature_page_is_public_with_anchors(client):
    html = client.get("/nomenclature/").content.decode()
    assert 'id="CS2.2.1"' in html and 'id="US5"' in html


def test_manager_moves_a_meeting_and_chooses_its_invitees(client, campaign):
    client.force_login(campaign["users"]["operator2"])
    plan = campaign["plan"]
    data = _formset_data(plan, meeting_info=datetime.date(2026, 3, 20))
    info = plan.milestones.get(step=Step.MEETING_INFO)
    k = list(plan.milestones.order_by("order")).index(info)
    data[f"form-{k}-invitees"] = [str(campaign["orgs"]["ddt"].pk)]
    data[f"form-{k}-place"] = "Préfecture"
    assert client.post("/departements/98/calendrier/", data).status_code == 302
    info.refresh_from_db()
    assert info.planned_date == datetime.date(2026, 3, 20) and info.place == "Préfecture"
    assert list(info.invitees.values_list("name", flat=True)) == ["DDT 98"]
    html = client.get("/departements/98/calendrier/").content.decode()
    assert "Agence 97" not in html  # only the département's organisations are offered


@pytest.mark.parametrize(
    "feedback_open, published, window, today, expected",
    [
        (
            True,
            False,
            ("2027-01-04", "2027-03-15"),
            "2027-02-01",
            "Retours M2 ouverts jusqu'au 14 mars 2027 inclus.",
        ),
        (
            True,
            False,
            ("2027-01-04", "2027-10-02"),
            "2027-02-01",
            "Retours M2 ouverts jusqu'au 1er octobre 2027 inclus.",
        ),
        (True, False, None, "2027-02-01", "Retours M2 ouverts."),
        (
            False,
            False,
            ("2027-01-04", "2027-03-15"),
            "2026-12-01",
            "Retours M2 fermés : la boucle s'ouvre le 4 janvier 2027, les signalements seront "
            "possibles à partir de cette date.",
        ),
        (
            False,
            False,
            ("2027-01-04", "2027-03-15"),
            "2027-04-01",
            "Retours M2 clos depuis le 15 mars 2027 : les signalements ne sont plus possibles "
            "sur ce millésime.",
        ),
        (
            False,
            False,
            None,
            "2027-04-01",
            "Retours M2 fermés : aucune boucle n'est prévue pour l'instant.",
        ),
        (
            False,
            True,
            ("2027-01-04", "2027-03-15"),
            "2027-04-01",
            "M2 est publié : il ne change plus.",
        ),
    ],
    ids=["open", "open-until-the-1st", "open-no-plan", "not-yet", "over", "no-plan", "published"],
)
def test_the_map_says_until_when_a_loop_is_open_or_why_filing_is_not_possible(
    feedback_open, published, window, today, expected
):
    from django.utils import translation

    from apps.campaigns.map import loop_note

    day = datetime.date.fromisoformat
    window = tuple(map(day, window)) if window else None
    with translation.override("fr"):
        assert loop_note("M2", feedback_open, published, window, day(today)) == expected


@pytest.mark.django_db
def test_the_map_page_carries_each_vintage_s_loop_note(client, world):
    from .helpers import login

    create_plan(world["m2"].departement, datetime.date(2026, 1, 5))
    login(client, world, "contributor_in")
    page = client.get("/departements/98/carte/").content.decode()
    assert '"loop": "Retours M1' in page and '"loop": "Retours M2' in page
