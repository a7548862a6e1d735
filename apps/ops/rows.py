"""Model instances from the rows of a hand-written statement.

The hot paths of a request (a filing, a decision, the session's user) read several tables in
one statement whose ORM form costs more to build and compile in Python than to run (a
filing spent 35 of its 46 ms in Django's query compiler). They write the statement once as
SQL — `select_list(Model, alias)` names the columns — and turn each row back into instances
with `take(Model, row, names)`, exactly as a `select_related` would: fields left out are
deferred (read on first access), like `.defer()`.
"""

import functools

from django.db import connection


def field_names(model, exclude=()) -> list[str]:
    """The column names (`attname`) of the model's concrete fields, less `exclude`."""
    return [f.attname for f in model._meta.concrete_fields if f.name not in exclude]


def select_list(model, alias: str, exclude=()) -> tuple[tuple[str, ...], str]:
    """(names, SQL) of the model's columns read through the table alias `alias`."""
    names = tuple(field_names(model, exclude))
    return names, ", ".join(f'{alias}."{name}"' for name in names)


@functools.cache
def _converters(model, names: tuple[str, ...]) -> list[tuple[int, object, list]]:
    """(position, column, converters) of the fields whose values the ORM converts when it
    reads them (geometries from their WKB, …): the same converters its compiler applies."""
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    out = []
    for at, name in enumerate(names):
        col = by_attname[name].get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if converters:
            out.append((at, col, converters))
    return out


class Reader:
    """Walks a row left to right: `take(Model, names)` makes an instance of the next
    `len(names)` values, `next()` returns the next value as is."""

    def __init__(self, row):
        self.row = row
        self.at = 0

    def take(self, model, names: tuple[str, ...]):
        values = list(self.row[self.at : self.at + len(names)])
        self.at += len(names)
        for at, col, converters in _converters(model, names):
            for converter in converters:
                values[at] = converter(values[at], col, connection)
        return model.from_db(connection.alias, names, values)

    def take_nullable(self, model, names: tuple[str, ...]):
        """`take`, or None when the primary key read is NULL (a LEFT JOIN that found
        nothing)."""
        if self.row[self.at + names.index(model._meta.pk.attname)] is None:
            self.at += len(names)
            return None
        return self.take(model, names)

    def next(self):
        value = self.row[self.at]
        self.at += 1
        return value


def binary_cursor():
    """A cursor of the current connection and transaction that binds parameters on the
    server and reads results in binary (Django's bind on the client and read text): a
    12 MB outline travels as 12 MB, not as 24 MB of hexadecimal in the statement's text,
    and a map tile's bytes come as they are. Wrapped as Django wraps its own cursors, so
    that execute wrappers (the request's statement timeout) and the tests' query capture
    see its statements."""
    import psycopg
    from psycopg.pq import Format

    connection.ensure_connection()
    cursor = psycopg.Cursor(connection.connection)
    cursor.format = Format.BINARY
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)
