"""Model instances from the rows of a hand-written statement.

The hot paths of a request (a filing, a decision, the session's user) read several tables in
one statement whose ORM form costs more to build and compile in Python than to run (a
filing spent 35 of its 46 ms in Django's query compiler). They write the statement once as
SQL — `select_list(Model, alias)` names the columns — and turn each row back into instances
with `take(Model, row, names)`, exactly as a `select_related` would: fields left out are
deferred (read on first access), like `.defer()`.
"""

from django.db import connection


def field_names(model, exclude=()) -> list[str]:
    """The column names (`attname`) of the model's concrete fields, less `exclude`."""
    return [f.attname for f in model._meta.concrete_fields if f.name not in exclude]


def select_list(model, alias: str, exclude=()) -> tuple[list[str], str]:
    """(names, SQL) of the model's columns read through the table alias `alias`."""
    names = field_names(model, exclude)
    return names, ", ".join(f'{alias}."{name}"' for name in names)


class Reader:
    """Walks a row left to right: `take(Model, names)` makes an instance of the next
    `len(names)` values, `next()` returns the next value as is."""

    def __init__(self, row):
        self.row = row
        self.at = 0

    def take(self, model, names):
        values = self.row[self.at : self.at + len(names)]
        self.at += len(names)
        return model.from_db(connection.alias, names, values)

    def next(self):
        value = self.row[self.at]
        self.at += 1
        return value
