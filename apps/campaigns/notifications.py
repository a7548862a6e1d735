"""Telling contributors what happens to their signalements: a status changed (a decision,
its undo), details were asked, a comment was left — by someone else. Each is a
`Notification`, counted on « Mes signalements » until seen, and mailed as the author chose
(`NotificationSetting`): at once, in one mail a day, or never."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.signalements.models import Signalement

from . import mail
from .models import Notification, NotificationSetting, OutboxMail

Frequency = NotificationSetting.Frequency


def frequency_of(user_id: int) -> str:
    row = NotificationSetting.objects.filter(user_id=user_id).values_list("frequency", flat=True)
    return row.first() or Frequency.IMMEDIATE


def describe(signalement, what: str, message: str) -> str:
    """The notification's sentence (in French: the mails are)."""
    with translation.override("fr"):
        if what == Notification.What.QUESTION:
            return _(
                "Des précisions sont demandées sur votre signalement n° %(id)d : « %(message)s »"
            ) % {"id": signalement.pk, "message": message}
        if what == Notification.What.COMMENT:
            return _("Nouveau commentaire sur votre signalement n° %(id)d : « %(message)s »") % {
                "id": signalement.pk,
                "message": message,
            }
        text = _("Votre signalement n° %(id)d est maintenant « %(status)s ».") % {
            "id": signalement.pk,
            "status": signalement.get_status_display(),
        }
        if signalement.reason_id:
            text += " " + _("Motif : %(reason)s.") % {"reason": signalement.reason.label}
        if message:
            text += f" « {message} »"
        return text


def on_signalement_changed(sender, signalement, actor, what, message, **kwargs):
    """Receiver of `signalements.signals.signalement_changed`, in the change's transaction:
    the author is told, unless they did it themselves (or it is a proposal the platform
    filed)."""
    author_id = signalement.author_id
    if (
        author_id is None
        or author_id == actor.pk
        or signalement.kind != Signalement.Kind.CONTRIBUTION
    ):
        return
    note = Notification.objects.create(
        user_id=author_id,
        signalement=signalement,
        what=what,
        text=describe(signalement, what, message),
    )
    transaction.on_commit(lambda: _mail_later(note.pk))


def _mail_later(note_id: int):
    """By a worker: reading the note, the author's choice, the outbox, and rendering the
    mail took 4 to 7 statements and three templates of every decision's request."""
    from apps.ops.dispatch import dispatch

    from .tasks import mail_notification

    dispatch(mail_notification, note_id)


def _path(signalement_id: int) -> str:
    return reverse("signalements:detail", args=[signalement_id])


def mail_now(note_id: int) -> bool:
    """The notification's own mail, when its user wants them at once."""
    note = (
        Notification.objects.select_related("user", "signalement__vintage__departement")
        .defer("signalement__vintage__departement__geom")
        .filter(pk=note_id, mailed_at__isnull=True)
        .first()
    )
    if note is None or frequency_of(note.user_id) != Frequency.IMMEDIATE:
        return False
    queued = mail.enqueue(
        f"notification:{note.pk}",
        OutboxMail.Kind.NOTIFICATION,
        note.user,
        "notification",
        {
            "note": note,
            "path": _path(note.signalement_id),
            "settings_path": reverse("campaigns:mine"),
        },
        departement=note.signalement.vintage.departement,
    )
    Notification.objects.filter(pk=note.pk).update(mailed_at=timezone.now())
    return queued


def mail_daily(now=None) -> int:
    """One mail per user who chose « un courriel par jour », with what happened to their
    signalements since their last one (Celery beat, every morning). Returns mails queued."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    waiting = Notification.objects.filter(mailed_at__isnull=True, created_at__lt=now)
    users = NotificationSetting.objects.filter(
        frequency=Frequency.DAILY,
        user__in=waiting.values("user"),
    ).select_related("user")
    queued = 0
    for setting in users:
        notes = list(waiting.filter(user=setting.user_id).order_by("created_at", "id")[:100])
        queued += mail.enqueue(
            f"notifications:{setting.user_id}:{day}",
            OutboxMail.Kind.NOTIFICATIONS,
            setting.user,
            "notifications",
            {
                "notes": [(n, _path(n.signalement_id)) for n in notes],
                "settings_path": reverse("campaigns:mine"),
            },
        )
        waiting.filter(user=setting.user_id).update(mailed_at=now)
    return queued


def unseen_count(user) -> int:
    return Notification.objects.filter(user=user, seen_at__isnull=True).count()


def seen(user, before: datetime.datetime | None = None) -> int:
    """Mark the user's notifications seen (they opened « Mes signalements »)."""
    return Notification.objects.filter(
        user=user, seen_at__isnull=True, created_at__lte=before or timezone.now()
    ).update(seen_at=timezone.now())
