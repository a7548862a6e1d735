"""Notifications: the author of a signalement is told when its status changes, details are
asked or a comment is left by someone else — counted on « Mes signalements » until seen, and
mailed at once, in one mail a day, or never, as they chose."""

import datetime

import pytest
from django.utils import timezone

from apps.campaigns import notifications
from apps.campaigns.models import Notification, NotificationSetting, OutboxMail
from apps.signalements import conversation, decisions

from .helpers import file, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailed(world):
    """The cast with addresses; the mails queued after each commit."""
    for user in world["users"].values():
        if user is not None:
            user.email = f"{user.username}@example.org"
            user.save(update_fields=["email"])
    return world


def _mails(to="contributor_in@example.org"):
    return list(
        OutboxMail.objects.filter(recipient=to).order_by("id").values_list("kind", "subject")
    )


def test_the_author_is_told_of_each_decision_question_and_comment_by_others(
    mailed, django_capture_on_commit_callbacks
):
    world = mailed
    operator, author = world["users"]["operator"], world["users"]["contributor_in"]
    with django_capture_on_commit_callbacks(execute=True):
        s = file(world)  # filing: nothing to tell
        decisions.apply_action(operator, s.pk, "take")
        decisions.apply_action(operator, s.pk, "ask_info", message="Quelle essence ?")
        conversation.add_comment(author, s.pk, "Des chênes.")  # the author's own: nothing
        decisions.apply_action(author, s.pk, "answer", message="Des chênes.")  # their own
        conversation.add_comment(operator, s.pk, "Merci, je regarde.")
        decisions.apply_action(operator, s.pk, "accept")
    notes = Notification.objects.filter(user=author).order_by("id")
    assert [(n.what, n.text) for n in notes] == [
        ("status", f"Votre signalement n° {s.pk} est maintenant « En cours de traitement »."),
        (
            "question",
            f"Des précisions sont demandées sur votre signalement n° {s.pk} : « Quelle essence ? »",
        ),
        (
            "comment",
            f"Nouveau commentaire sur votre signalement n° {s.pk} : « Merci, je regarde. »",
        ),
        ("status", f"Votre signalement n° {s.pk} est maintenant « Pris en compte »."),
    ]
    assert _mails() == [
        ("notification", f"OCS GE : du nouveau pour votre signalement n° {s.pk}"),
        ("notification", f"OCS GE : des précisions sont demandées sur votre signalement n° {s.pk}"),
        ("notification", f"OCS GE : un commentaire sur votre signalement n° {s.pk}"),
        ("notification", f"OCS GE : du nouveau pour votre signalement n° {s.pk}"),
    ]
    body = OutboxMail.objects.filter(recipient="contributor_in@example.org").first().body_text
    assert f"/signalements/{s.pk}/" in body and "/mes-signalements/" in body
    assert not Notification.objects.exclude(user=author).exists()  # the operator is not told


def test_a_decision_leaves_the_authors_mail_to_a_worker(
    mailed, django_capture_on_commit_callbacks, monkeypatch
):
    """Reading the note, the author's choice and the outbox and rendering the mail took
    4 to 7 statements and three templates of the operator's request: now one task per
    note, sent after the commit; the mail is queued once however often it runs."""
    from apps.campaigns.tasks import mail_notification

    world = mailed
    sent = []
    monkeypatch.setattr(
        "apps.ops.dispatch.dispatch", lambda task, *args, **kw: sent.append((task.name, args))
    )
    s = file(world)
    with django_capture_on_commit_callbacks(execute=True):
        decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    note = Notification.objects.get(user=world["users"]["contributor_in"])
    assert [t for t in sent if "campaigns" in t[0]] == [
        ("apps.campaigns.tasks.mail_notification", (note.pk,))
    ]
    assert _mails() == [] and Notification.objects.get(pk=note.pk).mailed_at is None
    assert [mail_notification(note.pk), mail_notification(note.pk)] == [True, False]
    assert _mails() == [("notification", f"OCS GE : du nouveau pour votre signalement n° {s.pk}")]


