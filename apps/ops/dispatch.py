"""Sending Celery tasks so that a broker outage never fails a request.

`dispatch(task, *args)` publishes the task; when Redis does not answer, the task is kept in
the database (`DeferredTask`) and `redispatch_deferred` (Celery beat every minute, and each
worker at start-up) sends it once the broker is back. Tasks whose work is already kept in the
database by other means (the mail outbox) pass `keep=False`: nothing is lost either way.
Every task sent this way is idempotent, so a task sent twice (a crash between publishing and
deleting its row) does no harm.
"""

import logging

from django.db import transaction

from .models import DeferredTask
from .timeouts import statement_timeout

log = logging.getLogger(__name__)


def _broker_down() -> tuple[type[Exception], ...]:
    """The errors of an unreachable broker (imported when sending: the redis client's
    import is a twentieth of a second every page and command start would pay)."""
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (BrokerError, RedisConnectionError, RedisTimeoutError)


def dispatch(task, *args, keep: bool = True):
    """Send `task(*args)`; keep it for later when the broker is unreachable. Returns the
    AsyncResult, or None when the task was kept (or dropped with keep=False)."""
    if task.app.conf.task_always_eager:
        # No broker: run here, errors propagate, without the request's statement timeout.
        with statement_timeout(0):
            return task.apply_async(args=args)
    broker_down = _broker_down()
    try:
        return task.apply_async(args=args, retry=False)
    except broker_down as exc:
        log.warning(
            "broker unreachable, %s%s %s: %s",
            task.name,
            args,
            "kept for later" if keep else "left to its periodic run",
            exc,
        )
        if keep:
            DeferredTask.objects.create(name=task.name, args=list(args), error=str(exc)[:500])
        return None


def redispatch(limit: int = 1000) -> int:
    """Send the kept tasks, oldest first; stops (keeping the rest) if the broker is still
    down. Two callers at once never send the same row (SKIP LOCKED)."""
    from celery import current_app

    broker_down = _broker_down()
    sent = 0
    while sent < limit:
        with transaction.atomic():
            row = DeferredTask.objects.select_for_update(skip_locked=True).order_by("id").first()
            if row is None:
                break
            try:
                current_app.tasks[row.name].apply_async(args=row.args, retry=False)
            except broker_down as exc:
                log.warning(
                    "broker still unreachable, %d task(s) kept: %s",
                    DeferredTask.objects.count(),
                    exc,
                )
                break
            row.delete()
            sent += 1
    return sent


def claimed(rows, field: str, seconds: int) -> bool:
    """Mark `rows` (a queryset) as asked now in `field` (a datetime column) unless they were
    asked less than `seconds` ago; True when this caller marked them and so should send the
    work. One conditional UPDATE: two requests at once, one sends."""
    from datetime import timedelta

    from django.db.models import Q
    from django.utils import timezone

    now = timezone.now()
    stale = Q(**{f"{field}__isnull": True}) | Q(
        **{f"{field}__lt": now - timedelta(seconds=seconds)}
    )
    return bool(rows.filter(stale).update(**{field: now}))
