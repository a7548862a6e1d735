"""Filing and deciding signalements: every rule of DESIGN §3–4 lives here, not in views.

Refusals raise `Refused` (400), `Forbidden` (403) or `Conflict` (409) before anything is
written: filing validates everything (attachments included) before its one transaction, and
a decision locks the signalement row (`SELECT … FOR UPDATE`), so two operators deciding at
once give one decision and one conflict.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from io import BytesIO

from django.contrib.gis.db.models import PolygonField
from django.contrib.gis.db.models.functions import Area, Difference, Intersection
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Point
from django.core.files.base import File
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from apps.artif.impact import correction_impact
from apps.landcover import corrections
from apps.landcover.derived import after_change
from apps.landcover.geometry import to_lambert93
from apps.landcover.models import (
    CoverCode,
    CoverUsePair,
    LandCoverPolygon,
    PolygonRevision,
    UseCode,
    Vintage,
    ZoneConstruite,
)
from apps.landcover.scoping import visible_vintages
from apps.ops.dispatch import dispatch
from apps.ops.errors import Refusal
from apps.ops.timeouts import cancelled, statement_timeout
from apps.territories.models import (
    SIGNALEMENT_STAFF,
    Commune,
    Departement,
    Organisation,
    Role,
    departements_for,
    has_role_in,
)

from .models import (
    Attachment,
    RejectionReason,
    Signalement,
    SignalementComment,
    SignalementEvent,
)
from .transitions import (
    AUTHOR,
    NEEDS_MESSAGE,
    NEEDS_REASON,
    OPEN,
    OPERATOR,
    TRANSITIONS,
    Action,
    Status,
)

MAX_ATTACHMENTS = 4
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
MAX_VERTICES = 5_000
# What one drawn shape may cover (security, issue 17 finding 6): a correction is local; a
# shape over a whole département made one request cost seconds of overlay work.
MAX_SHAPE_AREA_M2 = 1_000_000.0  # 100 ha
MAX_SHAPE_POLYGONS = 200
# Slack along a territory's edge for what a contributor changes (drawing precision, commune
# outlines generalised differently from the land cover): strips thinner than twice this pass.
TERRITORY_TOLERANCE_M = 3.0
# The estimate shown before sending is computed in the request only when it is cheap.
ESTIMATE_BUDGET_MS = 800
ESTIMATE_MAX_VERTICES = 20_000
# Minimum mapping units of the OCS GE (nomenclature README), m².
MMU_BUILDING, MMU_BUILT_UP, MMU_ELSEWHERE = 200.0, 500.0, 2_500.0
DECIDERS = (Role.OPERATOR, Role.MANAGER)


class Refused(Refusal):
    """A rule of filing or deciding refuses the request (400; apps.ops.errors answers it)."""


class Forbidden(Refused):
    status = 403


class Conflict(Refused):
    status = 409


class Missing(Refused):
    """Unknown, or outside the caller's scope: the same answer (404)."""

    status = 404


# --- who may do what ---------------------------------------------------------------------


def can_decide(user, vintage) -> bool:
    return has_role_in(user, vintage.departement_id, DECIDERS)


def visible_signalements(user):
    """Signalements a user may see: their organisations' own, and all of the départements
    where they operate or review (DESIGN §3). The one place that decides it."""
    if not user.is_authenticated:
        return Signalement.objects.none()
    staff = departements_for(user, roles=SIGNALEMENT_STAFF)
    orgs = user.memberships.values("organisation")
    return Signalement.objects.filter(
        Q(vintage__departement__in=staff.values("pk")) | Q(organisation__in=orgs)
    )


def contributor_organisation(user, location: Point, within=None) -> Organisation | None:
    """The user's contributing organisation whose territory holds `location` — and, when
    `within` is given (what the filing would change: the drawn shape, or the whole polygon),
    holds all of it, but for strips thinner than 2 × TERRITORY_TOLERANCE_M along the edge.

    One EXISTS per kind of territory (each on a GiST index), not one OR over joined
    geometries (that joined every commune of the département: 120 ms a filing)."""
    at = {"geom__intersects": location}
    orgs = Organisation.objects.filter(
        memberships__user=user, memberships__role=Role.CONTRIBUTOR
    ).filter(
        Exists(Commune.objects.filter(organisations=OuterRef("pk"), **at))
        | Exists(Departement.objects.filter(organisations=OuterRef("pk"), **at))
        | Exists(Commune.objects.filter(departement__organisations=OuterRef("pk"), **at))
        | Exists(Departement.objects.filter(region__organisations=OuterRef("pk"), **at))
    )
    for organisation in orgs.order_by("pk").distinct():
        if within is None or _holds(organisation.pk, within):
            return organisation
    return None


