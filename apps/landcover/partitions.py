"""One partition of the polygon table per vintage (PostgreSQL LIST partitioning on vintage_id).

Why: a vintage is written in bulk once (import, inference) and read or corrected by vintage
everywhere else. Its own partition lets a bulk load COPY into a bare table and build the
indexes once at the end (a sorted GiST build is about ten times faster than maintaining the
index row by row), lets a vintage be dropped without a million-row DELETE and its dead rows,
and keeps each vintage's indexes small.

Every partition is created as a standalone table then ATTACHed: ATTACH takes a SHARE UPDATE
EXCLUSIVE lock on the parent, so reads and corrections of other vintages go on meanwhile
(`CREATE TABLE … PARTITION OF` would lock the parent against everything until the commit).
"""

import contextlib
import contextvars

from django.db import connection

PARENT = "landcover_landcoverpolygon"

_staged_by_caller = contextvars.ContextVar("partition_staged_by_caller", default=False)


def name(vintage_id: int) -> str:
    return f"{PARENT}_v{int(vintage_id)}"


@contextlib.contextmanager
def staged_by_caller():
    """Vintages created inside get no partition from the post_save signal: the caller
    stages one (`stage`), fills it and `attach`es it."""
    token = _staged_by_caller.set(True)
    try:
        yield
    finally:
        _staged_by_caller.reset(token)


def staged_by_caller_now() -> bool:
    return _staged_by_caller.get()


def exists(vintage_id: int) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name(vintage_id)])
        return cur.fetchone()[0]


def stage(vintage_id: int) -> str:
    """A bare table shaped like the parent (defaults, id sequence, checks, storage and
    compression; no index, no trigger) for a bulk load into vintage `vintage_id`. Returns
    its name. Its rows are checked to belong to the vintage as they are written, which
    lets ATTACH skip its validation scan."""
    vid = int(vintage_id)
    table = name(vid)
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            f"INCLUDING STORAGE INCLUDING COMPRESSION, "
            f"CONSTRAINT {table}_vintage CHECK (vintage_id = {vid}))"
        )
    return table


def attach(vintage_id: int) -> None:
    """Attach the staged table as the vintage's partition: PostgreSQL builds its indexes
    (primary key, unique ids, GiST on both geometries) from the loaded rows, checks its
    foreign key and clones the triggers."""
    vid = int(vintage_id)
    table = name(vid)
    with connection.cursor() as cur:
        cur.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {table} FOR VALUES IN ({vid})")
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_vintage")
        cur.execute(f"ANALYZE {table}")


def create(vintage_id: int) -> None:
    """An empty partition for a vintage (idempotent)."""
    if not exists(vintage_id):
        stage(vintage_id)
        attach(vintage_id)


def drop(vintage_id: int) -> None:
    """Drop the vintage's partition and its rows (rows referencing them must be gone)."""
    with connection.cursor() as cur:
        # Foreign-key checks still pending on its rows (Django's constraints are deferred to
        # the commit) would forbid the DROP: run them now, then defer again as before.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(f"DROP TABLE IF EXISTS {name(vintage_id)}")
        cur.execute("SET CONSTRAINTS ALL DEFERRED")
