"""Django's database sessions (`SESSION_ENGINE`), read by one hand-written statement.

Every request of a logged-in user (each map tile among them) reads its session: the ORM
form of that lookup took about 1.5 ms to build for 0.3 ms of running. Writing, expiry and
clearing stay Django's.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        with connections[router.db_for_read(model)].cursor() as cur:
            cur.execute(
                f"SELECT session_data FROM {model._meta.db_table} "
                "WHERE session_key = %s AND expire_date > %s",
                [self.session_key, timezone.now()],
            )
            row = cur.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
