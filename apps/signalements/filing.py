"""Filing a signalement (DESIGN §3–4): every rule checked before the one transaction that
writes it (`prepare` also answers the map's « check before sending »), attachments
included; the impact on artificialisation estimated after the commit, by a task."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib.gis.db.models import PolygonField
from django.contrib.gis.db.models.functions import (
    Area,
    Difference,
    NumPoints,
)
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Point
from django.db import OperationalError, connection, transaction
from django.db.models import Value
from django.utils.translation import gettext as _

from apps.artif.impact import correction_impact
from apps.landcover.geometry import to_crs
from apps.landcover.models import (
    CoverCode,
    CoverUsePair,
    LandCoverPolygon,
    UseCode,
    Vintage,
    ZoneConstruite,
)
from apps.landcover.scoping import visible_vintage_sql, visible_vintages
from apps.ops.dispatch import dispatch
from apps.ops.rows import Reader, select_list
from apps.ops.timeouts import cancelled, statement_timeout
from apps.territories.models import Departement
from apps.territories.permissions import Stored, contributing_organisation, files_anywhere
from ocsge.nomenclature import BUILDING
from ocsge.nomenclature import minimum_mapping_unit as mmu_for

from .errors import Forbidden, Refused
from .map import touch_feedback
from .models import Signalement, SignalementEvent
from .transitions import Status
from .uploads import Upload, check_uploads, store

MAX_VERTICES = 5_000
# What one drawn shape may cover (security, issue 17 finding 6): a correction is local; a
# shape over a whole département made one request cost seconds of overlay work.
MAX_SHAPE_AREA_M2 = 1_000_000.0  # 100 ha
MAX_SHAPE_POLYGONS = 200
# The estimate shown before sending is computed in the request only when it is cheap.
ESTIMATE_BUDGET_MS = 800
ESTIMATE_MAX_VERTICES = 20_000


def parse_geometry(value, srid: int) -> GEOSGeometry:
    """A drawn shape: GeoJSON (WGS84 unless it names its CRS) or WKT/EWKT, into the
    département's CRS `srid`."""
    try:
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        geom = GEOSGeometry(text)
    except (GEOSException, ValueError, TypeError) as exc:
        raise Refused(_("Géométrie illisible."), "geom") from exc
    if geom.srid is None:
        geom.srid = 4326
    if geom.srid not in (4326, srid):
        raise Refused(
            _(
                "Système de coordonnées EPSG:%(srid)s refusé : WGS84 (4326) ou celui du "
                "département (%(local)s)."
            )
            % {"srid": geom.srid, "local": srid},
            "geom",
        )
    if geom.geom_type == "MultiPolygon" and len(geom) == 1:
        geom = geom[0]
    if geom.geom_type != "Polygon":
        raise Refused(_("La forme dessinée doit être un polygone."), "geom")
    if geom.num_points > MAX_VERTICES:
        raise Refused(
            _("Forme trop complexe : %(n)d sommets (%(max)d au plus).")
            % {"n": geom.num_points, "max": MAX_VERTICES},
            "geom",
        )
    if not geom.valid:
        raise Refused(_("Géométrie invalide : %(why)s.") % {"why": geom.valid_reason}, "geom")
    try:
        to_crs(geom, srid)
    except ValueError as exc:
        raise Refused(_("Forme hors de la projection du département."), "geom") from exc
    if geom.area <= 0:
        raise Refused(_("La forme dessinée est vide."), "geom")
    return geom


def minimum_mapping_unit(
    vintage: Vintage, code_cs: str, where, area: float, built_up: bool | None = None
) -> float:
    """The minimum mapping unit of a proposal of `area` m²: the one of a built-up zone if
    `where` (the drawn shape, or the polygon, or a point of it) meets one of the vintage's —
    `built_up` when already known (`_target`). An area above both units is compared with
    the zones at its point only (a road network of 787,000 vertices took 3 s to compare
    with one zone)."""
    if code_cs == BUILDING:
        return mmu_for(code_cs, in_built_up_zone=False)
    within, outside = _units(code_cs)
    if built_up is None:
        if callable(where):
            where = where(large=area >= max(within, outside))
        built_up = ZoneConstruite.objects.filter(vintage=vintage, geom__intersects=where).exists()
    return within if built_up else outside


