"""Mails through an outbox: rendered from templates (French, text + HTML), one row per
recipient and purpose under a unique key, sent by a task that locks each row.

Guarantees: enqueuing the same key twice writes one row (unique key); two workers never
send the same row (each takes it with `FOR UPDATE SKIP LOCKED` and marks it sent in the
same transaction); a mail marked sent is never sent again,
so retries of the task are harmless. The one window left is a crash between the SMTP
server's acceptance and the commit: then the mail goes out again on the next run (at least
once, as every SMTP sender).
"""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import OutboxMail

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def site_url() -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")


def enqueue(
    key: str, kind: str, user, template: str, context: dict, *, departement=None, attachments=()
) -> bool:
    """Queue one mail to `user` (rendered now, in French); False when the key exists already
    or the user has no address. Sending starts after the transaction commits."""
    if not user.email or OutboxMail.objects.filter(key=key[:200]).exists():
        return False  # no address, or queued already (sync runs every few minutes)
    context = {**context, "user": user, "site": site_url()}
    with translation.override("fr"):
        subject = " ".join(
            render_to_string(f"campaigns/mail/{template}.subject.txt", context).split()
        )
        text = render_to_string(f"campaigns/mail/{template}.txt", context)
        html = render_to_string(f"campaigns/mail/{template}.html", context)
    try:
        with transaction.atomic():  # a savepoint: a duplicate key leaves the caller intact
            OutboxMail.objects.create(
                key=key[:200],
                kind=kind,
                departement=departement,
                recipient=user.email,
                subject=subject[:300],
                body_text=text,
                body_html=html,
                attachments=list(attachments),
            )
    except IntegrityError:
        return False
    transaction.on_commit(_send_later)
    return True


def queued_keys(prefix: str) -> set[str]:
    """The keys already in the outbox that start with `prefix` (one indexed query)."""
    return set(OutboxMail.objects.filter(key__startswith=prefix).values_list("key", flat=True))


def _send_later():
    from apps.ops.dispatch import dispatch

    from .tasks import send_outbox

    # Not kept when the broker is down: the mails are in the outbox, which beat sends anyway.
    dispatch(send_outbox, keep=False)


def send_pending(limit: int = 500) -> int:
    """Send pending mails, each in its own transaction holding its row lock."""
    sent = 0
    for _ in range(limit):
        with transaction.atomic():
            mail = (
                OutboxMail.objects.select_for_update(skip_locked=True)
                .filter(state=OutboxMail.State.PENDING)
                .order_by("created_at", "id")
                .first()
            )
            if mail is None:
                break
            try:
                message = EmailMultiAlternatives(
                    mail.subject, mail.body_text, settings.DEFAULT_FROM_EMAIL, [mail.recipient]
                )
                if mail.body_html:
                    message.attach_alternative(mail.body_html, "text/html")
                for part in mail.attachments:
                    message.attach(part["filename"], part["content"], part["mimetype"])
                message.send()
            except Exception as exc:  # SMTP refused, network down: try again later
                log.warning("mail %s not sent: %s", mail.key, exc)
                attempts = mail.attempts + 1
                OutboxMail.objects.filter(pk=mail.pk).update(
                    attempts=F("attempts") + 1,
                    last_error=str(exc)[:2000],
                    state=OutboxMail.State.FAILED
                    if attempts >= MAX_ATTEMPTS
                    else OutboxMail.State.PENDING,
                )
                if attempts < MAX_ATTEMPTS:
                    break  # the server is likely down: leave the rest for the next run
                continue
            OutboxMail.objects.filter(pk=mail.pk).update(
                state=OutboxMail.State.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1
            )
            sent += 1
    return sent
