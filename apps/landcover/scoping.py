"""Territory scoping of land-cover querysets: the one place that decides who sees what."""

from apps.territories.models import Departement, departements_for

from .models import Vintage


def visible_departements(user):
    """Départements a user may see: their territories, plus every published one."""
    published = Departement.objects.filter(vintages__state=Vintage.State.PUBLISHED)
    return (departements_for(user) | published).distinct()


def visible_vintages(user):
    if user.is_authenticated:
        mine = Vintage.objects.filter(departement__in=departements_for(user))
    else:
        mine = Vintage.objects.none()
    return (mine | Vintage.objects.filter(state=Vintage.State.PUBLISHED)).distinct()
