"""Request guards: malformed requests refused before any work (NUL bytes: PostgreSQL cannot
hold them in a string, so they used to end in a 500), a statement timeout on every request's
queries, and a lost database connection or a cancelled statement turned into a clean 503
(the request's transaction is rolled back by PostgreSQL: nothing half-written)."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from apps.ops.timeouts import cancelled, current_timeout, set_statement_timeout

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5


class MalformedRequestMiddleware:
    """400 for a NUL byte anywhere in the path or the query string (decoded or not)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return HttpResponseBadRequest(
                _("Requête invalide : caractère nul."), content_type="text/plain; charset=utf-8"
            )
        return self.get_response(request)


class StatementTimeoutMiddleware:
    """Every statement of a request stops after REQUEST_STATEMENT_TIMEOUT_MS.

    Set before the request's first statement (a request that never queries opens no
    connection), once per connection (persistent connections keep it; a new connection
    starts without), session-wide: a `SET LOCAL` would die with the first autocommit. Inside
    a transaction (tests) it is set every time, as a rollback could undo it. Management
    commands and Celery workers never pass here: imports and recomputations keep no limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ms = settings.REQUEST_STATEMENT_TIMEOUT_MS
        if not ms:
            return self.get_response(request)
        pending = [True]

        def before_first_statement(execute, sql, params, many, context):
            if pending:
                pending.clear()
                db = context["connection"]
                if db.in_atomic_block or current_timeout() != ms:
                    set_statement_timeout(ms, raw=db.connection)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(before_first_statement):
            return self.get_response(request)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        return self.unavailable(request, exception)

    @staticmethod
    def unavailable(request, exception):
        if cancelled(exception):
            log.warning("statement timeout during %s %s", request.method, request.path)
            message = _(
                "Cette requête demande trop de travail et a été interrompue ; rien n'a été "
                "enregistré. Réduisez la zone ou la période demandée."
            )
        else:
            log.error(
                "database unavailable during %s %s: %s", request.method, request.path, exception
            )
            message = _(
                "La base de données est momentanément indisponible ; rien n'a été enregistré. "
                "Réessayez dans quelques secondes."
            )
        if request.path.startswith(("/api/", "/tiles/")):
            response = JsonResponse({"detail": message}, status=503)
        else:
            # Rendered without the request's context: its processors would query the database.
            html = render_to_string("503.html", {"message": message})
            response = HttpResponse(html, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
