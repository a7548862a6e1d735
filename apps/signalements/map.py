"""The signalements on the land-cover map (registered in `apps.py` with
`landcover.contributions`): their status labels and colours in the map's configuration, and
the list of a polygon's signalements the viewer may see in its panel; and the version that
changes the ETag of tiles showing them."""

from django.db import transaction
from django.db.models import F

from apps.landcover.models import Vintage

from .access import visible_signalements
from .transitions import STATUS_COLOURS, Status


def map_config(config: dict, request, departement):
    config["i18n"]["status"] = {k: str(v) for k, v in Status.choices}
    config["statusColours"] = STATUS_COLOURS


def polygon_signalements(polygon, vintage, user) -> dict:
    return {
        "signalements": [
            {**row, "status_label": str(Status(row["status"]).label)}
            for row in visible_signalements(user)
            .filter(polygon=polygon)
            .order_by("-created_at")
            .values(
                "id",
                "status",
                "code_cs_proposed",
                "code_us_proposed",
                "comment",
                "created_at",
                organisation_name=F("organisation__name"),
            )[:50]
        ]
    }


def touch_feedback(vintage_id: int):
    """Tiles show open signalements: a new feedback version changes their ETag.

    After commit, in its own short statement: concurrent filings do not queue on the
    vintage's row lock for the length of their transactions."""
    transaction.on_commit(
        lambda: Vintage.objects.filter(pk=vintage_id).update(
            feedback_version=F("feedback_version") + 1
        )
    )
