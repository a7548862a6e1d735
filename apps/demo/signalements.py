"""The demo's signalements: a few dozen on M2, from three organisations, in every status,
with questions, comments and photos — so that a newcomer's first look at the queue, the
map's markers, the quality report and the dashboard shows them at work.

Everything goes through the services a user's request goes through (filing, decisions,
conversation): the demo is what the platform would hold after a few weeks of a loop.
"""

from __future__ import annotations

from io import BytesIO

from django.contrib.auth import get_user_model
from django.db import connection

from apps.demo.accounts import demo_user
from apps.landcover.models import CoverUsePair, LandCoverPolygon, Vintage
from apps.signalements import conversation, decisions, filing
from apps.signalements.errors import Forbidden, Refused
from apps.signalements.models import RejectionReason, Signalement
from apps.signalements.transitions import Action, Status
from apps.signalements.uploads import Upload
from apps.territories.models import Commune, Departement, Membership, Organisation, Role

# What the demo's contributors propose, first one differing from the polygon's codes.
PROPOSALS = [
    ("CS2.1.1.1", "US1.2"),  # a wood
    ("CS1.1.1.1", "US2"),  # a building, agriculture
    ("CS2.2.1", "US1.1"),  # grassland, farmed
    ("CS1.1.1.2", "US4.1.1"),  # a road
    ("CS1.2.2", "US1.4"),  # water
]

COMMENTS = [
    "Vu sur place le 12 : la parcelle est boisée depuis deux ans.",
    "Le permis de construire a été accordé en 2022 ; le bâtiment est achevé.",
    "La prairie a été retournée au printemps.",
    "Chemin élargi et revêtu lors des travaux de la ZAC.",
    "Plan d'eau de l'ancienne gravière, en eau toute l'année.",
]

# How many signalements end in each status.
ENDINGS = {
    Status.SUBMITTED: 8,
    Status.IN_REVIEW: 5,
    Status.AWAITING_INFO: 4,
    Status.ACCEPTED: 7,
    Status.ALREADY_DONE: 3,
    Status.REJECTED_OUT_OF_SPEC: 3,
    Status.REJECTED_IRRELEVANT: 3,
    Status.WITHDRAWN: 3,
}


def _script() -> list[str]:
    """The endings in turns (one of each status, then again…): with fewer polygons to
    file on than planned, every status is still there."""
    left, out = dict(ENDINGS), []
    while any(left.values()):
        for status in ENDINGS:
            if left[status]:
                out.append(status)
                left[status] -= 1
    return out


# The two organisations the demo adds beside the agency: a commune and an EPCI.
EXTRA_CONTRIBUTORS = [
    ("mairie", "Maël", "Mairie", Organisation.Kind.COLLECTIVITE),
    ("intercommunalite", "Inès", "Intercommunalité", Organisation.Kind.EPCI),
]


