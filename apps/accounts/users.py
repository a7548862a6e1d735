"""The user of a request, as one statement reads them: their columns, whether they hold the
admin role, their rights (`permissions.rights_sql`) and their organisations (whose
signalements they see). Most requests ask all of these (scopes, pages, map tiles): read
apart, each was a statement more. The session store reads them with the session itself
(`accounts.sessions`); `MemberBackend.get_user` alone when it has not."""

from django.contrib.auth import get_user_model

from apps.ops.rows import Reader, select_list
from apps.territories.models import Membership, Role
from apps.territories.permissions import organisations_sql, remember_rights, rights_sql


def user_select(alias: str) -> tuple[tuple[str, ...], str, list]:
    """(names, SQL select list, its parameters) of the user read through the table alias
    `alias`, for `user_from`."""
    names, columns = select_list(get_user_model(), alias)
    sql = f"""{columns},
      EXISTS (SELECT 1 FROM {Membership._meta.db_table} m
              WHERE m.user_id = {alias}.id AND m.role = %s),
      {rights_sql(f"{alias}.id")}, {organisations_sql(f"{alias}.id")}"""
    return names, sql, [Role.ADMIN]


def user_from(read: Reader, names: tuple[str, ...]):
    """The user `user_select` read (None where a LEFT JOIN found none), with what was read
    with them remembered on the instance."""
    user = read.take_nullable(get_user_model(), names)
    if user is None:
        return None
    user._platform_admin = read.next()
    remember_rights(user, read.next())
    user._organisation_ids = list(read.next())
    return user
