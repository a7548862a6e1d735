"""Authentication backends: Django's password backend, the user loaded with their platform
admin flag; platform admins hold every model permission (the Django admin is theirs alone)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.db import connection

from apps.ops.rows import Reader
from apps.territories.permissions import is_platform_admin

from .sessions import NOT_READ, read_with_session
from .users import user_from, user_select


class MemberBackend(ModelBackend):
    """Django's `ModelBackend`; a session's user is read with whether they hold the admin
    role, their rights and their organisations (`accounts.users`), by the statement that
    reads the session when it could (`accounts.sessions`), else by one of their own."""

    def get_user(self, user_id):
        # Every request of a session asks this: hand-written, as its ORM form took 3 ms to
        # build (for 1.5 ms of running).
        user = read_with_session(user_id)
        if user is NOT_READ:
            User = get_user_model()
            names, columns, params = user_select("u")
            with connection.cursor() as cur:
                cur.execute(
                    f"SELECT {columns} FROM {User._meta.db_table} u WHERE u.id = %s",
                    [*params, user_id],
                )
                row = cur.fetchone()
            user = row and user_from(Reader(row), names)
        if user is None or not self.user_can_authenticate(user):
            return None
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
