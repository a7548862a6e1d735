"""Who may do what, and where: the one module that answers it (DESIGN §3).

Every right is a role held, through an organisation, over a territory. `RULES` says which
roles grant each action; `departements_where(user, action)` the départements where the user
may do it, `may(user, action, departement)` whether they may do it there. Platform admins
(superusers, or members holding the admin role) act everywhere, but only where the rule
names the admin role (deciding a signalement is the operators' alone).

The apps build their querysets on these (`landcover.scoping`, `signalements.access`) and
ask nothing else: no view, service or template checks a role by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from apps.ops.rows import Reader, select_list

from .models import Commune, Departement, Membership, Organisation, Role


class Right(StrEnum):
    SEE = "see"  # the département's vintages, maps, figures
    SEE_ALL_SIGNALEMENTS = "see_all_signalements"  # not only one's organisations' own
    FILE = "file"  # file a signalement (also needs the place in one's territory)
    DECIDE = "decide"  # take, accept, reject… a signalement
    RUN_INFERENCE = "run_inference"
    FINETUNE = "finetune"  # fine-tune the model on the département's corrections
    MANAGE_CALENDAR = "manage_calendar"  # plans, loops, vintage states, mails
    READ_QUALITY = "read_quality"  # the quality report
    MANAGE_MEMBERS = "manage_members"  # invite, change roles, remove (admins: everyone)


# Right -> the roles that grant it; None: any role.
RULES: dict[Right, tuple[str, ...] | None] = {
    Right.SEE: None,
    Right.SEE_ALL_SIGNALEMENTS: (Role.OPERATOR, Role.MANAGER, Role.REVIEWER, Role.ADMIN),
    Right.FILE: (Role.CONTRIBUTOR,),
    Right.DECIDE: (Role.OPERATOR, Role.MANAGER),
    Right.RUN_INFERENCE: (Role.OPERATOR, Role.MANAGER, Role.ADMIN),
    Right.FINETUNE: (Role.MANAGER, Role.ADMIN),
    Right.MANAGE_CALENDAR: (Role.MANAGER, Role.ADMIN),
    Right.READ_QUALITY: (Role.OPERATOR, Role.MANAGER, Role.REVIEWER, Role.ADMIN),
    Right.MANAGE_MEMBERS: (Role.MANAGER, Role.ADMIN),
}

# Which roles fit which kind of organisation (DESIGN §3).
ROLES_BY_KIND = {
    Organisation.Kind.IGN: {Role.OPERATOR, Role.MANAGER},
    Organisation.Kind.DDT: {Role.REVIEWER, Role.CONTRIBUTOR},
    Organisation.Kind.DREAL: {Role.REVIEWER, Role.CONTRIBUTOR},
    Organisation.Kind.COLLECTIVITE: {Role.CONTRIBUTOR},
    Organisation.Kind.EPCI: {Role.CONTRIBUTOR},
    Organisation.Kind.AGENCE: {Role.CONTRIBUTOR},
}

# A filing may overrun its organisation's territory by strips thinner than twice this.
TERRITORY_TOLERANCE_M = 3.0


def is_platform_admin(user) -> bool:
    """Superusers and members holding the admin role (DESIGN §3: users, organisations).
    Asked several times a request (scopes, pages): kept on the user object, which a request
    loads afresh (a membership changed is seen at the next request)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    known = getattr(user, "_platform_admin", None)
    if known is None:
        known = user.memberships.filter(role=Role.ADMIN).exists()
        user._platform_admin = known
    return known


