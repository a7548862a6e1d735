"""Refusals of filing and deciding, raised before anything is written; `apps.ops.errors`
turns them into answers (400, 403, 404, 409) for the API and the pages alike."""

from apps.ops.errors import Refusal


class Refused(Refusal):
    """A rule of filing or deciding refuses the request (400; apps.ops.errors answers it)."""


class Forbidden(Refused):
    status = 403


class Conflict(Refused):
    status = 409


class Missing(Refused):
    """Unknown, or outside the caller's scope: the same answer (404)."""

    status = 404