def _units(code_cs: str) -> tuple[float, float]:
    """The minimum mapping units of `code_cs` in a built-up zone and elsewhere."""
    return mmu_for(code_cs, in_built_up_zone=True), mmu_for(code_cs, in_built_up_zone=False)


def _vintage(user, vintage_id: int) -> Vintage:
    vintage = (
        visible_vintages(user)
        .filter(pk=vintage_id)
        .select_related("departement")
        .defer("departement__geom")
        .first()
    )
    if vintage is None:
        raise Refused(_("Millésime inconnu."), "vintage")
    return vintage


def _target(user, filing: Filing) -> LandCoverPolygon | None:
    """The map's filing on a polygon, in one statement: the polygon of the vintage (one the
    user sees), the vintage and its département, its vertex count (`vertices`) and a point
    inside it (`inner`), whether the proposal's pair exists (`pair_known`) and — for a
    proposed cover other than a building — whether the polygon meets a built-up zone
    (`built_up`: at its point when it is larger than both units, as `minimum_mapping_unit`
    does). None when there is no such polygon (`_vintage` then says why). Written as SQL:
    its ORM form took 9 ms of a filing to build, for 1.5 ms of running."""
    cs, us = filing.code_cs_proposed, filing.code_us_proposed
    visible, visible_params = visible_vintage_sql(user, "v")
    built_up, built_up_params = "NULL", []
    if cs and cs != BUILDING:
        built_up = f"""CASE WHEN p.area >= %s
            THEN EXISTS (SELECT 1 FROM {_ZONE} z WHERE z.vintage_id = p.vintage_id
                         AND ST_Intersects(z.geom, ST_PointOnSurface(p.geom)))
            ELSE EXISTS (SELECT 1 FROM {_ZONE} z WHERE z.vintage_id = p.vintage_id
                         AND ST_Intersects(z.geom, p.geom)) END"""
        built_up_params = [max(_units(cs))]
    sql = f"""
        SELECT {_POLYGON_COLUMNS[1]}, {_VINTAGE_COLUMNS[1]}, {_DEPARTEMENT_COLUMNS[1]},
               ST_NPoints(p.geom), ST_AsEWKB(ST_PointOnSurface(p.geom)),
               EXISTS (SELECT 1 FROM {_PAIR} cp
                       WHERE cp.cover_id = coalesce(nullif(%s, ''), p.code_cs)
                         AND cp.use_id = coalesce(nullif(%s, ''), p.code_us)),
               {built_up}
        FROM {_POLYGON} p
        JOIN {_VINTAGE} v ON v.id = p.vintage_id
        JOIN {_DEPARTEMENT} d ON d.id = v.departement_id
        WHERE p.id = %s AND p.vintage_id = %s AND {visible}
    """
    params = [cs, us, *built_up_params, filing.polygon_id, filing.vintage_id, *visible_params]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    if row is None:
        return None
    read = Reader(row)
    polygon = read.take(LandCoverPolygon, _POLYGON_COLUMNS[0])
    polygon.vintage = read.take(Vintage, _VINTAGE_COLUMNS[0])
    polygon.vintage.departement = read.take(Departement, _DEPARTEMENT_COLUMNS[0])
    polygon.vertices = read.next()
    polygon.inner = GEOSGeometry(memoryview(read.next()))
    polygon.pair_known = read.next()
    built = read.next()
    if built is not None:
        polygon.built_up = built
    return polygon


_POLYGON = LandCoverPolygon._meta.db_table
_VINTAGE = Vintage._meta.db_table
_DEPARTEMENT = Departement._meta.db_table
_ZONE = ZoneConstruite._meta.db_table
_PAIR = CoverUsePair._meta.db_table
# What `_target` reads of each (the outlines stay in the database).
_POLYGON_COLUMNS = select_list(LandCoverPolygon, "p", exclude=("geom", "geom_3857"))
_VINTAGE_COLUMNS = select_list(Vintage, "v")
_DEPARTEMENT_COLUMNS = select_list(Departement, "d", exclude=("geom",))


def _stored_outline(polygon: LandCoverPolygon) -> Stored:
    return Stored(
        f"SELECT geom FROM {LandCoverPolygon._meta.db_table} WHERE id = %s AND vintage_id = %s",
        (polygon.pk, polygon.vintage_id),
    )


