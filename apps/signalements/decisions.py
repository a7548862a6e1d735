"""Deciding signalements: one transition of the life cycle's table at a time, atomically,
on the locked row (`SELECT … FOR UPDATE`: two operators deciding at once give one decision
and one conflict); accepting applies the correction (`landcover.corrections`)."""

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.landcover import corrections
from apps.landcover.models import LandCoverPolygon, PolygonRevision, Vintage
from apps.ops.dispatch import dispatch
from apps.territories.models import Departement

from . import coherence
from .access import can_decide, locked, visible_signalement_sql, visible_signalements
from .errors import Conflict, Forbidden, Missing, Refused
from .map import touch_feedback
from .models import RejectionReason, Signalement, SignalementEvent
from .signals import signalement_changed
from .transitions import (
    AUTHOR,
    NEEDS_MESSAGE,
    NEEDS_REASON,
    OPEN,
    OPERATOR,
    TRANSITIONS,
    Action,
)


def apply_action(
    user, signalement_id: int, action: str, *, reason=None, message="", touched=None
) -> Signalement:
    """Apply one transition of the table, atomically; accept applies the correction.

    `touched`: a list to collect the corrected polygons in, leaving the change layer to the
    caller (bulk decisions update it once for all); by default it is updated at once."""
    action = Action(action)
    sources, to, who = TRANSITIONS[action]
    with transaction.atomic():
        signalement = locked(user, signalement_id)
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
            reason_obj = (
                RejectionReason.objects.filter(pk=reason, active=True, applies_to=to).first()
                if reason
                else None
            )
            if reason_obj is None:
                raise Refused(_("Choisissez un motif de rejet de la liste."), "reason")
        if action in NEEDS_MESSAGE and not (message or "").strip():
            raise Refused(_("Un message est nécessaire."), "message")
        corrected = None
        if action == Action.ACCEPT:
            ids, revision = apply_correction(signalement, user)
            corrected = {"polygon": ids[0], "revision": revision, "pieces": ids[1:]}
            coherence.after_accept(signalement, ids)
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
        signalement.save(update_fields=_DECIDED_FIELDS)
        touch_feedback(signalement.vintage_id)
        SignalementEvent.objects.create(
            signalement=signalement,
            actor=user,
            action=action,
            from_status=previous,
            to_status=to,
            reason=reason_obj,
            message=message or "",
            corrected=corrected,
        )
        signalement_changed.send(
            Signalement,
            signalement=signalement,
            actor=user,
            what="question" if action == Action.ASK_INFO else "status",
            message=message or "",
        )
    return signalement


# What a decision writes on the signalement.
_DECIDED_FIELDS = [
    "status",
    "assignee",
    "decided_by",
    "decided_at",
    "reason",
    "decision_message",
    "updated_at",
]


