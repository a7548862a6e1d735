"""Django's database sessions (`SESSION_ENGINE`), read with their user by one statement.

Every request of a logged-in user (each map tile among them) reads its session, then its user
(`accounts.users`: columns, admin flag, rights, organisations). The session's row keeps its
user's id (`UserSession.user`, written whenever the session is saved), so both are read
together: one statement and one round trip instead of two, prepared once per connection
(`ops.prepared`: planning it took four times its running). `MemberBackend.get_user` takes
the user read here (`read_with_session`) while `AuthenticationMiddleware` asks for the
request's user; it reads the user itself for a session without the column (one kept from
before it existed, or another engine's). Writing, expiry and clearing stay Django's.
"""

from contextvars import ContextVar

from django.contrib import auth
from django.contrib.auth import SESSION_KEY
from django.contrib.auth import middleware as auth_middleware
from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from apps.ops.prepared import execute_prepared
from apps.ops.rows import Reader

from .users import user_from, user_select

NOT_READ = object()
# The session whose user `auth.get_user` is looking up, while it does (AuthenticationMiddleware).
_authenticating: ContextVar = ContextVar("session being authenticated", default=None)


class SessionStore(db.SessionStore):
    @classmethod
    def get_model_class(cls):
        from .models import UserSession

        return UserSession

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        try:
            session.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            session.user_id = None
        return session

    def _get_session_from_db(self):
        from django.contrib.auth import get_user_model

        model = self.model
        names, columns, params = user_select("u")
        with connections[router.db_for_read(model)].cursor() as cur:
            execute_prepared(
                cur,
                f"SELECT s.session_data, s.user_id, {columns} "
                f"FROM {model._meta.db_table} s "
                f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = s.user_id "
                "WHERE s.session_key = %s AND s.expire_date > %s",
                [*params, self.session_key, timezone.now()],
            )
            row = cur.fetchone()
        if row is None:
            self._session_key = None
            return None
        read = Reader(row)
        session_data, user_id = read.next(), read.next()
        if user_id is not None:
            self._user_read = (str(user_id), user_from(read, names))
        return model(session_key=self.session_key, session_data=session_data)

    def user_read(self, user_id):
        """The user read with the session if it is `user_id`'s (None if that user no longer
        exists), else NOT_READ."""
        read_id, user = getattr(self, "_user_read", (None, None))
        return user if read_id is not None and read_id == str(user_id) else NOT_READ


def read_with_session(user_id):
    """The user `user_id` as the session being authenticated read them, else NOT_READ."""
    session = _authenticating.get()
    if not isinstance(session, SessionStore):
        return NOT_READ
    return session.user_read(user_id)


def get_user(request):
    """`django.contrib.auth.middleware.get_user`, the request's session at hand for
    `read_with_session` while Django looks the user up (and checks the session's hash)."""
    if not hasattr(request, "_cached_user"):
        token = _authenticating.set(request.session)
        try:
            request._cached_user = auth.get_user(request)
        finally:
            _authenticating.reset(token)
    return request._cached_user


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, its lazy `request.user` looked up by `get_user` above."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: get_user(request))