def rights_sql(user_id: str) -> str:
    """SQL of an array of 'role:departement_id' texts: each role the user whose id is the
    SQL `user_id` holds, with each département its organisation's territory (départements,
    régions, communes) touches. Users are loaded with it (`accounts.backends`), then
    `remember_rights(user, value)`."""
    member = Membership._meta.db_table
    through = {
        name: getattr(Organisation, name).through._meta.db_table
        for name in ("departements", "regions", "communes")
    }
    return f"""ARRAY(
        SELECT m.role || ':' || t.departement_id FROM {member} m
        JOIN {through["departements"]} t ON t.organisation_id = m.organisation_id
        WHERE m.user_id = {user_id}
        UNION
        SELECT m.role || ':' || d.id FROM {member} m
        JOIN {through["regions"]} t ON t.organisation_id = m.organisation_id
        JOIN {Departement._meta.db_table} d ON d.region_id = t.region_id
        WHERE m.user_id = {user_id}
        UNION
        SELECT m.role || ':' || c.departement_id FROM {member} m
        JOIN {through["communes"]} t ON t.organisation_id = m.organisation_id
        JOIN {Commune._meta.db_table} c ON c.id = t.commune_id
        WHERE m.user_id = {user_id})"""


def remember_rights(user, pairs: list[str]) -> None:
    """Keep on `user` the rights `rights_sql` gave ('role:departement_id' texts)."""
    found: dict[str, set[int]] = {}
    for pair in pairs:
        role, departement_id = pair.rsplit(":", 1)
        found.setdefault(role, set()).add(int(departement_id))
    user._departements_by_role = {role: frozenset(ids) for role, ids in found.items()}


def _departements_by_role(user) -> dict[str, frozenset[int]]:
    """Each role `user` holds -> the départements where it applies. Read once (with the
    session's user, `accounts.backends`, or here in one statement) and kept on the user
    object, which a request loads afresh (a membership changed is seen at the next
    request): the scopes a request builds are then plain lists of ids, not the same joins
    compiled and run again in each of its queries."""
    known = getattr(user, "_departements_by_role", None)
    if known is None:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(f"SELECT {rights_sql('%s')}", [user.pk] * 3)
            remember_rights(user, cur.fetchone()[0])
    return user._departements_by_role


def _departement_ids(user, action: Right) -> set[int] | None:
    """The ids of the départements where `user` may do `action`; None: all of them."""
    if not user.is_authenticated:
        return set()
    roles = RULES[Right(action)]
    if user.is_superuser or ((roles is None or Role.ADMIN in roles) and is_platform_admin(user)):
        return None
    return {
        pk
        for role, pks in _departements_by_role(user).items()
        if roles is None or role in roles
        for pk in pks
    }


def departement_ids(user, action: Right = Right.SEE) -> list[int] | None:
    """The ids of the départements where `user` may do `action`, sorted; None: all of them
    (for hand-written statements; querysets use `departements_where`)."""
    ids = _departement_ids(user, action)
    return None if ids is None else sorted(ids)


def departements_where(user, action: Right = Right.SEE):
    """The départements where `user` may do `action`: those their organisations' territory
    (communes, départements, régions) touches, through a membership of a role granting it."""
    ids = _departement_ids(user, action)
    if ids is None:
        return Departement.objects.all()
    return Departement.objects.filter(pk__in=sorted(ids))


def may(user, action: Right, departement) -> bool:
    """Whether `user` may do `action` in the département (an instance or its id): from the
    rights read with the user, without a query but for platform admins."""
    pk = getattr(departement, "pk", departement)
    ids = _departement_ids(user, action)
    if ids is None:
        return Departement.objects.filter(pk=pk).exists()
    return pk in ids


def files_anywhere(user) -> bool:
    """Whether `user` contributes somewhere (the map offers filing; where is checked on
    each filing by `contributing_organisation`)."""
    return user.is_authenticated and user.memberships.filter(role__in=RULES[Right.FILE]).exists()


def organisations_sql(user_id: str) -> str:
    """SQL of the sorted array of the ids of the organisations the user whose id is the SQL
    `user_id` belongs to (read with the user: `accounts.backends`)."""
    member = Membership._meta.db_table
    return (
        f"ARRAY(SELECT DISTINCT organisation_id FROM {member} WHERE user_id = {user_id} ORDER BY 1)"
    )