def check_proposal(
    current: tuple[str, str], cs: str, us: str, pair_known: bool | None = None
) -> tuple[str, str]:
    """The proposed codes (a blank one keeps the current), refused when identical to the
    current ones or not a pair of the nomenclature; `pair_known`: whether the pair exists,
    when already asked (`_target`)."""
    cs = cs or current[0]
    us = us or current[1]
    if (cs, us) == tuple(current):
        raise Refused(_("La proposition est identique à la donnée actuelle."), "code_cs_proposed")
    # One query when the pair exists (both codes do then); else, say which is wrong.
    if pair_known is None:
        pair_known = CoverUsePair.objects.filter(cover_id=cs, use_id=us).exists()
    if pair_known:
        return cs, us
    if cs != current[0] and not CoverCode.objects.filter(code=cs).exists():
        raise Refused(_("Code de couverture %(code)s inconnu.") % {"code": cs}, "code_cs_proposed")
    if us != current[1] and not UseCode.objects.filter(code=us).exists():
        raise Refused(_("Code d'usage %(code)s inconnu.") % {"code": us}, "code_us_proposed")
    raise Refused(
        _("Le couple %(cs)s / %(us)s n'existe pas dans la nomenclature.") % {"cs": cs, "us": us},
        "code_us_proposed",
    )


@dataclass
class Filing:
    vintage_id: int
    code_cs_proposed: str = ""
    code_us_proposed: str = ""
    comment: str = ""
    lon: float | None = None
    lat: float | None = None
    polygon_id: int | None = None
    geom: object = None


def prepare(user, filing: Filing, with_impact: bool = True) -> dict:
    """Check a filing against every rule; returns what `file_signalement` writes.

    Also answers the map's "check before sending" (`hint`: below the minimum mapping unit).
    """
    polygon = None
    if filing.geom in (None, "") and filing.polygon_id is not None:
        polygon = _target(user, filing)
    vintage = polygon.vintage if polygon is not None else _vintage(user, filing.vintage_id)
    if vintage.state == Vintage.State.PUBLISHED:
        raise Refused(_("Ce millésime est publié : il ne change plus."), "vintage")
    if not vintage.feedback_open:
        raise Refused(_("La boucle de retours de ce millésime est fermée."), "vintage")
    srid = vintage.departement.srid
    geom = parse_geometry(filing.geom, srid) if filing.geom not in (None, "") else None
    # The target's outline stays in the database (a road network is 255,000 vertices): what
    # is needed of it is computed there.
    polygons = (
        LandCoverPolygon.objects.filter(vintage=vintage)
        .defer("geom", "geom_3857")
        .annotate(vertices=NumPoints("geom"))
    )
    if geom is not None:
        _bound(geom, polygons)
        location = geom.point_on_surface
        target, overlap = _most_overlapped(vintage.pk, geom)
        polygon = polygons.filter(pk=target).first() if target is not None else None
    elif filing.polygon_id is not None:
        if polygon is None:
            raise Refused(_("Ce polygone n'appartient pas à ce millésime."), "polygon")
        location = polygon.inner
    elif filing.lon is not None and filing.lat is not None:
        try:
            location = to_crs(Point(filing.lon, filing.lat, srid=4326), srid)
        except ValueError as exc:
            raise Refused(_("Point hors de la projection du département."), "lon") from exc
        polygon = polygons.filter(geom__intersects=location).first()
    else:
        raise Refused(_("Indiquez un polygone, un point ou une forme dessinée."), "polygon")
    if polygon is None:
        raise Refused(_("Aucun polygone de ce millésime à cet endroit."), "polygon")
    if geom is not None and _area_outside(vintage.departement_id, geom) > 1.0:
        raise Refused(_("La forme dessinée sort du département."), "geom")
    # What the filing would change lies wholly in the territory: the drawn shape (the
    # polygon is split along it), or the whole polygon (its outline read by the database).
    changed = geom if geom is not None else _stored_outline(polygon)
    organisation = contributing_organisation(user, location, vintage.departement, within=changed)
    if organisation is None:
        if not files_anywhere(user):
            raise Forbidden(_("Seuls les contributeurs déposent des signalements."))
        if contributing_organisation(user, location, vintage.departement) is None:
            raise Refused(_("Cet endroit est hors du territoire de votre organisation."), "polygon")
        if geom is not None:
            raise Refused(_("La forme dessinée sort du territoire de votre organisation."), "geom")
        raise Refused(
            _(
                "Ce polygone déborde du territoire de votre organisation : dessinez la partie "
                "qui s'y trouve."
            ),
            "polygon",
        )
    current = (polygon.code_cs, polygon.code_us)
    cs, us = check_proposal(
        current,
        filing.code_cs_proposed,
        filing.code_us_proposed,
        pair_known=getattr(polygon, "pair_known", None),
    )
    area = overlap if geom is not None else polygon.area or 0.0

    def where(large):
        # The zone test for a whole polygon: at its point when it is large, else on its
        # outline (read then).
        return location if large else polygon.geom

    mmu = minimum_mapping_unit(
        vintage,
        cs,
        geom if geom is not None else where,
        area,
        built_up=getattr(polygon, "built_up", None),
    )
    hint = None
    if area < mmu:
        hint = _(
            "Surface de %(area).0f m², sous l'unité minimale de collecte (%(mmu).0f m²) : "
            "ce signalement risque d'être rejeté « hors spécifications »."
        ) % {"area": area, "mmu": mmu}
    impact = quick_impact(polygon, cs, us, geom) if with_impact else None
    return {
        "impact": impact,
        "vintage": vintage,
        "polygon": polygon,
        "location": location,
        "geom": geom,
        "organisation": organisation,
        "current": current,
        "proposed": (cs, us),
        "area": area,
        "mmu": mmu,
        "hint": hint,
    }