def photo(seed: int) -> bytes:
    """A small field photo (a gradient, different for each signalement), as a PNG."""
    from PIL import Image

    image = Image.new("RGB", (96, 64))
    image.putdata(
        [
            ((x * 2 + seed * 37) % 256, (y * 3 + seed * 11) % 256, (x + y + seed) % 256)
            for y in range(64)
            for x in range(96)
        ]
    )
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _targets(vintage: Vintage, commune_ids: list[int], limit: int) -> list[int]:
    """Polygons of 3,000 to 60,000 m² wholly inside one of these communes (their
    organisation's territory), spread over the list (every few ids)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT p.id FROM {LandCoverPolygon._meta.db_table} p
            JOIN {Commune._meta.db_table} c ON c.id = ANY(%s) AND ST_Covers(c.geom, p.geom)
            WHERE p.vintage_id = %s AND p.area BETWEEN 3000 AND 60000
            ORDER BY p.id
            """,
            [commune_ids, vintage.pk],
        )
        ids = [row[0] for row in cur.fetchall()]
    step = max(1, len(ids) // max(limit, 1))
    return ids[::step][:limit]


def _organisations(departement: Departement, password: str):
    """(author, commune ids) of the three contributing organisations: the demo agency
    (every commune), a commune, an EPCI of the next communes."""
    User = get_user_model()
    author = User.objects.get(username="contributeur")
    communes = list(Commune.objects.filter(departement=departement).order_by("code"))
    found = [(author, [c.pk for c in communes])]
    territories = [communes[:1], communes[1:4] or communes[:1]]
    for (username, first, last, kind), territory in zip(
        EXTRA_CONTRIBUTORS, territories, strict=True
    ):
        name = (
            f"Commune de {territory[0].name}"
            if kind == Organisation.Kind.COLLECTIVITE
            else "Communauté de communes de démonstration"
        )
        organisation, _ = Organisation.objects.get_or_create(name=name, defaults={"kind": kind})
        organisation.communes.set(territory)
        user = demo_user(username, first, last, password)
        Membership.objects.update_or_create(
            user=user, organisation=organisation, defaults={"role": Role.CONTRIBUTOR}
        )
        found.append((user, [c.pk for c in territory]))
    return found


def seed(departement: Departement, password: str, log=print) -> int:
    """File and decide the demo's signalements on M2 (its loop must be open); nothing when
    the département already has signalements. Returns the number filed."""
    vintage = Vintage.objects.get(departement=departement, rank=Vintage.Rank.M2)
    if Signalement.objects.filter(vintage__departement=departement).exists():
        return 0
    if not vintage.feedback_open:
        log("M2 feedback loop closed: no demo signalements.")
        return 0
    User = get_user_model()
    operator = User.objects.get(username="operateur")
    reasons = {
        status: RejectionReason.objects.filter(applies_to=status, active=True).first()
        for status in (Status.REJECTED_OUT_OF_SPEC, Status.REJECTED_IRRELEVANT)
    }
    pairs = set(CoverUsePair.objects.values_list("cover_id", "use_id"))
    organisations = _organisations(departement, password)
    script = _script()
    share = -(-len(script) // len(organisations))
    plan = []
    for author, communes in organisations:
        for polygon_id in _targets(vintage, communes, share):
            plan.append((author, polygon_id))
    filed = 0
    for k, (status, (author, polygon_id)) in enumerate(
        zip(script, _interleave(plan), strict=False)  # fewer polygons than planned: fewer
    ):
        polygon = LandCoverPolygon.objects.get(pk=polygon_id)
        proposal = next(
            (p for p in PROPOSALS if p != (polygon.code_cs, polygon.code_us) and p in pairs),
            None,
        )
        if proposal is None:
            continue
        # Every third accepted one is a drawn part of the polygon (it will be split).
        shape = None
        if status == Status.ACCEPTED and k % 3 == 0:
            shape = polygon.geom.point_on_surface.buffer(12, quadsegs=2)
            shape.transform(4326)
        try:
            signalement = _file(
                author,
                filing.Filing(
                    vintage_id=vintage.pk,
                    polygon_id=None if shape is not None else polygon_id,
                    geom=shape.json if shape is not None else None,
                    code_cs_proposed=proposal[0],
                    code_us_proposed=proposal[1],
                    comment=COMMENTS[k % len(COMMENTS)],
                ),
                uploads=[Upload(f"photo_{k}.png", photo(k))] if k % 4 == 0 else [],
            )
        except (Refused, Forbidden) as exc:  # a shape reaching past the territory: skip it
            log(f"  demo signalement {k} not filed: {exc}")
            continue
        filed += 1
        _play(signalement.pk, status, author, operator, reasons, k)
    log(f"{filed} demo signalements filed on M2, in every status.")
    return filed


_file = filing.file_signalement


def _interleave(plan):
    """The three organisations' targets taken in turn (each status gets several authors)."""
    by_author: dict = {}
    for author, polygon_id in plan:
        by_author.setdefault(author.pk, []).append((author, polygon_id))
    columns = list(by_author.values())
    for row in range(max((len(c) for c in columns), default=0)):
        for column in columns:
            if row < len(column):
                yield column[row]


def _play(pk: int, status: str, author, operator, reasons, k: int) -> None:
    """Take the signalement to `status` as its people would."""
    act = decisions.apply_action
    if status == Status.SUBMITTED:
        if k % 2:
            conversation.add_comment(author, pk, "Je peux fournir d'autres photos si besoin.")
        return
    if status == Status.WITHDRAWN:
        act(author, pk, Action.WITHDRAW, message="Erreur de ma part : c'était la parcelle voisine.")
        return
    act(operator, pk, Action.TAKE)
    if status == Status.IN_REVIEW:
        conversation.add_comment(operator, pk, "Vérification sur l'orthophotographie en cours.")
        return
    if status == Status.AWAITING_INFO:
        act(operator, pk, Action.ASK_INFO, message="Pouvez-vous préciser la date des travaux ?")
        return
    if k % 2:
        act(operator, pk, Action.ASK_INFO, message="Une photo de terrain serait utile.")
        act(author, pk, Action.ANSWER, message="Photo jointe au signalement.")
    action = {
        Status.ACCEPTED: Action.ACCEPT,
        Status.ALREADY_DONE: Action.ALREADY_DONE,
        Status.REJECTED_OUT_OF_SPEC: Action.REJECT_OUT_OF_SPEC,
        Status.REJECTED_IRRELEVANT: Action.REJECT_IRRELEVANT,
    }[status]
    reason = reasons.get(status)
    act(operator, pk, action, reason=reason.pk if reason else None)
