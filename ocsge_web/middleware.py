"""Turns a lost database connection into a clean 503 (the request's transaction is rolled
back by PostgreSQL: nothing half-written), instead of a traceback page."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.error("database unavailable during %s %s: %s", request.method, request.path,
                  exception)  # fmt: skip
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
