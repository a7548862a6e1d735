"""Territory scoping of land-cover querysets: the one place that decides who sees what."""

from django.db.models import Exists, OuterRef, Q

from apps.territories.models import Departement, departements_for

from .models import Vintage


def visible_departements(user):
    """Départements a user may see: their territories, plus every published one."""
    published = Vintage.objects.filter(departement=OuterRef("pk"), state=Vintage.State.PUBLISHED)
    return Departement.objects.filter(
        Q(pk__in=departements_for(user).values("pk")) | Exists(published)
    )


def visible_vintages(user):
    """Vintages of the user's départements, plus every published one."""
    return Vintage.objects.filter(
        Q(departement__in=departements_for(user).values("pk")) | Q(state=Vintage.State.PUBLISHED)
    )
