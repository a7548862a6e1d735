"""Invitations: who may invite whom, and the invitation itself (account, membership, mail)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from apps.campaigns import mail
from apps.territories.models import Membership, Role
from apps.territories.permissions import (
    grantable_roles,
    is_platform_admin,
)

from .models import Invitation, MembershipEvent


class InvitationRefused(Exception):
    pass


def set_password_path(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


@transaction.atomic
def invite(inviter, *, email: str, first_name: str, last_name: str, organisation, role: str):
    """Create (or find) the account, add the membership and queue the invitation mail."""
    roles = grantable_roles(inviter, organisation)
    if not roles:
        raise InvitationRefused(_("Vous ne pouvez pas inviter dans cette organisation."))
    if role not in roles:
        raise InvitationRefused(_("Ce rôle ne convient pas à cette organisation."))
    User = get_user_model()
    email = User.objects.normalize_email(email.strip())
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    new_account = user is None
    if new_account:
        username = email.lower()
        if User.objects.filter(username__iexact=username).exists():
            raise InvitationRefused(_("Un compte porte déjà cet identifiant."))
        user = User(username=username, email=email, first_name=first_name, last_name=last_name)
        user.set_unusable_password()
        user.save()
    membership = Membership.objects.filter(user=user, organisation=organisation).first()
    if membership is not None:
        # An invitation adds; it never changes an existing member's role (that is an
        # explicit, audited action on the members page, under the same rules).
        if membership.role == role:
            raise InvitationRefused(_("Cette personne a déjà ce rôle dans cette organisation."))
        message = _(
            "Cette personne est déjà membre de %(org)s (%(role)s) : changez son rôle depuis "
            "la page des membres."
        )
        raise InvitationRefused(
            message % {"org": organisation.name, "role": membership.get_role_display()}
        )
    Membership.objects.create(user=user, organisation=organisation, role=role)
    MembershipEvent.objects.create(
        actor=inviter,
        user=user,
        organisation=organisation,
        action=MembershipEvent.Action.ADDED,
        to_role=role,
    )
    invitation = Invitation.objects.create(
        email=email, user=user, organisation=organisation, role=role, invited_by=inviter
    )
    needs_password = not user.has_usable_password()
    mail.enqueue(
        f"account-invitation:{invitation.pk}",
        "account_invitation",
        user,
        "account_invitation",
        {
            "inviter": inviter,
            "organisation": organisation,
            "role_label": Role(role).label,
            "link": set_password_path(user) if needs_password else reverse("login"),
            "needs_password": needs_password,
            "days": 3,
        },
    )
    return invitation, new_account


class MembershipRefused(Exception):
    pass


def _check_manageable(actor, membership, new_role=None) -> None:
    roles = grantable_roles(actor, membership.organisation)
    if not roles:
        raise MembershipRefused(_("Vous ne gérez pas les membres de cette organisation."))
    if membership.user_id == actor.pk and not is_platform_admin(actor):
        raise MembershipRefused(_("Vous ne pouvez pas changer votre propre rôle."))
    if membership.role not in roles:
        raise MembershipRefused(
            _("Le rôle « %(role)s » dépasse ceux que vous pouvez attribuer.")
            % {"role": membership.get_role_display()}
        )
    if new_role is not None and new_role not in roles:
        labels = ", ".join(sorted(str(Role(r).label) for r in roles))
        raise MembershipRefused(
            _("Rôle impossible pour %(org)s : %(roles)s.")
            % {"org": membership.organisation.name, "roles": labels}
        )


def _locked_membership(membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("organisation", "user")
        .filter(pk=membership_id)
        .first()
    )
    if membership is None:
        raise MembershipRefused(_("Appartenance inconnue."))
    return membership


@transaction.atomic
def change_role(actor, membership_id: int, role: str) -> Membership:
    """Change an existing member's role: the explicit, audited action (invitations never
    change a role). Refused unless `actor` may grant both the current and the new role."""
    membership = _locked_membership(membership_id)
    _check_manageable(actor, membership, role)
    if membership.role == role:
        raise MembershipRefused(_("Cette personne a déjà ce rôle dans cette organisation."))
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    MembershipEvent.objects.create(
        actor=actor,
        user=membership.user,
        organisation=membership.organisation,
        action=MembershipEvent.Action.ROLE_CHANGED,
        from_role=previous,
        to_role=role,
    )
    return membership


@transaction.atomic
def remove_member(actor, membership_id: int) -> None:
    """Take someone out of an organisation (audited), under the same rules."""
    membership = _locked_membership(membership_id)
    _check_manageable(actor, membership)
    MembershipEvent.objects.create(
        actor=actor,
        user=membership.user,
        organisation=membership.organisation,
        action=MembershipEvent.Action.REMOVED,
        from_role=membership.role,
    )
    membership.delete()


def within_rate(key: str, limit: int, window_s: int = 3600) -> bool:
    """Counts one event under `key` in the shared cache; False once `limit` events fell in
    the window (which starts at the first). A cache outage counts nothing (always True)."""
    cache.add(key, 0, window_s)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr, or the cache is unreachable
        cache.add(key, 1, window_s)
        count = 1
    return count <= limit