def organisation_ids(user) -> list[int]:
    """The ids of `user`'s organisations, sorted: read with the session's user, or here."""
    known = getattr(user, "_organisation_ids", None)
    if known is None:
        if not user.is_authenticated:
            return []
        with connection.cursor() as cur:
            cur.execute(f"SELECT {organisations_sql('%s')}", [user.pk])
            known = user._organisation_ids = list(cur.fetchone()[0])
    return known


def signalement_scope(user, departement_id: int) -> list[int] | None:
    """Whose signalements of the département `user` sees: None for all of them (its staff,
    platform admins), else the ids of their organisations (none when anonymous). Asked of
    every map tile: answered from what was read with the user, with no statement."""
    if not user.is_authenticated:
        return []
    staff = _departement_ids(user, Right.SEE_ALL_SIGNALEMENTS)
    if staff is None or departement_id in staff:
        return None
    return organisation_ids(user)


# --- filing: the place must lie in the contributor's territory ---------------------------


@dataclass(frozen=True)
class Stored:
    """A geometry the database reads itself, never sent to Python: the one column of the
    one row `sql` selects (a polygon's outline is up to 255,000 vertices)."""

    sql: str
    params: tuple = ()


def contributing_organisation(user, location, departement, within=None) -> Organisation | None:
    """The user's contributing organisation whose territory in `departement` holds
    `location` — and, when `within` is given (what the filing would change: the drawn shape,
    or the whole polygon as a `Stored` geometry), holds all of it, but for strips thinner
    than 2 × TERRITORY_TOLERANCE_M along the edge. Only the département's own geometries
    are compared (they share its CRS; another département's may be in another).

    One statement (written as SQL: its ORM form took 12 ms of a filing to build, for 4 ms of
    running): the candidate organisations, one EXISTS per kind of territory (each on a GiST
    index, not one OR over joined geometries: that joined every commune of the département,
    120 ms a filing), each with whether it holds `within` — at once when its territory is
    the whole département or its région (a 255,000-vertex road network took seconds to
    compare with the département's outline), else compared with its communes that meet
    `within`."""
    if not user.is_authenticated:
        return None
    names, columns = select_list(Organisation, "o")
    holds, holds_params = "true", []
    if within is not None:
        holds, holds_params = _holds_within_communes(within, departement.pk)
        holds = f"""CASE WHEN EXISTS (
            SELECT 1 FROM {_DEPARTEMENT} d WHERE d.id = %s AND (
              EXISTS (SELECT 1 FROM {_ORG_DEPARTEMENTS} t
                      WHERE t.organisation_id = o.id AND t.departement_id = d.id)
              OR EXISTS (SELECT 1 FROM {_ORG_REGIONS} t
                         WHERE t.organisation_id = o.id AND t.region_id = d.region_id)))
          THEN true ELSE ({holds}) END"""
        holds_params = [departement.pk, *holds_params]
    point = "ST_GeomFromEWKB(%s)"
    sql = f"""
        SELECT {columns}, {holds} FROM {_ORGANISATION} o
        WHERE o.id IN (SELECT m.organisation_id FROM {_MEMBERSHIP} m
                       WHERE m.user_id = %s AND m.role = ANY(%s))
          AND (EXISTS (SELECT 1 FROM {_ORG_COMMUNES} t JOIN {_COMMUNE} c ON c.id = t.commune_id
                       WHERE t.organisation_id = o.id AND c.departement_id = %s
                         AND ST_Intersects(c.geom, {point}))
               OR EXISTS (SELECT 1 FROM {_ORG_DEPARTEMENTS} t
                          JOIN {_DEPARTEMENT} d ON d.id = t.departement_id
                          WHERE t.organisation_id = o.id AND d.id = %s
                            AND ST_Intersects(d.geom, {point}))
               OR EXISTS (SELECT 1 FROM {_ORG_DEPARTEMENTS} t
                          JOIN {_COMMUNE} c ON c.departement_id = t.departement_id
                          WHERE t.organisation_id = o.id AND c.departement_id = %s
                            AND ST_Intersects(c.geom, {point}))
               OR EXISTS (SELECT 1 FROM {_ORG_REGIONS} t
                          JOIN {_DEPARTEMENT} d ON d.region_id = t.region_id
                          WHERE t.organisation_id = o.id AND d.id = %s
                            AND ST_Intersects(d.geom, {point})))
        ORDER BY o.id
    """
    at = bytes(location.ewkb)
    d = departement.pk
    params = [*holds_params, user.pk, list(RULES[Right.FILE]), d, at, d, at, d, at, d, at]
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for row in cur.fetchall():
            if row[-1]:
                return Reader(row).take(Organisation, names)
    return None


