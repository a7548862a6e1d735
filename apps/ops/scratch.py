"""Work tables of a set-based computation that PostgreSQL may read in parallel.

A temporary table is readable by its own backend only: a statement that reads one never
runs in parallel (PostgreSQL marks such scans parallel-restricted), so the big computations
(the difference product, the indicators of a vintage) ran on one core however many the
server had. They keep their intermediate results in unlogged tables instead, named after
the backend (`diff_parts_12345`) and created and dropped inside the caller's transaction:
nobody else sees them (a rolled-back transaction takes them with it; two computations at
once never meet on a name), and the statements reading them can use PostgreSQL's parallel
workers (`max_parallel_workers_per_gather`, 2 by default). `INSERT … SELECT` never runs in
parallel in PostgreSQL 15 while `CREATE TABLE … AS` does: a costly result is built as a
work table, then inserted.
"""


class Scratch:
    """The work tables `names` of one computation, on the cursor `cur`, inside a transaction.

    `sql(statement)` fills the placeholders `{name}` of a statement with the tables' real
    names; `create(name, select)` builds one (unlogged, from a SELECT); `drop()` drops those
    made, at the end of the work (an exception rolls them back with the transaction).
    `parallel_scans`: small tables may be split between parallel workers too, for the rest
    of the work (a full recomputation; an incremental one stays on one process)."""

    def __init__(self, cur, *names, parallel_scans=False):
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        self.pid = pid  # the backend doing the work
        self.cur = cur
        self.names = {name: f"{name}_{pid}" for name in names}
        self.made = []
        self.parallel_scans = parallel_scans
        if parallel_scans:
            # A table of few pages whose rows are costly (the communes: their geometries
            # live in TOAST) is otherwise read by one process, the whole join with it too.
            cur.execute("SET LOCAL min_parallel_table_scan_size = 0")

    def sql(self, statement: str, **fields) -> str:
        return statement.format(**self.names, **fields)

    def create(self, name: str, select: str, params=None, index=(), **fields) -> int:
        """CREATE UNLOGGED TABLE name AS select, with its indexes (`index`: what follows
        `CREATE INDEX ON table`, "(col)" or "USING gist (col)"), analysed; returns the rows
        written."""
        table = self.names[name]
        self.cur.execute(f"CREATE UNLOGGED TABLE {table} AS {self.sql(select, **fields)}", params)
        rows = self.cur.rowcount
        self.made.append(table)
        for spec in index:
            self.cur.execute(f"CREATE INDEX ON {table} {spec}")
        self.cur.execute(f"ANALYZE {table}")
        return rows

    def drop(self, *names):
        """Drop the given work tables, or all those made (the work is over: the planner's
        settings are restored)."""
        tables = [self.names[n] for n in names] if names else list(self.made)
        if tables:
            self.cur.execute(f"DROP TABLE {', '.join(tables)}")
        self.made = [t for t in self.made if t not in tables]
        if not names and self.parallel_scans:
            self.cur.execute("SET LOCAL min_parallel_table_scan_size TO DEFAULT")
