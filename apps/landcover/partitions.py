"""One partition of the polygon table per vintage (PostgreSQL LIST partitioning on vintage_id).

Why: a vintage is written in bulk once (import, inference) and read or corrected by vintage
everywhere else. Its own partition lets a bulk load COPY into a bare table and build the
indexes once at the end (a sorted GiST build is about ten times faster than maintaining the
index row by row), lets a vintage be dropped without a million-row DELETE and its dead rows,
and keeps each vintage's indexes small.

Every partition is created as a standalone table then ATTACHed: ATTACH takes a SHARE UPDATE
EXCLUSIVE lock on the parent, so reads and corrections of other vintages go on meanwhile
(`CREATE TABLE … PARTITION OF` would lock the parent against everything until the commit).

A large import loads its partition through `BulkLoad`: the rows are written and committed
into the standalone table from a second connection, so that its four indexes are built two
at a time by two server processes (one transaction builds them one after the other, while
the second core waits), then the caller's transaction ATTACHes it, adopting those indexes.
Until the caller commits, the table is nobody's partition: a failed import drops it, and one
left by a crashed process is dropped by the next bulk load.
"""

import contextlib
import contextvars
import re
from concurrent.futures import ThreadPoolExecutor

import psycopg
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


def _create_sql(vid: int) -> str:
    table = name(vid)
    return (
        f"CREATE TABLE {table} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE INCLUDING COMPRESSION, "
        f"CONSTRAINT {table}_vintage CHECK (vintage_id = {vid}))"
    )


def stage(vintage_id: int) -> str:
    """A bare table shaped like the parent (defaults, id sequence, checks, storage and
    compression; no index, no trigger) for a bulk load into vintage `vintage_id`. Returns
    its name. Its rows are checked to belong to the vintage as they are written, which
    lets ATTACH skip its validation scan."""
    with connection.cursor() as cur:
        cur.execute(_create_sql(int(vintage_id)))
    return name(vintage_id)


def attach(vintage_id: int, *, analyze: bool = True) -> None:
    """Attach the staged table as the vintage's partition: PostgreSQL builds its indexes
    (primary key, unique ids, GiST on both geometries) from the loaded rows — or adopts
    those a `BulkLoad` built —, checks its foreign key and clones the triggers."""
    vid = int(vintage_id)
    table = name(vid)
    with connection.cursor() as cur:
        cur.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {table} FOR VALUES IN ({vid})")
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_vintage")
        if analyze:
            cur.execute(f"ANALYZE {table}")


BULK_LOCK = 7302  # advisory lock class: a vintage's table being bulk loaded (its id)
_STANDALONE = re.compile(rf"^{PARENT}_v(\d+)$")


class BulkLoad:
    """Load vintage `vintage_id`'s partition from a second connection (see the module's
    notes). Use: COPY the rows through `cursor()`, `build()` the indexes, `attach()` in the
    caller's transaction, and `close()` once that transaction has ended — committed or not
    —, which drops the table unless it is a partition by then. Not for use inside an outer
    transaction: the table is committed before the caller's transaction decides."""

    def __init__(self, vintage_id: int):
        self.vid = int(vintage_id)
        self.table = name(self.vid)
        self._params = connection.get_connection_params()
        self._conn = psycopg.connect(**self._params)
        try:
            # Held for the whole load (the session's, not a transaction's): the table is
            # ours while it is committed and not yet attached.
            self._conn.execute("SELECT pg_advisory_lock(%s, %s)", [BULK_LOCK, self.vid])
            self._conn.commit()
            self._drop_abandoned()
            # COPY … FREEZE needs the table created in its own transaction.
            self._conn.execute(_create_sql(self.vid))
        except BaseException:
            self._conn.close()
            raise

    def _drop_abandoned(self):
        """Tables a crashed bulk load left: standalone, and no process holds their lock."""
        rows = self._conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE %s "
            "AND NOT c.relispartition AND c.relnamespace = current_schema()::regnamespace",
            [f"{PARENT}_v%"],
        ).fetchall()
        for (table,) in rows:
            found = _STANDALONE.match(table)
            if not found or int(found[1]) == self.vid:
                continue
            vid = int(found[1])
            if self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [BULK_LOCK, vid]
            ).fetchone()[0]:
                self._conn.execute(f"DROP TABLE IF EXISTS {name(vid)}")
                self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", [BULK_LOCK, vid])
        self._conn.commit()

    def cursor(self) -> psycopg.Cursor:
        return self._conn.cursor()

    def build(self) -> None:
        """Commit the rows, then build the parent's indexes on them, two at a time (the
        GiST ones first, one per connection), and the planner's statistics."""
        self._conn.commit()
        self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute(
                "SELECT pg_get_indexdef(i.indexrelid), con.contype "
                "FROM pg_index i LEFT JOIN pg_constraint con "
                "ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
                "WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid",
                [PARENT],
            )
            parents = cur.fetchall()
        steps = []
        for i, (definition, kind) in enumerate(parents):
            unique = "UNIQUE " if definition.startswith("CREATE UNIQUE") else ""
            method = definition.split(" USING ", 1)[1]
            index = f"{self.table}_i{i}"
            steps.append(
                (
                    not method.startswith("gist"),
                    f"CREATE {unique}INDEX {index} ON {self.table} USING {method}",
                    {"p": "PRIMARY KEY", "u": "UNIQUE"}.get(kind),
                    index,
                )
            )
        steps.sort(key=lambda step: step[0])  # GiST first: the longest
        with (
            psycopg.connect(**self._params, autocommit=True) as other,
            ThreadPoolExecutor(max_workers=2) as pool,
        ):
            runs = [
                pool.submit(self._run, conn, [step[1] for step in steps[k::2]])
                for k, conn in enumerate((self._conn, other))
            ]
            for run in runs:
                run.result()
        # A parent's constraint index is adopted only by an index of a constraint too.
        self._run(
            self._conn,
            [
                f"ALTER TABLE {self.table} ADD CONSTRAINT {index}_c {constraint} "
                f"USING INDEX {index}"
                for _, _, constraint, index in steps
                if constraint
            ]
            + [f"ANALYZE {self.table}"],
        )

    @staticmethod
    def _run(conn, statements):
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def attach(self) -> None:
        """In the caller's transaction: the table becomes the partition, its indexes
        adopted (nothing rebuilt)."""
        attach(self.vid, analyze=False)

    def close(self) -> None:
        """Once the caller's transaction has ended: the table is dropped unless it became
        a partition (the transaction rolled back, or the load stopped before attaching)."""
        try:
            if self._conn.closed:
                return
            self._conn.rollback()
            self._conn.autocommit = True
            attached = self._conn.execute(
                "SELECT relispartition FROM pg_class WHERE oid = to_regclass(%s)", [self.table]
            ).fetchone()
            if attached is not None and not attached[0]:
                self._conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        finally:
            self._conn.close()  # the advisory lock goes with the session


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
