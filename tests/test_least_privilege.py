"""Least privilege (issue 17, findings 1–2): the Django admin is the platform admin's alone;
nobody grants a role above their own — through an invitation, the members page or the
admin; an invitation adds a membership and never changes an existing one; a production lead
moves their vintages through their states but never publishes by hand."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from apps.accounts.models import MembershipEvent
from apps.campaigns.models import OutboxMail
from apps.landcover.models import Vintage
from apps.territories import permissions
from apps.territories.models import (
    Departement,
    Membership,
    Organisation,
    Role,
)
from apps.territories.permissions import is_platform_admin

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def old_demo_lead(cast):
    """The old demo's production lead (`operator2`, role manager): `is_staff` with every
    land-cover and territories permission, what `load_demo` used to give."""
    lead = cast["users"]["operator2"]
    lead.is_staff = True
    lead.save()
    lead.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["landcover", "territories"])
    )
    return lead


def login(client, cast, role):
    if cast["users"][role] is not None:
        client.force_login(cast["users"][role])


# --- the Django admin ---------------------------------------------------------------------

ADMIN_OPENS = {
    "anonymous": False,
    "contributor_in": False,
    "reviewer": False,
    "operator": False,
    "operator2": False,  # a production lead, even with is_staff and model permissions
    "platform_admin": True,
    "admin": True,
}


@pytest.mark.parametrize("role", list(ADMIN_OPENS))
def test_the_admin_opens_to_platform_admins_only(client, cast, role):
    login(client, cast, role)
    for url in ["/admin/", "/admin/territories/membership/add/", "/admin/landcover/vintage/"]:
        response = client.get(url)
        if ADMIN_OPENS[role]:
            assert response.status_code == 200, url
        else:
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url


@pytest.mark.parametrize("role", [r for r, opens in ADMIN_OPENS.items() if not opens])
def test_nobody_but_a_platform_admin_grants_a_role_or_publishes_through_the_admin(
    client, cast, role
):
    """The attack found: a production lead added themselves as admin, then published a
    draft vintage of another département. Every refusal is proven by the state left."""
    login(client, cast, role)
    me = cast["users"][role] or cast["users"]["operator2"]
    memberships = set(Membership.objects.values_list("user", "organisation", "role"))
    client.post(
        "/admin/territories/membership/add/",
        {"user": me.pk, "organisation": cast["orgs"]["platform"].pk, "role": "admin"},
    )
    other = Vintage.objects.create(
        departement=cast["orgs"]["ign_out"].departements.get(),
        rank="M1",
        millesime=2024,
        source="import",
    )
    client.post(
        f"/admin/landcover/vintage/{other.pk}/change/",
        {
            "departement": other.departement_id,
            "rank": "M1",
            "millesime": 2024,
            "state": "published",
            "source": "import",
        },
    )
    assert set(Membership.objects.values_list("user", "organisation", "role")) == memberships
    assert not is_platform_admin(get_user_model().objects.get(pk=me.pk))
    other.refresh_from_db()
    assert other.state == Vintage.State.DRAFT
    assert not Client().get("/api/vintages/").json()["results"]  # nothing published


def test_a_platform_admin_grants_any_role_through_the_admin(client, cast):
    login(client, cast, "platform_admin")
    user = cast["users"]["contributor_out"]
    response = client.post(
        "/admin/territories/membership/add/",
        {"user": user.pk, "organisation": cast["orgs"]["platform"].pk, "role": "admin"},
    )
    assert response.status_code == 302
    assert is_platform_admin(user)


# --- granting role × granted role ---------------------------------------------------------

# The organisation each granted role is tried in (a kind it fits).
GRANTED_IN = {
    Role.CONTRIBUTOR: "agence",
    Role.REVIEWER: "ddt",
    Role.OPERATOR: "ign",
    Role.MANAGER: "ign",
    Role.ADMIN: "platform",
}
CON, REV, OPE, MAN, ADM = Role.CONTRIBUTOR, Role.REVIEWER, Role.OPERATOR, Role.MANAGER, Role.ADMIN
# granting user -> the roles they may grant (in département 98's organisations).
GRANTS = {
    "contributor_in": set(),
    "reviewer": set(),
    "operator": set(),
    "operator2": {CON, REV, OPE},  # a production lead: never a lead or an admin
    "platform_admin": {CON, REV, OPE, MAN, ADM},
    "admin": {CON, REV, OPE, MAN, ADM},
}
INVITATION_TABLE = [
    pytest.param(granter, granted, granted in allowed, id=f"{granter}-grants-{granted}")
    for granter, allowed in GRANTS.items()
    for granted in (CON, REV, OPE, MAN, ADM)
]


@pytest.mark.parametrize("granter, granted, allowed", INVITATION_TABLE)
def test_an_invitation_grants_no_role_above_the_inviters(client, cast, granter, granted, allowed):
    login(client, cast, granter)
    org = cast["orgs"][GRANTED_IN[granted]]
    client.post(
        "/comptes/inviter/",
        {"email": "nouveau@example.fr", "organisation": org.pk, "role": granted},
    )
    created = Membership.objects.filter(user__email="nouveau@example.fr", organisation=org)
    assert list(created.values_list("role", flat=True)) == ([granted] if allowed else [])
    assert OutboxMail.objects.filter(kind="account_invitation").count() == (1 if allowed else 0)


# (granter, organisation, member's role before, role asked) -> changed?
ROLE_CHANGES = [
    ("operator2", "ddt", REV, CON, True),
    ("operator2", "ddt", CON, REV, True),
    ("operator2", "ign", MAN, OPE, False),  # a fellow lead: above what a lead grants
    ("operator2", "ign", OPE, MAN, False),
    ("operator2", "platform", ADM, CON, False),  # not one of the lead's organisations
    ("operator2", "agence_out", CON, CON, False),  # another département's organisation
    ("operator", "ddt", REV, CON, False),
    ("reviewer", "ddt", CON, REV, False),
    ("contributor_in", "agence", CON, CON, False),
    ("platform_admin", "ign", OPE, MAN, True),
    ("admin", "ign", OPE, MAN, True),
]


@pytest.mark.parametrize(
    "granter, org, before, asked, changed",
    [pytest.param(*row, id=f"{row[0]}-{row[2]}-to-{row[3]}-in-{row[1]}") for row in ROLE_CHANGES],
)
def test_a_role_change_follows_the_same_rule(client, cast, granter, org, before, asked, changed):
    member = get_user_model().objects.create_user("membre", password="pw-1")
    membership = Membership.objects.create(user=member, organisation=cast["orgs"][org], role=before)
    login(client, cast, granter)
    client.post(f"/comptes/membres/{membership.pk}/role/", {"role": asked})
    membership.refresh_from_db()
    assert membership.role == (asked if changed else before)
    events = MembershipEvent.objects.filter(user=member, action="role_changed")
    assert list(events.values_list("from_role", "to_role")) == (
        [(before, asked)] if changed else []
    )


def test_nobody_changes_their_own_role_or_removes_a_fellow_lead(client, cast):
    lead = cast["users"]["operator2"]
    own = Membership.objects.get(user=lead)
    fellow = get_user_model().objects.create_user("lead2", password="pw-1")
    fellow_membership = Membership.objects.create(
        user=fellow, organisation=cast["orgs"]["ign"], role=MAN
    )
    login(client, cast, "operator2")
    client.post(f"/comptes/membres/{own.pk}/role/", {"role": OPE})
    client.post(f"/comptes/membres/{fellow_membership.pk}/retirer/")
    assert Membership.objects.get(pk=own.pk).role == MAN
    assert Membership.objects.filter(pk=fellow_membership.pk, role=MAN).exists()
    assert not MembershipEvent.objects.exists()


def test_a_lead_removes_a_member_and_the_removal_is_recorded(client, cast):
    reviewer = cast["users"]["reviewer"]
    membership = Membership.objects.get(user=reviewer)
    login(client, cast, "operator2")
    page = client.get("/comptes/membres/").content.decode()
    assert "reviewer" in page and "DDT 98" in page and "Agence 97" not in page
    client.post(f"/comptes/membres/{membership.pk}/retirer/")
    assert not Membership.objects.filter(pk=membership.pk).exists()
    event = MembershipEvent.objects.get()
    assert (event.actor, event.user, event.action, event.from_role) == (
        cast["users"]["operator2"],
        reviewer,
        "removed",
        REV,
    )
    assert "retrait" in client.get("/comptes/membres/").content.decode()


@pytest.mark.parametrize("role", ["contributor_in", "reviewer", "operator", "anonymous"])
def test_the_members_page_is_refused_to_those_who_manage_nobody(client, cast, role):
    login(client, cast, role)
    response = client.get("/comptes/membres/")
    assert response.status_code == (302 if role == "anonymous" else 403)


def test_a_lead_manages_only_organisations_wholly_inside_their_departements(cast):
    """A DREAL whose région reaches another département is left to platform admins: naming
    a reviewer there would give them that other département too."""
    from apps.territories.models import Region

    region = Region.objects.create(code="98", name="Région test")
    Departement.objects.filter(code__in=["97", "98"]).update(region=region)
    dreal = Organisation.objects.create(name="DREAL", kind="dreal")
    dreal.regions.add(region)
    lead = cast["users"]["operator2"]
    names = set(permissions.manageable_organisations(lead).values_list("name", flat=True))
    assert names == {"Agence 98", "IGN 98", "DDT 98"}
    assert permissions.grantable_roles(lead, dreal) == set()
    assert permissions.grantable_roles(cast["users"]["admin"], dreal) == {REV, CON, ADM}


# --- invitations add, they never change a role ------------------------------------------


@pytest.mark.parametrize(
    "member, org, asked",
    [
        ("reviewer", "ddt", Role.CONTRIBUTOR),  # a DDT reviewer re-invited as contributor
        ("operator", "ign", Role.OPERATOR),  # the same role again
    ],
)
def test_an_invitation_never_changes_an_existing_members_role(client, cast, member, org, asked):
    user = cast["users"][member]
    user.email = f"{member}@example.fr"
    user.save()
    before = Membership.objects.get(user=user, organisation=cast["orgs"][org]).role
    login(client, cast, "operator2")
    response = client.post(
        "/comptes/inviter/",
        {"email": user.email, "organisation": cast["orgs"][org].pk, "role": asked},
    )
    assert response.status_code == 200 and "déjà" in response.content.decode()
    assert Membership.objects.get(user=user, organisation=cast["orgs"][org]).role == before
    assert not OutboxMail.objects.filter(kind="account_invitation").exists()
    assert not MembershipEvent.objects.exists()


def test_an_invitation_adds_a_membership_and_records_it(client, cast):
    outsider = cast["users"]["operator_out"]  # an operator of another département
    outsider.email = "ailleurs@ign.fr"
    outsider.save()
    login(client, cast, "operator2")
    client.post(
        "/comptes/inviter/",
        {"email": "ailleurs@ign.fr", "organisation": cast["orgs"]["ign"].pk, "role": OPE},
    )
    assert set(
        Membership.objects.filter(user=outsider).values_list("organisation__name", "role")
    ) == {("IGN 97", OPE), ("IGN 98", OPE)}
    event = MembershipEvent.objects.get()
    assert (event.action, event.to_role, event.actor) == ("added", OPE, cast["users"]["operator2"])


# --- the state of a vintage -----------------------------------------------------------------


def _state(client, world, state):
    code = world["m1"].departement.code
    return client.post(f"/departements/{code}/millesimes/M1/etat/", {"state": state})


def test_a_lead_moves_a_vintage_through_its_states_but_never_publishes_it(client, cast):
    m1 = cast["m1"]
    login(client, cast, "operator2")
    _state(client, cast, "in_review")
    m1.refresh_from_db()
    assert m1.state == "in_review"
    for forbidden in ["published", "nonsense", "draft-ish"]:
        _state(client, cast, forbidden)
        m1.refresh_from_db()
        assert m1.state == "in_review"
    _state(client, cast, "corrected")
    m1.refresh_from_db()
    assert m1.state == "corrected"
    page = client.get(f"/departements/{m1.departement.code}/calendrier/").content.decode()
    assert "Passer « en revue »" in page and "Passer « publié »" not in page


@pytest.mark.parametrize(
    "role, code",
    [
        ("operator", 403),
        ("contributor_in", 403),
        ("reviewer", 403),
        ("operator_out", 404),
        ("anonymous", 404),
    ],
)
def test_only_the_leads_of_the_departement_change_a_vintages_state(client, cast, role, code):
    login(client, cast, role)
    assert _state(client, cast, "in_review").status_code == code
    cast["m1"].refresh_from_db()
    assert cast["m1"].state == "draft"