def test_a_daily_mail_gathers_the_day_and_never_means_never(
    mailed, django_capture_on_commit_callbacks
):
    world = mailed
    operator = world["users"]["operator"]
    NotificationSetting.objects.create(user=world["users"]["contributor_in"], frequency="daily")
    NotificationSetting.objects.create(user=world["users"]["colleague"], frequency="never")
    with django_capture_on_commit_callbacks(execute=True):
        mine = file(world)
        theirs = file(world, user="colleague")
        decisions.apply_action(operator, mine.pk, "take")
        conversation.add_comment(operator, mine.pk, "Je regarde.")
        decisions.apply_action(operator, theirs.pk, "take")
    assert _mails() == [] and _mails("colleague@example.org") == []
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.mail_daily() == 1
    assert _mails() == [("notifications", "OCS GE : 2 suites données à vos signalements")]
    body = OutboxMail.objects.get(recipient="contributor_in@example.org").body_text
    assert "En cours de traitement" in body and "Je regarde." in body
    assert notifications.mail_daily(timezone.now() + datetime.timedelta(days=1)) == 0
    assert _mails("colleague@example.org") == []
    # Still counted on the site, whatever the choice.
    assert notifications.unseen_count(world["users"]["colleague"]) == 1


def test_undoing_a_decision_tells_the_author_and_platform_proposals_tell_no_one(
    mailed, django_capture_on_commit_callbacks
):
    from apps.signalements.models import Signalement

    world = mailed
    with django_capture_on_commit_callbacks(execute=True):
        s = file(world)
        decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    proposal = Signalement.objects.get(origin=s)  # filed by the platform on M1
    with django_capture_on_commit_callbacks(execute=True):
        decisions.apply_action(world["users"]["operator"], proposal.pk, "take")
        decisions.undo(world["users"]["operator"], s.pk)
    texts = list(Notification.objects.order_by("id").values_list("text", flat=True))
    assert texts == [
        f"Votre signalement n° {s.pk} est maintenant « Pris en compte ».",
        f"Votre signalement n° {s.pk} est maintenant « Reçu ».",
    ]


def test_my_signalements_counts_what_is_new_then_marks_it_seen(client, mailed):
    world = mailed
    s = file(world)
    decisions.apply_action(world["users"]["operator"], s.pk, "take")
    conversation.add_comment(world["users"]["operator"], s.pk, "Je regarde.")
    login(client, world, "contributor_in")
    home = client.get("/").content.decode()
    assert 'id="my-signalements-link"' in home and '<span class="badge count"' in home
    assert 'title="2 nouvelles suites">2</span>' in home
    page = client.get("/mes-signalements/").content.decode()
    assert page.count('class="unseen"') == 2 and f'href="/signalements/{s.pk}/"' in page
    assert "En cours de traitement" in page
    again = client.get("/").content.decode()
    assert '<span class="badge count"' not in again
    assert 'class="unseen"' not in client.get("/mes-signalements/").content.decode()
    # An operator files nothing: no such link.
    login(client, world, "operator")
    assert 'id="my-signalements-link"' not in client.get("/").content.decode()


def test_the_frequency_is_the_user_s_choice_and_a_bad_one_changes_nothing(client, mailed):
    login(client, mailed, "contributor_in")
    client.post("/mes-signalements/", {"frequency": "daily"})
    setting = NotificationSetting.objects.get(user=mailed["users"]["contributor_in"])
    assert setting.frequency == "daily"
    answer = client.post("/mes-signalements/", {"frequency": "hourly"})
    assert answer.status_code == 200
    setting.refresh_from_db()
    assert setting.frequency == "daily"
    client.logout()
    assert client.get("/mes-signalements/").status_code == 302  # to the login page
