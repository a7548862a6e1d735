"""Land-cover querysets scoped by `territories.permissions`: a user sees the vintages of the
départements where they may `SEE`, and every published one."""

from django.db.models import Exists, OuterRef, Q

from apps.territories.models import Departement
from apps.territories.permissions import departement_ids, departements_where

from .models import Vintage


def visible_departements(user):
    """Départements a user may see: their territories, plus every published one."""
    published = Vintage.objects.filter(departement=OuterRef("pk"), state=Vintage.State.PUBLISHED)
    return Departement.objects.filter(
        Q(pk__in=departements_where(user).values("pk")) | Exists(published)
    )


def visible_vintages(user):
    """Vintages of the user's départements, plus every published one."""
    return Vintage.objects.filter(
        Q(departement__in=departements_where(user).values("pk")) | Q(state=Vintage.State.PUBLISHED)
    )


def visible_vintage_sql(user, alias: str) -> tuple[str, list]:
    """`visible_vintages` as an SQL condition on the vintage table's alias `alias` (and its
    parameters), for hand-written statements."""
    ids = departement_ids(user)
    if ids is None:
        return "true", []
    return f"({alias}.state = %s OR {alias}.departement_id = ANY(%s))", [
        Vintage.State.PUBLISHED,
        ids,
    ]
