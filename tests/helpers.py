"""Helpers shared by the tests: places of the square département (`conftest.square_*`),
filing as a contributor, logging in a member of the cast (`conftest.cast` / `world`)."""

import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from django.contrib.gis.geos import Point
from PIL import Image
from pyproj import Transformer

from apps.landcover.models import LandCoverPolygon
from apps.signalements import filing

from .conftest import X0, Y0

TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)
PARIS = ZoneInfo("Europe/Paris")
START = datetime.date(2026, 1, 15)  # the production plan of the `campaign` fixture
# Lambert-93 as an ESRI `.prj` names it (OCS GE 1.x, ADMIN EXPRESS Shapefiles): no EPSG code.
ESRI_LAMBERT_93 = (
    'PROJCS["RGF93_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",'
    'SPHEROID["GRS_1980",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],'
    'PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],'
    'PARAMETER["Central_Meridian",3.0],PARAMETER["Standard_Parallel_1",49.0],'
    'PARAMETER["Standard_Parallel_2",44.0],PARAMETER["Latitude_Of_Origin",46.5],'
    'UNIT["Meter",1.0]]'
)


def lonlat(x, y):
    return TO_WGS84.transform(x, y)


def square_wgs84(x1, y1, x2, y2):
    ring = [lonlat(x, y) for x, y in [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]]
    return {"type": "Polygon", "coordinates": [ring]}


def login(client, world, role):
    if world["users"][role] is not None:
        client.force_login(world["users"][role])


def grass_polygon(world, i=1, j=1):
    """The M2 polygon of the square (i, j) of 100 m (grass, except (0,0) and (3,0..1))."""
    x, y = X0 + i * 100 + 50, Y0 + j * 100 + 50
    return LandCoverPolygon.objects.get(
        vintage=world["m2"], geom__intersects=Point(x, y, srid=2154)
    )


def file(world, user="contributor_in", **kw):
    polygon = grass_polygon(world)
    proposal = filing.Filing(
        vintage_id=world["m2"].pk,
        polygon_id=kw.pop("polygon_id", polygon.pk),
        code_cs_proposed=kw.pop("cs", "CS2.1.1.1"),
        code_us_proposed=kw.pop("us", "US1.2"),
        comment="un bois, pas une prairie",
        **kw,
    )
    return filing.file_signalement(world["users"][user], proposal)


def png(size=(8, 8)):
    out = BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def post_filing(client, world, **data):
    body = {
        "vintage": world["m2"].pk,
        "code_cs_proposed": "CS2.1.1.1",
        "code_us_proposed": "US1.2",
        **data,
    }
    files = body.pop("files", None)
    if files is not None:
        body["attachments"] = files
        return client.post("/api/signalements/", body)
    if "polygon" not in body and "geom" not in body and "lon" not in body:
        body["polygon"] = grass_polygon(world).pk
    return client.post("/api/signalements/", body, content_type="application/json")


def inference_run(imagery, checkpoint, **kw):
    """An InferenceRun (unsaved) of département 99 on `imagery` with `checkpoint`."""
    from apps.inference.models import InferenceRun
    from apps.territories.models import Departement

    dep, _ = Departement.objects.get_or_create(code="99", defaults={"name": "Essai"})
    return InferenceRun(
        departement=dep,
        rank=kw.pop("rank", "M1"),
        millesime=2024,
        rgb=str(imagery["rgb"]),
        nir=str(imagery["nir"]),
        elevation=str(imagery["elevation"]),
        checkpoint=str(checkpoint),
        block_px=kw.pop("block_px", 200),
        device="cpu",
        **kw,
    )


def at(day: datetime.date, hour=9):
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=PARIS)


def date_of(plan, step):
    return plan.milestones.get(step=step).date


def browser_login(page, base, username):
    page.goto(f"{base}/comptes/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-123456")
    page.click("button[type=submit]")


def decide_some(campaign, capture):
    """Three signalements on M2: a grass square built (accepted), a forest (accepted), one
    rejected; the M2 loop then closed."""
    from apps.artif.compute import compute_departement
    from apps.campaigns import loops
    from apps.campaigns.models import Step
    from apps.signalements import decisions
    from apps.signalements.models import RejectionReason, Signalement
    from apps.signalements.transitions import Status

    plan = campaign["plan"]
    users = campaign["users"]
    compute_departement(plan.departement)
    loops.sync(at(date_of(plan, Step.M2_OPEN)))
    built = file(campaign, cs="CS1.1.1.1", us="US5")
    forest = file(campaign, polygon_id=grass_polygon(campaign, 2, 2).pk)
    rejected = file(campaign, polygon_id=grass_polygon(campaign, 1, 2).pk)
    with capture(execute=True):  # the indicators follow after each commit
        decisions.apply_action(users["operator"], built.pk, "accept")
        decisions.apply_action(users["operator"], forest.pk, "accept")
    reason = RejectionReason.objects.filter(applies_to=Status.REJECTED_IRRELEVANT).first()
    decisions.apply_action(users["operator"], rejected.pk, "reject_irrelevant", reason=reason.pk)
    # The platform proposed both corrections on M1: the land did change (a new building, a
    # new wood), so they are rejected.
    for proposal in Signalement.objects.filter(origin__in=[built, forest]):
        decisions.apply_action(
            users["operator"], proposal.pk, "reject_irrelevant", reason=reason.pk
        )
    loops.sync(at(date_of(plan, Step.M2_CLOSE)))
    return built, forest, rejected
