"""User text is escaped everywhere it is shown: script and HTML are posted in every text field
a user can write (names, organisation, comment, answers, decision messages, file names,
meeting place, invitation), then every page and mail that shows them is checked."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from apps.campaigns import loops
from apps.campaigns.calendar import Step
from apps.campaigns.mail import send_pending
from apps.campaigns.models import OutboxMail
from apps.signalements import conversation, decisions, filing
from apps.signalements.models import RejectionReason, Signalement
from apps.signalements.transitions import Status
from apps.territories.models import Role

from .helpers import at, date_of, grass_polygon, png

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("xss")</script>'
IMG = "<img src=x onerror=alert(1)>"
BOLD = "<b>gras</b>"
PAYLOAD = f"{SCRIPT}{IMG}{BOLD}"
# What must never reach a browser as markup.
RAW = [SCRIPT, "<img src=x", BOLD]
ESCAPED = "&lt;script&gt;alert("


def _assert_escaped(html: str, where: str, *, shown: bool = True):
    for raw in RAW:
        assert raw not in html, (where, raw)
    if shown:  # the text is there, escaped: the check above cannot pass by omission
        assert ESCAPED in html, where


@pytest.fixture
def hostile(campaign, settings, tmp_path):
    """The campaign's world after a contributor and an operator wrote the payload in every
    text field they have."""
    settings.MEDIA_ROOT = tmp_path
    users = campaign["users"]
    contributor, operator = users["contributor_in"], users["operator"]
    contributor.refresh_from_db()  # its address was set by the campaign fixture
    contributor.first_name, contributor.last_name = PAYLOAD[:150], "Dupont"
    contributor.save()
    agence = campaign["orgs"]["agence"]
    agence.name = f"Agence {PAYLOAD}"
    agence.save()
    plan = campaign["plan"]
    meeting = plan.milestones.get(step=Step.MEETING_INFO)
    meeting.place = PAYLOAD
    meeting.save()
    loops.sync(at(date_of(plan, Step.M2_OPEN)))

    client = Client()
    client.force_login(contributor)
    response = client.post(
        "/api/signalements/",
        {
            "vintage": campaign["m2"].pk,
            "polygon": grass_polygon(campaign).pk,
            "code_cs_proposed": "CS2.1.1.1",
            "code_us_proposed": "US1.2",
            "comment": PAYLOAD,
            "attachments": [SimpleUploadedFile(f"{IMG}.png", png(), "image/png")],
        },
    )
    assert response.status_code == 201, response.content
    s = Signalement.objects.get()
    conversation.add_comment(operator, s.pk, PAYLOAD)
    decisions.apply_action(operator, s.pk, "take")
    decisions.apply_action(operator, s.pk, "ask_info", message=PAYLOAD)
    decisions.apply_action(contributor, s.pk, "answer", message=PAYLOAD)
    reason = RejectionReason.objects.filter(applies_to=Status.REJECTED_OUT_OF_SPEC).first()
    decisions.apply_action(
        users["operator2"], s.pk, "reject_out_of_spec", reason=reason.pk, message=PAYLOAD
    )
    # A second one, still open, for the queue and the digest.
    filing.file_signalement(
        contributor,
        filing.Filing(
            vintage_id=campaign["m2"].pk,
            polygon_id=grass_polygon(campaign, 2, 2).pk,
            code_cs_proposed="CS2.1.1.1",
            code_us_proposed="US1.2",
            comment=PAYLOAD,
        ),
    )
    return {**campaign, "signalement": s}


def test_pages_show_user_text_escaped(client, hostile):
    code = hostile["m2"].departement.code
    s = hostile["signalement"]
    pages = {
        "detail (operator)": (hostile["users"]["operator"], f"/signalements/{s.pk}/", True),
        "detail (author)": (hostile["users"]["contributor_in"], f"/signalements/{s.pk}/", True),
        "queue": (hostile["users"]["operator"], f"/departements/{code}/signalements/", True),
        "quality": (hostile["users"]["operator2"], f"/departements/{code}/rapport-qualite/", True),
        "calendar": (hostile["users"]["operator2"], f"/departements/{code}/calendrier/", True),
        "dashboard": (hostile["users"]["reviewer"], "/tableau-de-bord/", False),
        "map": (hostile["users"]["contributor_in"], f"/departements/{code}/carte/", False),
    }
    for where, (user, url, shown) in pages.items():
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, (where, response.status_code)
        _assert_escaped(response.content.decode(), where, shown=shown)


def test_mails_show_user_text_escaped(hostile, mailoutbox):
    plan = hostile["plan"]
    loops.sync(at(date_of(plan, Step.MEETING_INFO) - datetime.timedelta(days=30)))
    loops.sync(at(date_of(plan, Step.M2_CLOSE)))
    loops.sync(at(date_of(plan, Step.M2_RESULTS)))
    loops.digest(timezone.now() + datetime.timedelta(hours=1))
    kinds = {}
    for mail in OutboxMail.objects.all():
        kinds.setdefault(mail.kind, []).append(mail)
        _assert_escaped(mail.body_html, mail.kind, shown=False)
        assert "<" not in mail.subject, mail.subject
    results = next(m for m in kinds["results"] if m.recipient.startswith("contributor_in"))
    _assert_escaped(results.body_html, "results mail")  # comment, decision message, names
    assert SCRIPT in results.body_text  # plain text keeps the words as written
    assert "invitation" in kinds and "digest" in kinds
    send_pending()
    assert mailoutbox


def test_invitation_page_and_mail_escape_names(client, hostile):
    client.force_login(hostile["users"]["admin"])
    response = client.post(
        "/comptes/inviter/",
        {
            "email": "new@agence98.fr",
            "first_name": PAYLOAD[:150],
            "last_name": BOLD,
            "organisation": hostile["orgs"]["agence"].pk,
            "role": Role.CONTRIBUTOR,
        },
    )
    assert response.status_code == 302
    page = client.get("/comptes/inviter/").content.decode()
    _assert_escaped(page, "invite page")  # the organisation's name
    mail = OutboxMail.objects.get(kind="account_invitation")
    _assert_escaped(mail.body_html, "invitation mail")
    user = get_user_model().objects.get(email="new@agence98.fr")
    assert user.first_name == PAYLOAD[:150]  # stored as written, escaped when shown
