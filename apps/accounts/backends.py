"""Authentication backends: Django's password backend, the user loaded with their platform
admin flag; platform admins hold every model permission (the Django admin is theirs alone)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.db import connection

from apps.ops.rows import Reader, select_list
from apps.territories.models import Membership, Role
from apps.territories.permissions import (
    is_platform_admin,
    organisations_sql,
    remember_rights,
    rights_sql,
)


class MemberBackend(ModelBackend):
    """Django's `ModelBackend`; a session's user is read with whether they hold the admin
    role, their rights (`permissions.rights_sql`) and their organisations (whose
    signalements they see), in the same query (most requests ask them: scopes, pages, map
    tiles — more queries each)."""

    def get_user(self, user_id):
        # Every request of a session runs this: hand-written, as its ORM form took 3 ms to
        # build (for 1.5 ms of running).
        User = get_user_model()
        names, columns = select_list(User, "u")
        with connection.cursor() as cur:
            cur.execute(
                f"""SELECT {columns},
                  EXISTS (SELECT 1 FROM {Membership._meta.db_table} m
                          WHERE m.user_id = u.id AND m.role = %s),
                  {rights_sql("u.id")}, {organisations_sql("u.id")}
                FROM {User._meta.db_table} u WHERE u.id = %s""",
                [Role.ADMIN, user_id],
            )
            row = cur.fetchone()
        if row is None:
            return None
        read = Reader(row)
        user = read.take(User, names)
        if not self.user_can_authenticate(user):
            return None
        user._platform_admin = read.next()
        remember_rights(user, read.next())
        user._organisation_ids = list(read.next())
        return user


class PlatformAdminBackend(BaseBackend):
    """Grants every permission to platform admins (superusers and members with the admin
    role); grants nothing to anyone else, and authenticates nobody."""

    def _is_admin(self, user) -> bool:
        if not user.is_active:
            return False
        if not hasattr(user, "_platform_admin"):
            user._platform_admin = is_platform_admin(user)
        return user._platform_admin

    def has_perm(self, user_obj, perm, obj=None):
        return self._is_admin(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return self._is_admin(user_obj)
