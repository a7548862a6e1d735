"""Which signalements a user sees and locks, built on `territories.permissions` (the rules
of who may do what live there, not here)."""

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.landcover.models import Vintage
from apps.ops.rows import Reader, select_list
from apps.territories.models import Departement, Membership, Organisation
from apps.territories.permissions import Right, departement_ids, departements_where, may

from .errors import Missing
from .models import RejectionReason, Signalement


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


def visible_signalement_sql(user, alias: str, vintage: str) -> tuple[str, list]:
    """`visible_signalements` as an SQL condition on the signalement table's alias `alias`
    and its vintage's `vintage` (and its parameters), for hand-written statements."""
    if not user.is_authenticated:
        return "false", []
    staff = departement_ids(user, Right.SEE_ALL_SIGNALEMENTS)
    if staff is None:
        return "true", []
    return (
        f"({vintage}.departement_id = ANY(%s) OR {alias}.organisation_id IN "
        f"(SELECT organisation_id FROM {Membership._meta.db_table} WHERE user_id = %s))",
        [staff, user.pk],
    )


_User = get_user_model()
# What `locked` reads: the signalement with its vintage, département (not its outline),
# people and reason.
_S = select_list(Signalement, "s")
_V = select_list(Vintage, "v")
_D = select_list(Departement, "d", exclude=("geom",))
_AUTHOR = select_list(_User, "a")
_ORGANISATION = select_list(Organisation, "o")
_ASSIGNEE = select_list(_User, "g")
_REASON = select_list(RejectionReason, "r")
_LOCKED = f"""
SELECT {_S[1]}, {_V[1]}, {_D[1]}, {_AUTHOR[1]}, {_ORGANISATION[1]}, {_ASSIGNEE[1]}, {_REASON[1]}
FROM {Signalement._meta.db_table} s
JOIN {Vintage._meta.db_table} v ON v.id = s.vintage_id
JOIN {Departement._meta.db_table} d ON d.id = v.departement_id
JOIN {_User._meta.db_table} a ON a.id = s.author_id
JOIN {Organisation._meta.db_table} o ON o.id = s.organisation_id
LEFT JOIN {_User._meta.db_table} g ON g.id = s.assignee_id
LEFT JOIN {RejectionReason._meta.db_table} r ON r.id = s.reason_id
WHERE s.id = %s AND {{visible}}
FOR UPDATE OF s
"""


def locked(user, signalement_id: int) -> Signalement:
    """The signalement, locked (`SELECT … FOR UPDATE`), if `user` sees it: read with what
    a decision and its answer need (vintage, département, people, reason), in one statement
    (hand-written: its ORM form took 10 ms of a decision to build)."""
    visible, params = visible_signalement_sql(user, "s", "v")
    with connection.cursor() as cur:
        cur.execute(_LOCKED.format(visible=visible), [signalement_id, *params])
        row = cur.fetchone()
    if row is None:
        raise Missing(_("Signalement inconnu."), "id")
    read = Reader(row)
    signalement = read.take(Signalement, _S[0])
    signalement.vintage = read.take(Vintage, _V[0])
    signalement.vintage.departement = read.take(Departement, _D[0])
    signalement.author = read.take(_User, _AUTHOR[0])
    signalement.organisation = read.take(Organisation, _ORGANISATION[0])
    signalement.assignee = read.take_nullable(_User, _ASSIGNEE[0])
    signalement.reason = read.take_nullable(RejectionReason, _REASON[0])
    return signalement
