"""M1↔M2 coherence: a correction accepted on one vintage is proposed on the other where the
land did not change.

Operators correct the model's error on M1, and the same error stays on M2 (the model made it
twice): the change layer then shows a change that never happened. After an accepted
correction, every polygon of the other vintage overlapping the corrected one and carrying the
codes it had before (so the change layer had no piece there: the land did not change) gets
a signalement of kind « cohérence M1/M2 », filed by the platform and linked to its origin,
proposing the corrected codes on the overlap. Accepting it removes the false change.

Filed by a task once the decision is committed; one proposal per origin and polygon (a
database constraint, the origin's row locked meanwhile), so a retried task files nothing
twice. Proposals are not themselves followed by proposals.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.utils.translation import gettext as _

from apps.landcover.models import LandCoverPolygon, Vintage
from apps.territories.models import Organisation
from ocsge.nomenclature import minimum_mapping_unit

from .map import touch_feedback
from .models import Signalement, SignalementEvent
from .transitions import Status

PLATFORM_USERNAME = "plateforme"
PLATFORM_ORGANISATION = "Plateforme OCS GE (propositions automatiques)"
# A proposal covering at least this share of the other polygon proposes the whole polygon.
WHOLE_SHARE = 0.99


def platform_author():
    """The author of the platform's proposals: an account no one logs into (inactive,
    unusable password) in an organisation with no territory (so no rights)."""
    organisation, _created = Organisation.objects.get_or_create(
        name=PLATFORM_ORGANISATION, defaults={"kind": Organisation.Kind.IGN}
    )
    user, created = get_user_model().objects.get_or_create(
        username=PLATFORM_USERNAME,
        defaults={"first_name": "Plateforme", "last_name": "OCS GE", "is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user, organisation


def file_as_platform(author, **fields) -> Signalement:
    """A signalement the platform files (a coherence proposal, a model's proposal), with its
    « file » event; the caller touches the vintage's feedback once for all."""
    signalement = Signalement.objects.create(author=author, **fields)
    SignalementEvent.objects.create(
        signalement=signalement, actor=author, action="file", to_status=Status.SUBMITTED
    )
    return signalement


def _other_vintage(vintage: Vintage) -> Vintage | None:
    other = {"M1": "M2", "M2": "M1"}.get(vintage.rank)
    return (
        Vintage.objects.filter(departement_id=vintage.departement_id, rank=other)
        .exclude(state=Vintage.State.PUBLISHED)
        .first()
    )


def _candidates(corrected_id: int, corrected_vintage: int, other: Vintage, codes, unit):
    """(polygon id, whole?, overlap area, overlap shape EWKB, point EWKB, confidence) of the
    other vintage's polygons with `codes` overlapping the corrected polygon by at least
    `unit` m². Each polygon is first cut to the corrected polygon's box (a road network of
    hundreds of thousands of vertices is overlaid in a fraction of the time)."""
    table = LandCoverPolygon._meta.db_table
    sql = f"""
        WITH c AS (SELECT geom FROM {table} WHERE id = %(id)s AND vintage_id = %(cv)s),
        near AS MATERIALIZED (
            SELECT q.id, q.confidence, ST_Area(q.geom) AS whole,
                   ST_Intersection(ST_Intersection(q.geom, ST_Envelope(c.geom)), c.geom) AS part
            FROM {table} q, c
            WHERE q.vintage_id = %(v)s AND q.geom && c.geom
              AND q.code_cs = %(cs)s AND q.code_us = %(us)s
        ),
        largest AS (
            SELECT DISTINCT ON (near.id) near.id, near.confidence, near.whole,
                   ST_Area(near.part) AS overlap, d.geom AS piece
            FROM near, ST_Dump(ST_CollectionExtract(near.part, 3)) AS d
            ORDER BY near.id, ST_Area(d.geom) DESC
        )
        SELECT id, overlap >= %(share)s * whole, overlap, ST_AsEWKB(piece),
               ST_AsEWKB(ST_PointOnSurface(piece)), confidence
        FROM largest WHERE ST_Area(piece) >= %(unit)s ORDER BY id
    """
    with connection.cursor() as cur:
        cur.execute(
            sql,
            {
                "id": corrected_id,
                "cv": corrected_vintage,
                "v": other.pk,
                "cs": codes[0],
                "us": codes[1],
                "share": WHOLE_SHARE,
                "unit": unit,
            },
        )
        return cur.fetchall()


def propose(origin_id: int, corrected_id: int) -> list[int]:
    """File the coherence proposals following the accepted signalement `origin_id`, whose
    correction wrote polygon `corrected_id` (the piece with the new codes). Returns the ids
    of the proposals filed now."""
    origin = (
        Signalement.objects.select_related("vintage").filter(pk=origin_id).first()
        if origin_id
        else None
    )
    if (
        origin is None
        or origin.status != Status.ACCEPTED
        or origin.kind != Signalement.Kind.CONTRIBUTION
    ):
        return []
    other = _other_vintage(origin.vintage)
    if other is None:
        return []
    before = (origin.code_cs_current, origin.code_us_current)
    after = (origin.code_cs_proposed, origin.code_us_proposed)
    # Slivers where two vintages' outlines differ by a metre are not proposals: at least the
    # smallest unit the corrected class may be mapped at.
    unit = minimum_mapping_unit(after[0], in_built_up_zone=True)
    rows = _candidates(corrected_id, origin.vintage_id, other, before, unit)
    if not rows:
        return []
    author, organisation = platform_author()
    comment = _(
        "Proposé par la plateforme : le signalement n° %(origin)d, accepté sur le %(rank)s, a "
        "corrigé ce lieu de %(cs0)s / %(us0)s en %(cs1)s / %(us1)s. Le %(other)s y porte "
        "toujours %(cs0)s / %(us0)s et aucun changement n'y est cartographié : sans "
        "correction, la différence M1 → M2 montrerait un changement qui n'a pas eu lieu."
    ) % {
        "origin": origin.pk,
        "rank": origin.vintage.rank,
        "other": other.rank,
        "cs0": before[0],
        "us0": before[1],
        "cs1": after[0],
        "us1": after[1],
    }
    filed = []
    with transaction.atomic():
        # The origin's row lock serialises two deliveries of the task.
        Signalement.objects.select_for_update().filter(pk=origin.pk).first()
        done = set(Signalement.objects.filter(origin=origin).values_list("polygon_id", flat=True))
        for polygon_id, whole, overlap, piece, point, confidence in rows:
            if polygon_id in done:
                continue
            shape = None if whole else GEOSGeometry(memoryview(piece))
            s = file_as_platform(
                author,
                kind=Signalement.Kind.COHERENCE,
                origin=origin,
                vintage=other,
                polygon_id=polygon_id,
                location=GEOSGeometry(memoryview(point)),
                geom=shape,
                code_cs_current=before[0],
                code_us_current=before[1],
                code_cs_proposed=after[0],
                code_us_proposed=after[1],
                comment=comment,
                organisation=organisation,
                area=overlap,
                model_confidence=confidence,
            )
            filed.append(s.pk)
        if filed:
            from .filing import _estimate_impact_later

            touch_feedback(other.pk)
            transaction.on_commit(lambda: [_estimate_impact_later(pk) for pk in filed])
    return filed


def after_accept(signalement: Signalement, touched: list[int]):
    """Called in an accept's transaction: the proposals are looked for once it is
    committed (the corrected polygon is the last one the correction wrote)."""
    if signalement.kind != Signalement.Kind.CONTRIBUTION or not touched:
        return
    from apps.ops.dispatch import dispatch

    from .tasks import propose_coherence

    origin_id, corrected_id = signalement.pk, touched[-1]
    transaction.on_commit(lambda: dispatch(propose_coherence, origin_id, corrected_id))


def withdraw_untouched(origin: Signalement, user) -> list[int]:
    """When the accept that caused them is undone: its coherence proposals that nobody has
    acted on yet (still « Reçu », nothing but their filing in the journal) are withdrawn,
    each with its event. Those an operator already handled stay as they are."""
    from django.db.models import Count

    from .models import SignalementEvent

    candidates = (
        Signalement.objects.filter(
            origin=origin, kind=Signalement.Kind.COHERENCE, status=Status.SUBMITTED
        )
        .annotate(n=Count("events"))
        .filter(n=1)
        .values_list("pk", flat=True)
    )
    # Locked, and still untouched once locked (no GROUP BY under FOR UPDATE).
    untouched = list(
        Signalement.objects.select_for_update()
        .filter(pk__in=list(candidates), status=Status.SUBMITTED)
        .values_list("pk", flat=True)
    )
    if not untouched:
        return []
    Signalement.objects.filter(pk__in=untouched).update(status=Status.WITHDRAWN)
    SignalementEvent.objects.bulk_create(
        SignalementEvent(
            signalement_id=pk,
            actor=user,
            action="undo",
            from_status=Status.SUBMITTED,
            to_status=Status.WITHDRAWN,
            message=_("la décision qui l'avait causée est annulée"),
        )
        for pk in untouched
    )
    return untouched
