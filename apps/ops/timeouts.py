"""The statement timeout of the current database connection.

Web requests run under `REQUEST_STATEMENT_TIMEOUT_MS` (ocsge_web.middleware); work that a
request hands to a task running inline (Celery eager mode) runs without it, as in a worker.
The value is tracked on the connection object and forgotten when a new connection opens.
"""

from contextlib import contextmanager, suppress

from django.db import DatabaseError, connection
from django.db.backends.signals import connection_created

ATTRIBUTE = "ocsge_statement_timeout"


def cancelled(exception) -> bool:
    """Whether a database error is a statement stopped by its timeout."""
    from psycopg.errors import QueryCanceled

    return isinstance(exception.__cause__, QueryCanceled)


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
        # Restore when the connection still takes statements (autocommit, or the error was
        # rolled back to an inner savepoint); in a broken transaction, its rollback will.
        with suppress(DatabaseError):
            set_statement_timeout(previous)
        raise
    set_statement_timeout(previous)


def _forget(sender, connection, **kwargs):
    setattr(connection, ATTRIBUTE, 0)


connection_created.connect(_forget, dispatch_uid="ocsge-statement-timeout")


def longer_statements(ms: int):
    """View decorator: its statements may take up to `ms` each — for work bounded by the
    data, not by the request (a département-wide figure, a tile built once per revision),
    that a million-polygon département takes longer than the request timeout to do."""
    from functools import wraps

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            with statement_timeout(ms):
                return view(request, *args, **kwargs)

        return wrapped

    return decorate
