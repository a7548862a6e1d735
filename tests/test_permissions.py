"""`territories.permissions`, the one module that says who may do what where: its table,
written out here role by role, in the member's own département (98) and in another (97)."""

import pytest

from apps.territories.permissions import Right, departements_where, files_anywhere, may

pytestmark = pytest.mark.django_db

# right -> the cast members who may exercise it in 98 and in 97
TABLE = {
    Right.SEE: (
        {
            "contributor_in",
            "colleague",
            "operator",
            "operator2",
            "reviewer",
            "platform_admin",
            "admin",
        },
        {"contributor_out", "operator_out", "platform_admin", "admin"},
    ),
    Right.SEE_ALL_SIGNALEMENTS: (
        {"operator", "operator2", "reviewer", "platform_admin", "admin"},
        {"operator_out", "platform_admin", "admin"},
    ),
    Right.FILE: ({"contributor_in", "colleague", "admin"}, {"contributor_out", "admin"}),
    Right.DECIDE: ({"operator", "operator2", "admin"}, {"operator_out", "admin"}),
    Right.RUN_INFERENCE: (
        {"operator", "operator2", "platform_admin", "admin"},
        {"operator_out", "platform_admin", "admin"},
    ),
    Right.FINETUNE: ({"operator2", "platform_admin", "admin"}, {"platform_admin", "admin"}),
    Right.MANAGE_CALENDAR: ({"operator2", "platform_admin", "admin"}, {"platform_admin", "admin"}),
    Right.READ_QUALITY: (
        {"operator", "operator2", "reviewer", "platform_admin", "admin"},
        {"operator_out", "platform_admin", "admin"},
    ),
    Right.MANAGE_MEMBERS: ({"operator2", "platform_admin", "admin"}, {"platform_admin", "admin"}),
}


@pytest.mark.parametrize("right", list(TABLE), ids=[str(r) for r in TABLE])
def test_each_right_is_held_by_the_roles_the_table_names_and_only_there(cast, right):
    here, there = TABLE[right]
    got_here = {n for n, u in cast["users"].items() if u and may(u, right, cast["here"])}
    got_there = {n for n, u in cast["users"].items() if u and may(u, right, cast["other"].pk)}
    assert (got_here, got_there) == (here, there)
    listed = {
        n: sorted(departements_where(u, right).values_list("code", flat=True))
        for n, u in cast["users"].items()
        if u
    }
    assert {n for n, codes in listed.items() if "98" in codes} == here
    assert {n for n, codes in listed.items() if "97" in codes} == there


def test_anonymous_may_do_nothing_anywhere(cast):
    from django.contrib.auth.models import AnonymousUser

    for right in Right:
        assert not may(AnonymousUser(), right, cast["here"])
    assert not files_anywhere(AnonymousUser())


def test_only_contributors_are_offered_filing(cast):
    offered = {n for n, u in cast["users"].items() if u and files_anywhere(u)}
    assert offered == {"contributor_in", "colleague", "contributor_out"}


def test_a_region_s_organisation_acts_in_each_of_its_departements_and_no_other(cast):
    """Territory above the département: a DREAL's région holds 98 and 97, not 96."""
    from django.contrib.auth import get_user_model

    from apps.territories.models import Departement, Membership, Organisation, Region

    region = Region.objects.create(code="90", name="Région d'essai")
    Departement.objects.filter(code__in=["97", "98"]).update(region=region)
    Departement.objects.create(code="96", name="Hors région")
    dreal = Organisation.objects.create(name="DREAL", kind="dreal")
    dreal.regions.add(region)
    user = get_user_model().objects.create_user("dreal")
    Membership.objects.create(user=user, organisation=dreal, role="reviewer")
    codes = sorted(departements_where(user, Right.READ_QUALITY).values_list("code", flat=True))
    assert codes == ["97", "98"]
    assert not may(user, Right.DECIDE, cast["here"])
