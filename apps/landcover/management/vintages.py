"""The vintage a command names by département and rank, or a clear refusal."""

from django.core.management.base import CommandError

from apps.landcover.models import Vintage


def vintage_or_refusal(departement: str, rank: str) -> Vintage:
    vintage = (
        Vintage.objects.select_related("departement")
        .defer("departement__geom")
        .filter(departement__code=departement, rank=rank)
        .first()
    )
    if vintage is None:
        raise CommandError(f"No {rank} vintage for département {departement}.")
    return vintage
