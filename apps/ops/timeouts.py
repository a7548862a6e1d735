"""The statement timeout of the current database connection.

Web requests run under `REQUEST_STATEMENT_TIMEOUT_MS` (ocsge_web.middleware); work that a
request hands to a task running inline (Celery eager mode) runs without it, as in a worker.
The value is tracked on the connection object and forgotten when a new connection opens.
"""

from contextlib import contextmanager

from django.db import connection
from django.db.backends.signals import connection_created

ATTRIBUTE = "ocsge_statement_timeout"


def current_timeout() -> int:
    return getattr(connection, ATTRIBUTE, 0)


def set_statement_timeout(ms: int, raw=None):
    """`raw`: the driver's connection, from inside an execute wrapper (the statement then
    bypasses Django's cursor, and its query log)."""
    sql, params = "SELECT set_config('statement_timeout', %s, false)", [f"{int(ms)}ms"]
    if raw is not None:
        raw.execute(sql, params)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    setattr(connection, ATTRIBUTE, ms)


@contextmanager
def statement_timeout(ms: int):
    """Run the block's statements under `ms` milliseconds each (0: no limit), then restore
    the previous limit (after an error inside a transaction, its rollback restores it)."""
    previous = current_timeout()
    if previous == ms:
        yield
        return
    set_statement_timeout(ms)
    try:
        yield
    except BaseException:
        # In a transaction, its rollback undoes the SET (and the statement would fail).
        if not connection.in_atomic_block:
            set_statement_timeout(previous)
        raise
    set_statement_timeout(previous)


def _forget(sender, connection, **kwargs):
    setattr(connection, ATTRIBUTE, 0)


connection_created.connect(_forget, dispatch_uid="ocsge-statement-timeout")
