"""The signalements on the land-cover map (registered in `apps.py` with
`landcover.contributions`): their status labels and colours in the map's configuration, and
the list of a polygon's signalements the viewer may see in its panel."""

from django.db.models import F

from .services import visible_signalements
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