_ORGANISATION = Organisation._meta.db_table
_MEMBERSHIP = Membership._meta.db_table
_COMMUNE = Commune._meta.db_table
_DEPARTEMENT = Departement._meta.db_table
_ORG_COMMUNES = Organisation.communes.through._meta.db_table
_ORG_DEPARTEMENTS = Organisation.departements.through._meta.db_table
_ORG_REGIONS = Organisation.regions.through._meta.db_table


def _holds_within_communes(geom, departement_id: int) -> tuple[str, list]:
    """SQL (and its parameters) of whether the communes of the organisation `o` (the outer
    row) in the département hold `geom` (a GEOS geometry of the département's CRS, or
    `Stored`) up to the tolerance: on the communes meeting it only."""
    if isinstance(geom, Stored):
        shape, shape_params = f"({geom.sql})", list(geom.params)
    else:
        shape, shape_params = "ST_GeomFromEWKB(%s)", [bytes(geom.ewkb)]
    sql = f"""
        SELECT ST_IsEmpty(ST_Buffer(ST_Difference(s.g, coalesce(
            (SELECT ST_Union(c.geom) FROM {_COMMUNE} c
             WHERE c.departement_id = %s AND c.geom && s.g
               AND c.id IN (SELECT commune_id FROM {_ORG_COMMUNES} WHERE organisation_id = o.id)),
            ST_SetSRID('POLYGON EMPTY'::geometry, ST_SRID(s.g)))), -%s))
        FROM (SELECT {shape} AS g) s
    """
    return sql, [departement_id, TERRITORY_TOLERANCE_M, *shape_params]


def manageable_organisations(user):
    """The organisations whose members `user` may invite and manage.

    Platform admins: every organisation. IGN production leads (managers): the organisations
    whose whole territory lies in départements they manage (a DREAL whose région reaches
    beyond them, or an IGN team of other départements too, is left to platform admins:
    naming someone there would grant rights outside the lead's départements). Nobody else.
    """
    if not user.is_authenticated:
        return Organisation.objects.none()
    if is_platform_admin(user):
        return Organisation.objects.all()
    managed = departements_where(user, Right.MANAGE_MEMBERS).values("pk")
    territory = Departement.objects.filter(
        Q(organisations=OuterRef("pk"))
        | Q(communes__organisations=OuterRef("pk"))
        | Q(region__organisations=OuterRef("pk"))
    )
    return Organisation.objects.filter(Exists(territory.filter(pk__in=managed))).exclude(
        Exists(territory.exclude(pk__in=managed))
    )


def can_invite(user) -> bool:
    return manageable_organisations(user).exists()


def grantable_roles(user, organisation) -> set[str]:
    """The roles `user` may give (or take away) in `organisation`: those fitting its kind,
    never above the granter's own. Platform admins grant any of them, and the admin role;
    production leads grant contributor, reviewer and operator roles only (leads are named by
    platform admins); nobody else grants anything."""
    if not manageable_organisations(user).filter(pk=organisation.pk).exists():
        return set()
    roles = set(ROLES_BY_KIND.get(organisation.kind, {Role.CONTRIBUTOR}))
    if is_platform_admin(user):
        return roles | {Role.ADMIN}
    return roles - {Role.MANAGER, Role.ADMIN}
