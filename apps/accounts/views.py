from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from apps.territories.models import is_platform_admin

from . import services
from .forms import InvitationForm
from .models import Invitation


@login_required
def invite(request):
    """Invite someone into an organisation (platform admins; IGN production leads for the
    organisations of their départements)."""
    if not services.can_invite(request.user):
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
            text = (
                _("Invitation envoyée à %(email)s : le compte est créé, le lien du message "
                  "permet de choisir un mot de passe (3 jours).")
                if new_account
                else _("%(email)s a maintenant ce rôle ; un message l'en informe.")
            )  # fmt: skip
            messages.success(request, text % {"email": invitation.email})
            return redirect("accounts:invite")
    sent = Invitation.objects.select_related("organisation", "user", "invited_by")
    if not is_platform_admin(request.user):
        sent = sent.filter(invited_by=request.user)
    return render(request, "accounts/invite.html", {"form": form, "sent": sent[:50]})
