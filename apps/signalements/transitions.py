"""The signalement life cycle (DESIGN §4), in one table.

`TRANSITIONS[action] = (statuses it starts from, status it leads to, who may do it)`.
Every change of status goes through `decisions.apply_action`, which checks this table.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    SUBMITTED = "submitted", _("Reçu")
    IN_REVIEW = "in_review", _("En cours de traitement")
    AWAITING_INFO = "awaiting_info", _("En attente de précisions")
    ACCEPTED = "accepted", _("Pris en compte")
    ALREADY_DONE = "already_done", _("Déjà pris en compte")
    REJECTED_OUT_OF_SPEC = "rejected_out_of_spec", _("Rejeté (hors spécifications)")
    REJECTED_IRRELEVANT = "rejected_irrelevant", _("Rejeté (hors de propos)")
    WITHDRAWN = "withdrawn", _("Retiré")


# Marker colours of each status (map and queue).
STATUS_COLOURS = {
    Status.SUBMITTED: "#1f77b4",
    Status.IN_REVIEW: "#ff7f0e",
    Status.AWAITING_INFO: "#9467bd",
    Status.ACCEPTED: "#2ca02c",
    Status.ALREADY_DONE: "#98df8a",
    Status.REJECTED_OUT_OF_SPEC: "#d62728",
    Status.REJECTED_IRRELEVANT: "#ff9896",
    Status.WITHDRAWN: "#7f7f7f",
}

OPEN = frozenset({Status.SUBMITTED, Status.IN_REVIEW, Status.AWAITING_INFO})
CLOSED = frozenset(Status) - OPEN


class Action(models.TextChoices):
    TAKE = "take", _("prendre en charge")
    ASK_INFO = "ask_info", _("demander des précisions")
    ANSWER = "answer", _("répondre")
    ACCEPT = "accept", _("accepter")
    ALREADY_DONE = "already_done", _("déjà pris en compte")
    REJECT_OUT_OF_SPEC = "reject_out_of_spec", _("rejeter (hors spécifications)")
    REJECT_IRRELEVANT = "reject_irrelevant", _("rejeter (hors de propos)")
    WITHDRAW = "withdraw", _("retirer")


OPERATOR = "operator"  # an operator or manager of the vintage's département, not the author
AUTHOR = "author"  # the author of the signalement

TRANSITIONS = {
    Action.TAKE: ({Status.SUBMITTED, Status.AWAITING_INFO}, Status.IN_REVIEW, OPERATOR),
    Action.ASK_INFO: ({Status.SUBMITTED, Status.IN_REVIEW}, Status.AWAITING_INFO, OPERATOR),
    Action.ANSWER: ({Status.AWAITING_INFO}, Status.SUBMITTED, AUTHOR),
    Action.ACCEPT: (OPEN, Status.ACCEPTED, OPERATOR),
    Action.ALREADY_DONE: (OPEN, Status.ALREADY_DONE, OPERATOR),
    Action.REJECT_OUT_OF_SPEC: (OPEN, Status.REJECTED_OUT_OF_SPEC, OPERATOR),
    Action.REJECT_IRRELEVANT: (OPEN, Status.REJECTED_IRRELEVANT, OPERATOR),
    Action.WITHDRAW: (OPEN, Status.WITHDRAWN, AUTHOR),
}

# Decisions that need a reason from the table of reasons.
NEEDS_REASON = {Action.REJECT_OUT_OF_SPEC, Action.REJECT_IRRELEVANT}
# Actions that need a message to the author.
NEEDS_MESSAGE = {Action.ASK_INFO, Action.ANSWER}
