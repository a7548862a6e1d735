"""Invitations: who may invite whom, and the invitation itself (account, membership, mail)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from apps.campaigns import mail
from apps.territories.models import (
    Membership,
    Organisation,
    Role,
    departements_for,
    is_platform_admin,
)

from .models import Invitation

# Which roles fit which kind of organisation (DESIGN §3).
ROLES_BY_KIND = {
    Organisation.Kind.IGN: {Role.OPERATOR, Role.MANAGER},
    Organisation.Kind.DDT: {Role.REVIEWER, Role.CONTRIBUTOR},
    Organisation.Kind.DREAL: {Role.REVIEWER, Role.CONTRIBUTOR},
    Organisation.Kind.COLLECTIVITE: {Role.CONTRIBUTOR},
    Organisation.Kind.EPCI: {Role.CONTRIBUTOR},
    Organisation.Kind.AGENCE: {Role.CONTRIBUTOR},
}


def invitable_organisations(user):
    """Platform admins invite into any organisation; IGN production leads (managers) into
    the organisations whose territory meets one of their départements."""
    if not user.is_authenticated:
        return Organisation.objects.none()
    if is_platform_admin(user):
        return Organisation.objects.all()
    managed = departements_for(user, roles=[Role.MANAGER])
    return Organisation.objects.filter(
        Q(departements__in=managed)
        | Q(communes__departement__in=managed)
        | Q(regions__departements__in=managed)
    ).distinct()


def can_invite(user) -> bool:
    return invitable_organisations(user).exists()


def invitable_roles(user, organisation) -> set[str]:
    roles = set(ROLES_BY_KIND.get(organisation.kind, {Role.CONTRIBUTOR}))
    if is_platform_admin(user):
        roles.add(Role.ADMIN)
    else:
        roles.discard(Role.MANAGER)  # production leads are named by admins
    return roles


class InvitationRefused(Exception):
    pass


def set_password_path(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


@transaction.atomic
def invite(inviter, *, email: str, first_name: str, last_name: str, organisation, role: str):
    """Create (or find) the account, add the membership and queue the invitation mail."""
    if organisation not in invitable_organisations(inviter):
        raise InvitationRefused(_("Vous ne pouvez pas inviter dans cette organisation."))
    if role not in invitable_roles(inviter, organisation):
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
    if membership is not None and membership.role == role:
        raise InvitationRefused(_("Cette personne a déjà ce rôle dans cette organisation."))
    if membership is None:
        Membership.objects.create(user=user, organisation=organisation, role=role)
    else:
        membership.role = role
        membership.save(update_fields=["role"])
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
