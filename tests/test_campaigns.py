"""Production calendar: the template, loops by date, mails sent exactly once, results."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Value
from django.db.models.functions import Concat

from apps.campaigns import loops
from apps.campaigns.calendar import create_plan
from apps.campaigns.mail import send_pending
from apps.campaigns.models import Milestone, OutboxMail, Step
from apps.landcover.models import Vintage
from apps.signalements import services
from apps.signalements.models import RejectionReason, Signalement
from apps.signalements.transitions import Status

from .test_signalements import file, grass_polygon, world  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
START = datetime.date(2026, 1, 15)


def at(day: datetime.date, hour=9):
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=PARIS)


def date_of(plan, step):
    return plan.milestones.get(step=step).date


@pytest.fixture
def campaign(request, square_departement):
    """The signalements' world with e-mail addresses, both loops closed, and a plan."""
    base = request.getfixturevalue("world")
    User = get_user_model()
    User.objects.update(email=Concat("username", Value("@example.org")))
    Vintage.objects.filter(departement=square_departement).update(feedback_open=False)
    plan = create_plan(square_departement, START)
    return {**base, "plan": plan}


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
    filing = services.Filing(vintage_id=vintage.pk, polygon_id=polygon.pk,
                             code_cs_proposed="CS2.1.1.1", code_us_proposed="US1.2")  # fmt: skip
    try:
        services.prepare(campaign["users"]["contributor_in"], filing)
        return True
    except services.Refused:
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
    with pytest.raises(services.Refused):
        services.apply_action(campaign["users"]["contributor_in"], s.pk, "withdraw")


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
    settings.EMAIL_BACKEND = "tests.test_campaigns.BrokenBackend"
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
    assert invited == sorted(["colleague", "contributor_in", "operator", "operator2",
                              "reviewer"])  # fmt: skip
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
            services.apply_action(users["contributor_in"], s.pk, action)
        elif action:
            why = reason.pk if action.startswith("reject") else None
            services.apply_action(users["operator"], s.pk, action, reason=why)
        made[action] = s.pk
    other = file(campaign, user="colleague", polygon_id=grass_polygon(campaign, 1, 3).pk)
    groups = loops.results_groups(users["contributor_in"], campaign["m2"])
    ids = {k: [s.pk for s in groups[k]] for k in ("corrected", "explained", "still_open",
                                                  "withdrawn")}  # fmt: skip
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
    services.apply_action(campaign["users"]["operator"], s.pk, "accept",
                          message="<script>alert(1)</script>")  # fmt: skip
    loops.sync(at(date_of(plan, Step.M2_RESULTS)))
    mail = OutboxMail.objects.get(kind="results")
    assert "<script>" not in mail.body_html and "&lt;script&gt;" in mail.body_html


# --- pages ---------------------------------------------------------------------------------