def quick_impact(polygon, cs, us, geom):
    """The estimate shown before sending, when it is cheap: within ESTIMATE_BUDGET_MS per
    statement, on a polygon of at most ESTIMATE_MAX_VERTICES. Otherwise None: the filing's
    own estimate is computed after it is filed, by a task (a 255,000-vertex road network
    spanning 12 communes of the million-polygon benchmark took 70 s to estimate)."""
    if polygon.vertices > ESTIMATE_MAX_VERTICES:
        return None
    try:
        with statement_timeout(ESTIMATE_BUDGET_MS):
            return correction_impact(polygon, cs, us, geom)
    except OperationalError as exc:
        if not cancelled(exc):
            raise
        return None


def _bound(geom, polygons):
    """Refuses a shape too large for one correction before any overlay work: its area, then
    the number of polygons whose box it meets (counted on the index, stopping at the
    limit)."""
    if geom.area > MAX_SHAPE_AREA_M2:
        raise Refused(
            _(
                "La forme dessinée couvre %(ha).0f ha : %(max).0f ha au plus par signalement "
                "(dessinez la partie à corriger)."
            )
            % {"ha": geom.area / 10_000, "max": MAX_SHAPE_AREA_M2 / 10_000},
            "geom",
        )
    # Boxes only (the index alone): an exact test would read every polygon whole, and one
    # with thousands of holes costs seconds to read and test.
    met = polygons.filter(geom__bboverlaps=geom).values("pk")[: MAX_SHAPE_POLYGONS + 1]
    if met.count() > MAX_SHAPE_POLYGONS:
        raise Refused(
            _("La forme dessinée touche plus de %(n)d polygones : dessinez la partie à corriger.")
            % {"n": MAX_SHAPE_POLYGONS},
            "geom",
        )