def apply_correction(signalement: Signalement, user) -> tuple[list[int], int]:
    """Accepting: the correction made (`landcover.corrections`: codes, or a split along the
    drawn shape) on the locked polygon. Returns the ids of the polygons written (the
    polygon first, then the piece split off) and the polygon's new revision."""
    if signalement.polygon_id is None:
        raise Conflict(_("Le polygone de ce signalement n'existe plus."))
    polygon = (  # the vintage's partition only
        LandCoverPolygon.objects.select_for_update()
        .defer("geom", "geom_3857")
        .get(pk=signalement.polygon_id, vintage_id=signalement.vintage_id)
    )
    try:
        ids = corrections.apply(
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
    return ids, polygon.revision


# How long a decision can be undone by whoever made it (a manager: any decision of theirs
# or their operators' within it).
UNDO_SECONDS = 15 * 60
UNDOABLE = {
    Action.TAKE,
    Action.ASK_INFO,
    Action.ACCEPT,
    Action.ALREADY_DONE,
    Action.REJECT_OUT_OF_SPEC,
    Action.REJECT_IRRELEVANT,
}


def undo_refusal(user, signalement, last) -> Exception | None:
    """Why `user` may not undo the signalement's last action `last` (None: they may)."""
    from apps.territories.permissions import Right, may

    if signalement.vintage.state == Vintage.State.PUBLISHED:
        return Conflict(_("Ce millésime est publié : il ne change plus."))
    if not can_decide(user, signalement.vintage):
        return Forbidden(_("Seuls les opérateurs du département décident."))
    if last is None or last.action not in UNDOABLE:
        return Conflict(_("La dernière action sur ce signalement n'est pas une décision."))
    manager = may(user, Right.MANAGE_CALENDAR, signalement.vintage.departement)
    if last.actor_id != user.pk and not manager:
        return Forbidden(_("Seul l'opérateur qui a décidé (ou un responsable) l'annule."))
    if (timezone.now() - last.created_at).total_seconds() > UNDO_SECONDS:
        return Conflict(
            _("Une décision s'annule pendant %(min)d minutes ; celle-ci date de plus.")
            % {"min": UNDO_SECONDS // 60}
        )
    return None


def undo(user, signalement_id: int) -> Signalement:
    """Undo the signalement's last decision, within UNDO_SECONDS, by the operator who made it
    (or a manager of the département): its status back, an accept's correction reverted
    (`corrections.revert`: refused when the polygon changed since), the coherence
    proposals it caused and nobody touched withdrawn, derived data recomputed after the
    commit. The journal keeps the decision and records the undo."""
    with transaction.atomic():
        signalement = locked(user, signalement_id)
        last = signalement.events.order_by("-created_at", "-id").first()
        if refusal := undo_refusal(user, signalement, last):
            raise refusal
        if last.action == Action.ACCEPT and last.corrected:
            try:
                ids = corrections.revert(
                    last.corrected["polygon"],
                    last.corrected["revision"],
                    last.corrected["pieces"],
                    author=user,
                    origin=_("annulation de l'acceptation du signalement %(s)d")
                    % {"s": signalement.pk},
                )
            except corrections.CorrectionConflict as exc:
                raise Conflict(str(exc)) from exc
            coherence.withdraw_untouched(signalement, user)
            update_derived(signalement.vintage.departement, ids)
        previous = signalement.status
        signalement.status = last.from_status
        if last.action == Action.TAKE:
            signalement.assignee = None
        if signalement.status in OPEN:
            signalement.decided_by = None
            signalement.decided_at = None
            signalement.reason = None
            signalement.decision_message = ""
        signalement.save(update_fields=_DECIDED_FIELDS)
        touch_feedback(signalement.vintage_id)
        SignalementEvent.objects.create(
            signalement=signalement,
            actor=user,
            action="undo",
            from_status=previous,
            to_status=signalement.status,
            message=_("annule « %(action)s »") % {"action": last.get_action_display()},
        )
        signalement_changed.send(
            Signalement, signalement=signalement, actor=user, what="status", message=""
        )
    return signalement


def update_derived(departement, polygon_ids):
    """After corrections: the one hook of derived data (`landcover.derived`), in a task
    once the decision is committed. In the decision's transaction, the change layer of a
    793,000-vertex road network took seconds and held every other decision of the
    département meanwhile (the derived data's lock); the tiles and pages show the new codes
    at once, the change layer and indicators moments later."""
    from apps.landcover.tasks import derived_after_correction

    departement_id, ids = departement.pk, list(polygon_ids)
    transaction.on_commit(lambda: dispatch(derived_after_correction, departement_id, ids))


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
            results.append(
                {
                    "id": pk,
                    "ok": False,
                    "code": Missing.status,
                    "detail": str(_("Signalement inconnu.")),
                }
            )
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
    en compte ». One statement: the UNION of two indexed selections (an OR of both would
    scan the table), then the user's scope (hand-written: its ORM form took 6 ms of each
    filing and decision to build, for 1.5 ms of running)."""
    visible, visible_params = visible_signalement_sql(user, "s", "v")
    shape = signalement.geom or signalement.location.buffer(1)
    table = Signalement._meta.db_table
    open_here = (
        f"SELECT n.id FROM {table} n WHERE n.vintage_id = %s AND n.status = ANY(%s) AND n.id <> %s"
    )
    near = [signalement.vintage_id, list(OPEN), signalement.pk]
    same = f"""{open_here} AND ST_Intersects(n.location, ST_GeomFromEWKB(%s))
        AND n.code_cs_proposed = %s AND n.code_us_proposed = %s"""
    params = [*near, bytes(shape.ewkb), signalement.code_cs_proposed, signalement.code_us_proposed]
    if signalement.polygon_id:
        same = f"{same} UNION {open_here} AND n.polygon_id = %s"
        params += [*near, signalement.polygon_id]
    sql = f"""SELECT s.id FROM {table} s JOIN {Vintage._meta.db_table} v ON v.id = s.vintage_id
        WHERE s.id IN ({same}) AND {visible} ORDER BY s.id"""
    with connection.cursor() as cur:
        cur.execute(sql, [*params, *visible_params])
        return [row[0] for row in cur.fetchall()]
