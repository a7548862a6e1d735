"""The signalements on the land-cover map (registered in `apps.py` with
`landcover.contributions`): their status labels and colours in the map's configuration, and
the list of a polygon's signalements the viewer may see in its panel; and the version that
changes the ETag of tiles showing them."""

from django.db import transaction
from django.db.models import F

from apps.landcover.contributions import TileLayer
from apps.landcover.models import Vintage
from apps.territories.permissions import signalement_scope

from .access import visible_signalements
from .models import Signalement
from .transitions import OPEN, STATUS_COLOURS, Status


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


def _tile_viewer(user, departement_id: int):
    """Whose open signalements the viewer sees counted on the tiles: all of them (the
    département's staff; `user` None), their organisations' (others), none (anonymous)."""
    scope = None if user is None else signalement_scope(user, departement_id)
    if scope == []:
        return None
    key = "all" if scope is None else "o" + ".".join(map(str, scope))
    return key, {"sig_all": scope is None, "sig_orgs": list(scope or [])}


def _most_advanced() -> str:
    """`sig_status`: the most advanced open status among a polygon's signalements."""
    order = [Status.IN_REVIEW, Status.AWAITING_INFO, Status.SUBMITTED]
    assert set(order) == OPEN
    cases = " ".join(
        f"WHEN bool_or(s.status = '{status.value}') THEN '{status.value}'" for status in order
    )
    return f"CASE {cases} END"


# The tiles' `signalements` layer: each polygon with open signalements that the viewer may
# see, with how many and the most advanced status (`contributions.TileLayer`). The tile's
# ids are given as an array, looked up in the polygon index: written `IN (SELECT id FROM
# tile)`, the planner misjudged the tile's size and read every signalement of the table (a
# z16 tile in 72 ms instead of 20 beside 100,000 signalements).
TILE_SIGNALEMENTS = TileLayer(
    name="signalements",
    alias="sig",
    columns=(("sig_open", "int"), ("sig_status", "text")),
    rows=f"""
  SELECT s.polygon_id, count(*)::int AS sig_open, {_most_advanced()} AS sig_status
  FROM {Signalement._meta.db_table} s
  WHERE s.polygon_id = ANY(ARRAY(SELECT id FROM tile))
    AND s.status IN ({", ".join(f"'{s.value}'" for s in sorted(OPEN))})
    AND (%(sig_all)s OR s.organisation_id = ANY(%(sig_orgs)s))
  GROUP BY s.polygon_id""",
    viewer=_tile_viewer,
)


OGC_PROPERTIES = (
    "status",
    "code_cs_current",
    "code_us_current",
    "code_cs_proposed",
    "code_us_proposed",
    "created_at",
    "vintage_id",
)


def ogc_collections(user) -> list:
    """The signalements the user may see, one OGC API collection per département they see
    (points: where each was filed)."""
    from apps.landcover.geofuncs import HeaderBox
    from apps.landcover.geometry import departement_bounds_wgs84
    from apps.landcover.ogc import Collection, shaped, within
    from apps.territories.models import Departement
    from apps.territories.permissions import departements_where

    if not user.is_authenticated:
        return []

    def collection(departement):
        mine = visible_signalements(user).filter(vintage__departement=departement)
        return Collection(
            id=f"signalements-{departement.code}",
            title=f"Signalements {departement.code} {departement.name}",
            description="Les signalements que vous pouvez voir, au lieu de leur dépôt.",
            bbox=lambda: departement_bounds_wgs84(departement),
            rows=lambda srid: shaped(mine, srid, "location", storage=departement.srid),
            properties=OGC_PROPERTIES,
            filters=("status", "code_cs_proposed", "code_us_proposed"),
            geometry_field="location",
            storage_srid=departement.srid,
            # Filed at `created_at`; an open interval (no query to describe it).
            interval=lambda: [None, None],
            during=within("created_at"),
        )

    # The boxes on the départements alone (annotated on the joins that find them, the
    # outline was read once per commune: 1.2 s a request).
    seen = (
        Departement.objects.filter(pk__in=departements_where(user).values("pk"))
        .annotate(outline_box=HeaderBox("geom"))
        .order_by("code")
    )
    return [collection(d) for d in seen]