PAGE_TABLE = {  # role -> (GET plan page, POST calendar, POST loop action)
    "anonymous": (404, 404, 404),
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


# --- quality report ---------------------------------------------------------------------------


def _decide_some(campaign, capture):
    """Three signalements on M2: a grass square built (accepted), a forest (accepted), one
    rejected; the M2 loop then closed."""
    from apps.artif.compute import compute_departement

    plan = campaign["plan"]
    users = campaign["users"]
    compute_departement(plan.departement)
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    built = file(campaign, cs="CS1.1.1.1", us="US5")
    forest = file(campaign, polygon_id=grass_polygon(campaign, 2, 2).pk)
    rejected = file(campaign, polygon_id=grass_polygon(campaign, 1, 2).pk)
    with capture(execute=True):  # the indicators follow after each commit
        services.apply_action(users["operator"], built.pk, "accept")
        services.apply_action(users["operator"], forest.pk, "accept")
    reason = RejectionReason.objects.filter(applies_to=Status.REJECTED_IRRELEVANT).first()
    services.apply_action(users["operator"], rejected.pk, "reject_irrelevant", reason=reason.pk)
    loops.sync(at(date_of(plan, Step.M2_CLOSE)))
    return built, forest, rejected


def test_quality_report_counts_rates_matrix_and_artificialisation(
    campaign, django_capture_on_commit_callbacks
):
    from apps.campaigns import quality

    _decide_some(campaign, django_capture_on_commit_callbacks)
    data = quality.report(campaign["plan"].departement)
    assert data["totals"] == {"received": 3, "accepted": 2, "decided": 3, "open": 0,
                              "acceptance_rate": pytest.approx(200 / 3)}  # fmt: skip
    cells = {(r["from"], c["to"]): c["count"] for r in data["matrix"] for c in r["cells"]}
    assert cells[("CS2.2.1", "CS1.1.1.1")] == 1 and cells[("CS2.2.1", "CS2.1.1.1")] == 1
    assert cells[("CS1.1.1.1", "CS2.2.1")] == 0
    by_class = {r["code"]: r["net"] for r in data["area_by_class"]}
    assert by_class == {"CS1.1.1.1": 10_000.0, "CS2.1.1.1": 10_000.0, "CS2.2.1": -20_000.0}
    m2 = next(r for r in data["artif"] if r["rank"] == "M2")
    assert m2["delta"] == pytest.approx(10_000.0)  # one grass square built
    assert data["by_organisation"][0]["received"] == 3
    assert data["by_commune"] == [{"code": "98001", "name": "Étréchy-sur-Carré", "received": 3,
                                   "accepted": 2}]  # fmt: skip


def test_artificialised_area_before_corrections_undoes_a_split(
    campaign, django_capture_on_commit_callbacks
):
    from apps.campaigns import quality
    from apps.landcover.models import LandCoverPolygon

    from .conftest import X0, Y0
    from .test_signalements import square_wgs84

    plan = campaign["plan"]
    from apps.artif.compute import compute_departement

    compute_departement(plan.departement)
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    polygon = grass_polygon(campaign, 1, 1)
    shape = square_wgs84(X0 + 100, Y0 + 100, X0 + 160, Y0 + 200)  # 6,000 m² of the square
    filing = services.Filing(vintage_id=campaign["m2"].pk, geom=shape,
                             code_cs_proposed="CS1.1.1.1", code_us_proposed="US5")  # fmt: skip
    s = services.file_signalement(campaign["users"]["contributor_in"], filing)
    with django_capture_on_commit_callbacks(execute=True):
        services.apply_action(campaign["users"]["operator"], s.pk, "accept")
    count = LandCoverPolygon.objects.filter(vintage=campaign["m2"]).count()
    m2 = Vintage.objects.get(pk=campaign["m2"].pk)
    before = quality.artif_before_corrections(m2)
    after = quality._artif(m2)
    assert after - before == pytest.approx(6_000.0, abs=1.0)
    assert LandCoverPolygon.objects.filter(vintage=m2).count() == count  # rolled back
    assert polygon.pk


QUALITY_TABLE = {"anonymous": 404, "contributor_in": 403, "operator": 200, "operator2": 200,
                 "reviewer": 200, "operator_out": 404, "admin": 200}  # fmt: skip


@pytest.mark.parametrize("role", list(QUALITY_TABLE))
def test_quality_report_is_for_ign_and_state_services(client, campaign, role):
    if campaign["users"][role]:
        client.force_login(campaign["users"][role])
    assert client.get("/departements/98/rapport-qualite/").status_code == QUALITY_TABLE[role]


def test_quality_report_page_csv_and_printable(
    client, campaign, django_capture_on_commit_callbacks
):
    _decide_some(campaign, django_capture_on_commit_callbacks)
    client.force_login(campaign["users"]["reviewer"])
    html = client.get("/departements/98/rapport-qualite/").content.decode()
    markers = ['id="totals"', 'id="matrix"', 'id="by-class"', 'id="artif"',
               'id="by-organisation"', 'id="by-commune"', "rgba(230, 85, 13, 1.0)"]  # fmt: skip
    for marker in markers:
        assert marker in html
    assert (
        "printable" in client.get("/departements/98/rapport-qualite/?imprimer=1").content.decode()
    )
    rows = client.get("/departements/98/rapport-qualite/?format=csv").content.decode().splitlines()
    assert rows[0] == "table,ligne,colonne,nombre,surface_m2"
    assert "corrections,CS2.2.1,CS1.1.1.1,1,10000.0" in rows


# --- dashboard ----------------------------------------------------------------------------------


def test_region_dashboard_shows_each_departement_with_progress_and_lateness(client, campaign):
    from apps.territories.models import Region

    region = Region.objects.create(code="95", name="Région test")
    Vintage.objects.none()
    campaign["plan"].departement.__class__.objects.filter(code="98").update(region=region)
    file(campaign) if False else None
    Vintage.objects.filter(pk=campaign["m2"].pk).update(feedback_open=True)
    s = file(campaign)
    services.apply_action(campaign["users"]["operator"], s.pk, "accept")
    file(campaign, polygon_id=grass_polygon(campaign, 2, 2).pk)
    client.force_login(campaign["users"]["reviewer"])
    html = client.get("/tableau-de-bord/regions/95/").content.decode()
    assert 'data-code="98"' in html
    assert '<progress max="2" value="1"' in html
    assert "étapes en retard" in html  # the template's start is long past, nothing done
    assert client.get("/tableau-de-bord/").status_code == 200
    client.force_login(campaign["users"]["operator_out"])
    assert client.get("/tableau-de-bord/regions/95/").status_code == 404


# --- publication ---------------------------------------------------------------------------------


def test_publication_is_refused_while_a_loop_is_open_or_a_signalement_undecided(campaign):
    from apps.campaigns import publication

    plan = campaign["plan"]
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    file(campaign)
    reasons = publication.blockers(plan.departement)
    assert any("M2 est encore ouverte" in r for r in reasons)
    assert any("ne sont pas décidés" in r for r in reasons)
    with pytest.raises(publication.Refused):
        publication.publish(plan.departement, campaign["users"]["operator2"])


def test_publication_package_reads_back_equal_to_the_database(
    campaign, settings, tmp_path, django_capture_on_commit_callbacks
):
    import json

    import pyogrio

    from apps.campaigns import publication
    from apps.campaigns.models import Publication
    from apps.landcover.difference import compute_difference
    from apps.landcover.models import ChangePiece, LandCoverPolygon

    settings.MEDIA_ROOT = tmp_path
    built, _forest, _rejected = _decide_some(campaign, django_capture_on_commit_callbacks)
    dep = campaign["plan"].departement
    compute_difference(dep)
    with django_capture_on_commit_callbacks(execute=True):
        publication.publish(dep, campaign["users"]["operator2"])
    pub = Publication.objects.get(departement=dep)
    assert pub.state == Publication.State.DONE
    folder = tmp_path / "publications" / "98"
    names = {f["name"] for f in pub.files}
    assert names == {"OCSGE_98_M1_2021.gpkg", "OCSGE_98_M2_2024.gpkg",
                     "OCSGE_98_DIFFERENCE_2021_2024.gpkg",
                     "OCSGE_98_ARTIFICIALISATION_COMMUNES.csv", "metadata.json"}  # fmt: skip
    directory = next(folder.iterdir())
    m2 = pyogrio.read_dataframe(directory / "OCSGE_98_M2_2024.gpkg", layer="OCCUPATION_SOL")
    db = {p.ocsge_id: (p.code_cs, p.code_us, round(p.area, 3))
          for p in LandCoverPolygon.objects.filter(vintage=campaign["m2"])}  # fmt: skip
    assert {r.id: (r.code_cs, r.code_us, round(r.geometry.area, 3))
            for r in m2.itertuples()} == db  # fmt: skip
    diff = pyogrio.read_dataframe(directory / "OCSGE_98_DIFFERENCE_2021_2024.gpkg")
    assert list(diff.columns) == ["cs_avant", "us_avant", "cs_apres", "us_apres", "geometry"]
    assert len(diff) == ChangePiece.objects.filter(departement=dep).count()
    assert diff.geometry.area.sum() == pytest.approx(
        sum(ChangePiece.objects.filter(departement=dep).values_list("area", flat=True))
    )
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["licence"].startswith("Licence Ouverte")
    import hashlib

    for f in metadata["files"]:
        assert hashlib.sha256((directory / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert set(Vintage.objects.filter(departement=dep).values_list("state", flat=True)) == {
        "published"
    }
    # Read-only now: no filing, no decision, no loop reopening, no replacement.
    with pytest.raises(services.Refused, match="publié"):
        filing = services.Filing(vintage_id=campaign["m2"].pk, polygon_id=built.polygon_id,
                                 code_cs_proposed="CS2.2.1", code_us_proposed="US1.1")  # fmt: skip
        services.prepare(campaign["users"]["contributor_in"], filing)
    loops.open_now(
        campaign["plan"], "M2", date_of(campaign["plan"], Step.M2_CLOSE) - datetime.timedelta(1)
    )
    loops.sync(at(date_of(campaign["plan"], Step.M2_CLOSE) - datetime.timedelta(1)))
    assert not Vintage.objects.get(pk=campaign["m2"].pk).feedback_open


def test_published_files_are_open_to_everyone(client, campaign, settings, tmp_path,
                                              django_capture_on_commit_callbacks):  # fmt: skip
    from apps.campaigns import publication

    settings.MEDIA_ROOT = tmp_path
    _decide_some(campaign, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        publication.publish(campaign["plan"].departement, campaign["users"]["operator2"])
    html = client.get("/donnees/").content.decode()
    assert "Licence Ouverte" in html and "OCSGE_98_M1_2021.gpkg" in html
    response = client.get("/donnees/98/OCSGE_98_ARTIFICIALISATION_COMMUNES.csv")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert b"code_insee" in b"".join(response.streaming_content)
    assert client.get("/donnees/98/..%2Fsecret.txt").status_code == 404
    assert client.get("/donnees/98/autre.gpkg").status_code == 404


PUBLISH_TABLE = {"anonymous": 404, "contributor_in": 403, "operator": 403, "reviewer": 403,
                 "operator_out": 404, "operator2": 302, "admin": 302}  # fmt: skip


@pytest.mark.parametrize("role", list(PUBLISH_TABLE))
def test_only_managers_publish(client, campaign, role, settings, tmp_path):
    from apps.campaigns.models import Publication

    settings.MEDIA_ROOT = tmp_path
    if campaign["users"][role]:
        client.force_login(campaign["users"][role])
    response = client.post("/departements/98/publier/")
    assert response.status_code == PUBLISH_TABLE[role]
    # 302 answers success and refusal alike: the publication itself is the proof.
    assert Publication.objects.exists() is (PUBLISH_TABLE[role] == 302)


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
