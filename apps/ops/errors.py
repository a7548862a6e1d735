"""Refusals raised by the services, answered the same way by every API view.

A service raises a `Refusal` (or a subclass with its own status) before writing anything;
`api_exception_handler` (DRF's EXCEPTION_HANDLER) answers it with
`{"detail": message, "field": input at fault}` — no view catches it itself."""

from rest_framework.response import Response
from rest_framework.views import exception_handler


class Refusal(Exception):
    """A rule refuses the request (400). `field` names the input at fault."""

    status = 400

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def refusal_response(exc: Refusal) -> Response:
    return Response({"detail": str(exc), "field": exc.field}, status=exc.status)


def api_exception_handler(exc, context):
    if isinstance(exc, Refusal):
        return refusal_response(exc)
    return exception_handler(exc, context)
