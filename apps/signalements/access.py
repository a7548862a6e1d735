"""Which signalements a user sees and locks, built on `territories.permissions` (the rules
of who may do what live there, not here)."""

from django.db.models import Q
from django.utils.translation import gettext as _

from apps.territories.permissions import Right, departements_where, may

from .errors import Missing
from .models import Signalement


def can_decide(user, vintage) -> bool:
    return may(user, Right.DECIDE, vintage.departement_id)


def visible_signalements(user):
    """Signalements a user may see: their organisations' own, and all of the départements
    where they may see all of them (`Right.SEE_ALL_SIGNALEMENTS`, DESIGN §3)."""
    if not user.is_authenticated:
        return Signalement.objects.none()
    staff = departements_where(user, Right.SEE_ALL_SIGNALEMENTS)
    orgs = user.memberships.values("organisation")
    return Signalement.objects.filter(
        Q(vintage__departement__in=staff.values("pk")) | Q(organisation__in=orgs)
    )


def locked(user, signalement_id: int) -> Signalement:
    """The signalement, locked (`SELECT … FOR UPDATE`), if `user` sees it: read with what
    a decision and its answer need (vintage, département, people, reason), in one query."""
    signalement = (
        visible_signalements(user)
        .select_for_update(of=("self",))
        .select_related("vintage__departement", "author", "organisation", "assignee", "reason")
        .defer("vintage__departement__geom")
        .filter(pk=signalement_id)
        .first()
    )
    if signalement is None:
        raise Missing(_("Signalement inconnu."), "id")
    return signalement