def _most_overlapped(vintage_id: int, shape) -> tuple[int | None, float]:
    """(id, m²) of the vintage's polygon the shape overlaps most (ties: the lowest id).

    Each polygon is first cut to the shape's box: testing a shape against a polygon of
    787,000 vertices (a road network) took 4 s whatever the shape, and 0.1 s once cut — a
    box is the one shape GEOS tests fast."""
    sql = f"""
        WITH shape AS (SELECT ST_GeomFromEWKB(%(g)s) AS g),
        near AS MATERIALIZED (
            SELECT p.id, ST_Intersection(p.geom, ST_Envelope(shape.g)) AS part
            FROM {LandCoverPolygon._meta.db_table} p, shape
            WHERE p.vintage_id = %(v)s AND p.geom && shape.g
        )
        SELECT near.id, ST_Area(ST_Intersection(near.part, shape.g)) AS overlap
        FROM near, shape WHERE ST_Intersects(near.part, shape.g)
        ORDER BY overlap DESC, near.id LIMIT 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"g": bytes(shape.ewkb), "v": vintage_id})
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, 0.0)


def clipped(plan: dict) -> dict | None:
    """When a drawn shape reaches beyond the polygon it overlaps most, what will be
    corrected: the part inside that polygon (GeoJSON in WGS84), its area and why — shown on
    the map before sending. None when the shape lies in the polygon."""
    geom = plan["geom"]
    if geom is None or plan["area"] >= geom.area - 1.0:
        return None
    sql = f"""
        WITH shape AS (SELECT ST_GeomFromEWKB(%(g)s) AS g)
        SELECT ST_AsGeoJSON(ST_Transform(
                   ST_Intersection(ST_Intersection(p.geom, ST_Envelope(shape.g)), shape.g),
                   4326), 7)
        FROM {LandCoverPolygon._meta.db_table} p, shape WHERE p.id = %(p)s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"g": bytes(geom.ewkb), "p": plan["polygon"].pk})
        row = cursor.fetchone()
    return {
        "geometry": json.loads(row[0]) if row and row[0] else None,
        "area": round(plan["area"], 1),
        "drawn_area": round(geom.area, 1),
        "message": _(
            "La forme dessinée déborde du polygone qu'elle recouvre le plus : seule sa partie "
            "dans ce polygone (%(area).0f m² sur %(drawn).0f m², en couleur pleine) sera "
            "corrigée. Un signalement porte sur un polygone ; dessinez-en un par polygone."
        )
        % {"area": plan["area"], "drawn": geom.area},
    }


def _area_outside(departement_id: int, geom) -> float:
    """m² of `geom` outside the département's outline (0 when it has no outline)."""
    row = (
        Departement.objects.filter(pk=departement_id, geom__isnull=False)
        .annotate(
            outside=Area(Difference(Value(geom, output_field=PolygonField(srid=geom.srid)), "geom"))
        )
        .values_list("outside", flat=True)
        .first()
    )
    return row.sq_m if row is not None else 0.0


def file_signalement(
    user, filing: Filing, uploads: list[Upload] = (), plan: dict | None = None
) -> Signalement:
    """Write a filing; `plan`: what `prepare` answered for it just before (a file's rows are
    all checked first), else checked here."""
    checked = check_uploads(list(uploads))
    # The impact on artificialisation (a simulation, ~0.5 s on a million-polygon
    # département) is estimated after the commit, by a task: filing does not wait for it.
    if plan is None:
        plan = prepare(user, filing, with_impact=False)
    with transaction.atomic():
        signalement = Signalement.objects.create(
            vintage=plan["vintage"],
            polygon=plan["polygon"],
            location=plan["location"],
            geom=plan["geom"],
            code_cs_current=plan["current"][0],
            code_us_current=plan["current"][1],
            code_cs_proposed=plan["proposed"][0],
            code_us_proposed=plan["proposed"][1],
            comment=filing.comment,
            author=user,
            organisation=plan["organisation"],
            area=plan["area"],
            model_confidence=plan["polygon"].confidence,
        )
        event = SignalementEvent.objects.create(
            signalement=signalement,
            actor=user,
            action="file",
            to_status=Status.SUBMITTED,
            message=filing.comment,
        )
        attachments = [store(signalement, user, upload, kind) for upload, kind in checked]
        touch_feedback(plan["vintage"].pk)
        transaction.on_commit(lambda: _estimate_impact_later(signalement.pk))
    signalement.hint = plan["hint"]
    # What was just written is all there is: the API answers from it, not read back.
    signalement.written = {"events": [event], "comments": [], "attachments": attachments}
    return signalement


def _estimate_impact_later(signalement_id: int):
    from .tasks import estimate_impact

    dispatch(estimate_impact, signalement_id)


def estimate_impact(signalement_id: int) -> float | None:
    """Store what accepting the signalement would change in the artificialised area."""
    s = (
        Signalement.objects.select_related("polygon", "polygon__vintage")
        .filter(pk=signalement_id, polygon__isnull=False)
        .first()
    )
    if s is None or s.polygon is None:
        return None
    impact = correction_impact(s.polygon, s.code_cs_proposed, s.code_us_proposed, s.geom)
    delta = impact["delta_m2"] if impact else None
    Signalement.objects.filter(pk=s.pk).update(artif_impact=delta)
    return delta
