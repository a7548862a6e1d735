"""Refusals raised by the services, answered the same way by every API view.

A service raises a `Refusal` (or a subclass with its own status) before writing anything;
`api_exception_handler` (DRF's EXCEPTION_HANDLER) answers it with
`{"detail": message, "field": input at fault}` — no view catches it itself. (DRF is
imported when answering: the services import this module, and every command's start-up
would pay for DRF's views.)"""


class Refusal(Exception):
    """A rule refuses the request (400). `field` names the input at fault."""

    status = 400

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def refusal_response(exc: Refusal):
    from rest_framework.response import Response

    return Response({"detail": str(exc), "field": exc.field}, status=exc.status)


def api_exception_handler(exc, context):
    from rest_framework.views import exception_handler

    if isinstance(exc, Refusal):
        return refusal_response(exc)
    return exception_handler(exc, context)
