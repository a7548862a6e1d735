"""The conversation on a signalement: comments (its organisation's contributors, the
deciders of its département) and the author's further attachments, while it is open."""

from django.db import transaction
from django.utils.translation import gettext as _

from apps.territories.permissions import RULES, Right

from .access import can_decide, locked
from .errors import Conflict, Forbidden
from .models import Signalement, SignalementComment
from .signals import signalement_changed
from .transitions import OPEN
from .uploads import Upload, check_uploads, store


def add_comment(user, signalement_id: int, text: str):
    with transaction.atomic():
        signalement = locked(user, signalement_id)
        decider = can_decide(user, signalement.vintage)
        member = user.memberships.filter(
            organisation=signalement.organisation_id, role__in=RULES[Right.FILE]
        ).exists()
        if not (decider or member):
            raise Forbidden(_("Vous ne pouvez pas commenter ce signalement."))
        if not decider and signalement.status not in OPEN:
            raise Conflict(_("Le signalement est clos."))
        comment = SignalementComment.objects.create(signalement=signalement, author=user, text=text)
        signalement_changed.send(
            Signalement, signalement=signalement, actor=user, what="comment", message=text
        )
        return comment


def add_attachments(user, signalement_id: int, uploads: list[Upload]):
    with transaction.atomic():
        signalement = locked(user, signalement_id)
        if signalement.author_id != user.pk:
            raise Forbidden(_("Seul l'auteur ajoute des pièces jointes."))
        if signalement.status not in OPEN:
            raise Conflict(_("Le signalement est clos."))
        checked = check_uploads(uploads, already=signalement.attachments.count())
        return [store(signalement, user, upload, kind) for upload, kind in checked]