def _holds(organisation_id: int, geom) -> bool:
    """Whether the organisation's territory holds `geom` (up to the tolerance): one
    statement, on the territory pieces that meet `geom` only."""
    links = {name: getattr(Organisation, name).through._meta.db_table
             for name in ("communes", "departements", "regions")}  # fmt: skip
    sql = f"""
        WITH shape AS (SELECT ST_GeomFromEWKB(%(g)s) AS g),
        territory AS (
            SELECT c.geom FROM {Commune._meta.db_table} c, shape
            WHERE c.geom && shape.g AND (
                c.id IN (SELECT commune_id FROM {links["communes"]}
                         WHERE organisation_id = %(org)s)
                OR c.departement_id IN (SELECT departement_id FROM {links["departements"]}
                                        WHERE organisation_id = %(org)s))
            UNION ALL
            SELECT d.geom FROM {Departement._meta.db_table} d, shape
            WHERE d.geom && shape.g AND (
                d.id IN (SELECT departement_id FROM {links["departements"]}
                         WHERE organisation_id = %(org)s)
                OR d.region_id IN (SELECT region_id FROM {links["regions"]}
                                   WHERE organisation_id = %(org)s))
        )
        SELECT ST_IsEmpty(ST_Buffer(
            ST_Difference(shape.g, coalesce((SELECT ST_Union(geom) FROM territory),
                                            'SRID=2154;POLYGON EMPTY'::geometry)),
            -%(tol)s))
        FROM shape
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"g": bytes(geom.ewkb), "org": organisation_id, "tol": TERRITORY_TOLERANCE_M}
        )
        return bool(cursor.fetchone()[0])


# --- filing ------------------------------------------------------------------------------


@dataclass
class Upload:
    """An attachment as received: its name and either a seekable file (the request's upload,
    streamed to a temporary file) or bytes (scripts, tests). Never read whole into memory:
    checks read its first bytes, storage copies it in chunks."""

    name: str
    content: bytes | None = None
    file: object = None

    def open(self):
        stream = self.file if self.file is not None else BytesIO(self.content)
        stream.seek(0)
        return stream

    @property
    def size(self) -> int:
        if self.file is None:
            return len(self.content)
        return self.file.size


def sniff(content: bytes) -> str | None:
    """Content type from the bytes themselves (never from the name)."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def too_large(name: str) -> str:
    return _("« %(name)s » dépasse %(mb)d Mo.") % {
        "name": name, "mb": MAX_ATTACHMENT_BYTES // 2**20}  # fmt: skip


def too_many() -> str:
    return _("%(n)d pièces jointes au plus par signalement.") % {"n": MAX_ATTACHMENTS}


def check_uploads(uploads: list[Upload], already: int = 0) -> list[tuple[Upload, str]]:
    if already + len(uploads) > MAX_ATTACHMENTS:
        raise Refused(too_many(), "attachments")
    checked = []
    for upload in uploads:
        if upload.size > MAX_ATTACHMENT_BYTES:
            raise Refused(too_large(upload.name), "attachments")
        kind = sniff(upload.open().read(16))
        if kind is None:
            raise Refused(
                _("« %(name)s » n'est ni une image (JPEG, PNG, WebP) ni un PDF.")
                % {"name": upload.name},
                "attachments",
            )
        if kind.startswith("image/"):
            _verify_image(upload)
        checked.append((upload, kind))
    return checked


def _verify_image(upload: Upload):
    try:
        with Image.open(upload.open()) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise Refused(
            _("« %(name)s » est une image illisible.") % {"name": upload.name}, "attachments"
        ) from exc


def parse_geometry(value) -> GEOSGeometry:
    """A drawn shape: GeoJSON (WGS84 unless it names its CRS) or WKT/EWKT, to Lambert-93."""
    try:
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        geom = GEOSGeometry(text)
    except (GEOSException, ValueError, TypeError) as exc:
        raise Refused(_("Géométrie illisible."), "geom") from exc
    if geom.srid is None:
        geom.srid = 4326
    if geom.srid not in (4326, 2154):
        raise Refused(
            _("Système de coordonnées EPSG:%(srid)s refusé : WGS84 (4326) ou Lambert-93 (2154).")
            % {"srid": geom.srid},
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
        to_lambert93(geom)
    except ValueError as exc:
        raise Refused(_("Forme hors de la projection Lambert-93."), "geom") from exc
    if geom.area <= 0:
        raise Refused(_("La forme dessinée est vide."), "geom")
    return geom


def minimum_mapping_unit(vintage: Vintage, code_cs: str, where: GEOSGeometry) -> float:
    if code_cs == "CS1.1.1.1":
        return MMU_BUILDING
    if ZoneConstruite.objects.filter(vintage=vintage, geom__intersects=where).exists():
        return MMU_BUILT_UP
    return MMU_ELSEWHERE


def check_proposal(current: tuple[str, str], cs: str, us: str) -> tuple[str, str]:
    cs = cs or current[0]
    us = us or current[1]
    if cs != current[0] and not CoverCode.objects.filter(code=cs).exists():
        raise Refused(_("Code de couverture %(code)s inconnu.") % {"code": cs}, "code_cs_proposed")
    if us != current[1] and not UseCode.objects.filter(code=us).exists():
        raise Refused(_("Code d'usage %(code)s inconnu.") % {"code": us}, "code_us_proposed")
    if (cs, us) == tuple(current):
        raise Refused(_("La proposition est identique à la donnée actuelle."), "code_cs_proposed")
    if not CoverUsePair.objects.filter(cover_id=cs, use_id=us).exists():
        raise Refused(
            _("Le couple %(cs)s / %(us)s n'existe pas dans la nomenclature.")
            % {"cs": cs, "us": us},
            "code_us_proposed",
        )
    return cs, us


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
    vintage = visible_vintages(user).filter(pk=filing.vintage_id).select_related(
        "departement").first()  # fmt: skip
    if vintage is None:
        raise Refused(_("Millésime inconnu."), "vintage")
    if vintage.state == Vintage.State.PUBLISHED:
        raise Refused(_("Ce millésime est publié : il ne change plus."), "vintage")
    if not vintage.feedback_open:
        raise Refused(_("La boucle de retours de ce millésime est fermée."), "vintage")
    geom = parse_geometry(filing.geom) if filing.geom not in (None, "") else None
    polygons = LandCoverPolygon.objects.filter(vintage=vintage)
    if geom is not None:
        _bound(geom, polygons)
        location = geom.point_on_surface
        polygon = (
            polygons.filter(geom__intersects=geom)
            .annotate(overlap=Area(Intersection("geom", geom)))
            .order_by("-overlap")
            .first()
        )
    elif filing.polygon_id is not None:
        polygon = polygons.filter(pk=filing.polygon_id).first()
        if polygon is None:
            raise Refused(_("Ce polygone n'appartient pas à ce millésime."), "polygon")
        location = polygon.geom.point_on_surface
    elif filing.lon is not None and filing.lat is not None:
        try:
            location = to_lambert93(Point(filing.lon, filing.lat, srid=4326))
        except ValueError as exc:
            raise Refused(_("Point hors de la projection Lambert-93."), "lon") from exc
        polygon = polygons.filter(geom__intersects=location).first()
    else:
        raise Refused(_("Indiquez un polygone, un point ou une forme dessinée."), "polygon")
    if polygon is None:
        raise Refused(_("Aucun polygone de ce millésime à cet endroit."), "polygon")
    if geom is not None and _area_outside(vintage.departement_id, geom) > 1.0:
        raise Refused(_("La forme dessinée sort du département."), "geom")
    # What the filing would change lies wholly in the territory: the drawn shape (the
    # polygon is split along it), or the whole polygon.
    changed = geom if geom is not None else polygon.geom
    organisation = contributor_organisation(user, location, within=changed)
    if organisation is None:
        if not user.memberships.filter(role=Role.CONTRIBUTOR).exists():
            raise Forbidden(_("Seuls les contributeurs déposent des signalements."))
        if contributor_organisation(user, location) is None:
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
    cs, us = check_proposal(current, filing.code_cs_proposed, filing.code_us_proposed)
    area = geom.intersection(polygon.geom).area if geom is not None else polygon.area or 0.0
    mmu = minimum_mapping_unit(vintage, cs, geom or polygon.geom)
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
    if polygon.geom.num_points > ESTIMATE_MAX_VERTICES:
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


def _area_outside(departement_id: int, geom) -> float:
    """m² of `geom` outside the département's outline (0 when it has no outline)."""
    row = (
        Departement.objects.filter(pk=departement_id, geom__isnull=False)
        .annotate(
            outside=Area(Difference(Value(geom, output_field=PolygonField(srid=2154)), "geom"))
        )  # fmt: skip
        .values_list("outside", flat=True)
        .first()
    )
    return row.sq_m if row is not None else 0.0


def file_signalement(user, filing: Filing, uploads: list[Upload] = ()) -> Signalement:
    checked = check_uploads(list(uploads))
    # The impact on artificialisation (a simulation, ~0.5 s on a million-polygon
    # département) is estimated after the commit, by a task: filing does not wait for it.
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
        SignalementEvent.objects.create(
            signalement=signalement,
            actor=user,
            action="file",
            to_status=Status.SUBMITTED,
            message=filing.comment,
        )
        for upload, kind in checked:
            _store(signalement, user, upload, kind)
        _touch(plan["vintage"].pk)
        transaction.on_commit(lambda: _estimate_impact_later(signalement.pk))
    signalement.hint = plan["hint"]
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


def _touch(vintage_id: int):
    """Tiles show open signalements: a new feedback version changes their ETag.

    After commit, in its own short statement: concurrent filings do not queue on the
    vintage's row lock for the length of their transactions."""
    transaction.on_commit(
        lambda: Vintage.objects.filter(pk=vintage_id).update(
            feedback_version=F("feedback_version") + 1
        )
    )


def _store(signalement, user, upload: Upload, kind: str):
    attachment = Attachment(
        signalement=signalement,
        name=upload.name[:200],
        content_type=kind,
        size=upload.size,
        uploaded_by=user,
    )
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}.get(
        kind, "webp"
    )
    # A random name (never the uploader's, never guessable); served only through the
    # scoped view `signalements:attachment`, never as a public media URL.
    attachment.file.save(f"{secrets.token_hex(16)}.{extension}", File(upload.open()), save=False)
    attachment.save()
    return attachment


def add_comment(user, signalement_id: int, text: str):
    with transaction.atomic():
        signalement = _locked(user, signalement_id)
        decider = can_decide(user, signalement.vintage)
        member = user.memberships.filter(
            organisation=signalement.organisation_id, role=Role.CONTRIBUTOR
        ).exists()
        if not (decider or member):
            raise Forbidden(_("Vous ne pouvez pas commenter ce signalement."))
        if not decider and signalement.status not in OPEN:
            raise Conflict(_("Le signalement est clos."))
        return SignalementComment.objects.create(signalement=signalement, author=user, text=text)


def add_attachments(user, signalement_id: int, uploads: list[Upload]):
    with transaction.atomic():
        signalement = _locked(user, signalement_id)
        if signalement.author_id != user.pk:
            raise Forbidden(_("Seul l'auteur ajoute des pièces jointes."))
        if signalement.status not in OPEN:
            raise Conflict(_("Le signalement est clos."))
        checked = check_uploads(uploads, already=signalement.attachments.count())
        return [_store(signalement, user, upload, kind) for upload, kind in checked]


# --- decisions ---------------------------------------------------------------------------


def _locked(user, signalement_id: int) -> Signalement:
    signalement = (
        visible_signalements(user)
        .select_for_update(of=("self",))
        .select_related("vintage")
        .filter(pk=signalement_id)
        .first()
    )
    if signalement is None:
        raise Missing(_("Signalement inconnu."), "id")
    return signalement


def apply_action(
    user, signalement_id: int, action: str, *, reason=None, message="", touched=None
) -> Signalement:
    """Apply one transition of the table, atomically; accept applies the correction.

    `touched`: a list to collect the corrected polygons in, leaving the change layer to the
    caller (bulk decisions update it once for all); by default it is updated at once."""
    action = Action(action)
    sources, to, who = TRANSITIONS[action]
    with transaction.atomic():
        signalement = _locked(user, signalement_id)
        if signalement.vintage.state == Vintage.State.PUBLISHED:
            raise Conflict(_("Ce millésime est publié : il ne change plus."))
        if who == OPERATOR:
            if not can_decide(user, signalement.vintage):
                raise Forbidden(_("Seuls les opérateurs du département décident."))
            if signalement.author_id == user.pk:
                raise Forbidden(_("Personne ne décide son propre signalement."))
        elif who == AUTHOR:
            if signalement.author_id != user.pk:
                raise Forbidden(_("Seul l'auteur du signalement peut le faire."))
            if not signalement.vintage.feedback_open:
                raise Refused(_("La boucle de retours de ce millésime est fermée."), "vintage")
        if signalement.status not in sources:
            raise Conflict(
                _("Le signalement est « %(status)s » : « %(action)s » n'est plus possible.")
                % {"status": signalement.get_status_display(), "action": action.label}
            )
        reason_obj = None
        if action in NEEDS_REASON:
            reason_obj = RejectionReason.objects.filter(
                pk=reason, active=True, applies_to=to
            ).first() if reason else None  # fmt: skip
            if reason_obj is None:
                raise Refused(_("Choisissez un motif de rejet de la liste."), "reason")
        if action in NEEDS_MESSAGE and not (message or "").strip():
            raise Refused(_("Un message est nécessaire."), "message")
        if action == Action.ACCEPT:
            ids = apply_correction(signalement, user)
            if touched is None:
                update_derived(signalement.vintage.departement, ids)
            else:
                touched.extend(ids)
        previous = signalement.status
        signalement.status = to
        if action == Action.TAKE:
            signalement.assignee = user
        if to not in OPEN:
            signalement.decided_by = user if who == OPERATOR else None
            signalement.decided_at = timezone.now()
            signalement.reason = reason_obj
            signalement.decision_message = message or ""
        signalement.save()
        _touch(signalement.vintage_id)
        SignalementEvent.objects.create(
            signalement=signalement,
            actor=user,
            action=action,
            from_status=previous,
            to_status=to,
            reason=reason_obj,
            message=message or "",
        )
    return signalement


def apply_correction(signalement: Signalement, user) -> list[int]:
    """Accepting: the correction made (`landcover.corrections`: codes, or a split along the
    drawn shape) on the locked polygon. Returns the ids of the polygons written."""
    if signalement.polygon_id is None:
        raise Conflict(_("Le polygone de ce signalement n'existe plus."))
    polygon = LandCoverPolygon.objects.select_for_update().get(pk=signalement.polygon_id)
    try:
        return corrections.apply(
            polygon,
            signalement.code_cs_proposed,
            signalement.code_us_proposed,
            signalement.geom,
            author=user,
            cause=PolygonRevision.Cause.SIGNALEMENT,
            origin=_("signalement %(s)d") % {"s": signalement.pk},
            tag=f"S{signalement.pk}",
        )
    except corrections.CorrectionConflict as exc:
        raise Conflict(str(exc)) from exc


def update_derived(departement, polygon_ids):
    """After corrections: the one hook of derived data (`landcover.derived`): the change
    layer at once, in the decision's transaction; the indicators after the commit."""
    after_change(departement, polygon_ids)


def bulk_action(user, ids: list[int], action: str, *, reason=None, message="") -> list[dict]:
    """The same action on many signalements, each in its own transaction (one refusal does
    not undo the others); the change layer is updated once at the end."""
    touched: list[int] = []
    results = []
    ids = list(dict.fromkeys(ids))  # each once, in the given order
    # Unknown or invisible ids are answered from one query, not one transaction each (the
    # schemathesis fuzz test sent thousands of random ids).
    known = set(visible_signalements(user).filter(pk__in=ids).values_list("pk", flat=True))
    for pk in ids:
        if pk not in known:
            results.append({"id": pk, "ok": False, "code": Missing.status,
                            "detail": str(_("Signalement inconnu."))})  # fmt: skip
            continue
        try:
            s = apply_action(user, pk, action, reason=reason, message=message, touched=touched)
            results.append({"id": pk, "ok": True, "status": s.status})
        except Refused as exc:
            results.append({"id": pk, "ok": False, "code": exc.status, "detail": str(exc)})
    if touched:
        departements = Departement.objects.filter(vintages__polygons__in=touched).distinct()
        for departement in departements:
            update_derived(departement, touched)
    return results


def related_open(signalement: Signalement, user) -> list[int]:
    """Open signalements about the same place that `user` may see: the same polygon, or
    overlapping with the same proposal. Accepting one offers to close these as « déjà pris
    en compte ». Two indexed queries (an OR of both would scan the table)."""
    base = (
        visible_signalements(user)
        .filter(vintage=signalement.vintage_id, status__in=OPEN)
        .exclude(pk=signalement.pk)
    )
    ids = set()
    if signalement.polygon_id:
        ids.update(base.filter(polygon_id=signalement.polygon_id).values_list("pk", flat=True))
    shape = signalement.geom or signalement.location.buffer(1)
    ids.update(
        base.filter(
            location__intersects=shape,
            code_cs_proposed=signalement.code_cs_proposed,
            code_us_proposed=signalement.code_us_proposed,
        ).values_list("pk", flat=True)
    )
    return sorted(ids)
