from ocsge_web.celery import app

from . import loops, mail


@app.task(acks_late=True)
def send_outbox() -> int:
    """Send the pending mails (safe to run twice at once: rows are locked one by one)."""
    return mail.send_pending()


@app.task(acks_late=True)
def mail_notification(note_id: int) -> bool:
    """A notification's own mail, when its user wants them at once (idempotent: a note is
    mailed once, its outbox key is unique)."""
    from .notifications import mail_now

    return mail_now(note_id)


@app.task(acks_late=True)
def sync_calendars() -> dict:
    """Open and close the feedback loops and send the calendar's mails (Celery beat)."""
    return loops.sync()


@app.task(acks_late=True)
def daily_digest() -> int:
    """The operators' daily digest of new signalements, and the contributors' daily mail of
    what happened to theirs (Celery beat, every morning)."""
    from .notifications import mail_daily

    return loops.digest() + mail_daily()


@app.task(acks_late=True)
def build_publication(publication_id: int) -> str:
    """Build a département's publication package, then publish (idempotent)."""
    from .publication import build

    return build(publication_id)


@app.task(acks_late=True, max_retries=0)
def compute_baseline(vintage_id: int) -> float | None:
    """The quality report's artificialised area before corrections, at the vintage's
    current revision."""
    from .quality import store_baseline

    return store_baseline(vintage_id)
