import datetime
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.ops.client_ip import client_ip
from apps.territories import permissions
from apps.territories.models import Membership, Role
from apps.territories.permissions import is_platform_admin

from . import services
from .forms import InvitationForm
from .models import ApiToken, Invitation, MembershipEvent

log = logging.getLogger(__name__)


@login_required
def invite(request):
    """Invite someone into an organisation (platform admins; IGN production leads for the
    organisations of their départements)."""
    if not permissions.can_invite(request.user):
        raise PermissionDenied
    form = InvitationForm(request.POST or None, inviter=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation, new_account = services.invite(
                request.user,
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                organisation=data["organisation"],
                role=data["role"],
            )
        except services.InvitationRefused as exc:
            form.add_error(None, str(exc))
        else:
            if new_account:
                text = _(
                    "Invitation envoyée à %(email)s : le compte est créé, le lien du message "
                    "permet de choisir un mot de passe (3 jours)."
                )
            else:
                text = _("%(email)s a maintenant ce rôle ; un message l'en informe.")
            messages.success(request, text % {"email": invitation.email})
            return redirect("accounts:invite")
    sent = Invitation.objects.select_related("organisation", "user", "invited_by")
    if not is_platform_admin(request.user):
        sent = sent.filter(invited_by=request.user)
    return render(request, "accounts/invite.html", {"form": form, "sent": sent[:50]})


@login_required
def members(request):
    """The members of the organisations the user manages: change a role or remove someone
    (audited; never above the user's own rights: `permissions.grantable_roles`)."""
    organisations = permissions.manageable_organisations(request.user)
    if not organisations.exists():
        raise PermissionDenied
    memberships = (
        Membership.objects.filter(organisation__in=organisations)
        .select_related("user", "organisation")
        .order_by("organisation__name", "user__last_name", "user__username")
    )
    if org := request.GET.get("organisation", ""):
        memberships = memberships.filter(organisation__pk=org if org.isdigit() else -1)
    page = Paginator(memberships, 100).get_page(request.GET.get("page"))
    grantable: dict[int, list] = {}
    rows = []
    for membership in page:
        org = membership.organisation
        if org.pk not in grantable:
            roles = permissions.grantable_roles(request.user, org)
            grantable[org.pk] = [(r, Role(r).label) for r in Role.values if r in roles]
        allowed = {r for r, _label in grantable[org.pk]}
        editable = membership.role in allowed and (
            membership.user_id != request.user.pk or is_platform_admin(request.user)
        )
        rows.append({"m": membership, "roles": grantable[org.pk], "editable": editable})
    events = MembershipEvent.objects.filter(organisation__in=organisations).select_related(
        "actor", "user", "organisation"
    )[:50]
    return render(
        request,
        "accounts/members.html",
        {
            "rows": rows,
            "page": page,
            "organisations": organisations.order_by("name"),
            "selected": org,
            "events": events,
        },
    )


@login_required
@require_POST
def member_role(request, pk: int):
    try:
        services.change_role(request.user, pk, request.POST.get("role", ""))
    except services.MembershipRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Rôle changé."))
    return redirect("accounts:members")


@login_required
@require_POST
def member_remove(request, pk: int):
    try:
        services.remove_member(request.user, pk)
    except services.MembershipRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Membre retiré de l'organisation."))
    return redirect("accounts:members")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, rate-limited per address and per client (an hour's window):
    beyond the limits the answer is the same page, and no mail leaves."""

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        over = [
            not services.within_rate(f"pwreset:addr:{email}", settings.PASSWORD_RESET_PER_ADDRESS),
            not services.within_rate(
                f"pwreset:ip:{client_ip(self.request)}", settings.PASSWORD_RESET_PER_CLIENT
            ),
        ]
        if any(over):
            log.warning("password reset over its rate (%s), no mail sent", client_ip(self.request))
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


@login_required
def tokens(request):
    """The user's personal API tokens: create one (shown once), see and revoke them."""
    mine = ApiToken.objects.filter(user=request.user)
    created = None
    if request.method == "POST":
        name = (request.POST.get("name") or "").strip()[:100]
        try:
            days = int(request.POST.get("days", ""))
        except ValueError:
            days = 0
        if not name:
            messages.error(request, _("Donnez un nom au jeton (l'usage : « QGIS bureau »)."))
        elif days not in settings.API_TOKEN_DAYS:
            messages.error(request, _("Durée de validité inconnue."))
        elif mine.count() >= settings.API_TOKENS_PER_USER:
            messages.error(
                request,
                _("Vous avez déjà %(n)d jetons : révoquez-en un d'abord.")
                % {"n": settings.API_TOKENS_PER_USER},
            )
        else:
            _token, created = ApiToken.objects.create(
                user=request.user, expiry=datetime.timedelta(days=days), name=name
            )
            log.info("API token %r created for %s", name, request.user.get_username())
    return render(
        request,
        "accounts/tokens.html",
        {
            "tokens": mine.order_by("-created"),
            "created": created,
            "days": settings.API_TOKEN_DAYS,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def token_revoke(request, key: str):
    """Revoke one of the user's tokens (another's is not found: nothing happens)."""
    deleted, _rows = ApiToken.objects.filter(user=request.user, digest=key).delete()
    if deleted:
        messages.success(request, _("Jeton révoqué : il ne donne plus accès à rien."))
    return redirect("accounts:tokens")
