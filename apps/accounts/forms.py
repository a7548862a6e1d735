from django import forms
from django.utils.translation import gettext_lazy as _

from apps.territories import permissions
from apps.territories.models import Role


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Adresse électronique"), max_length=254)
    first_name = forms.CharField(label=_("Prénom"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Nom"), max_length=150, required=False)
    organisation = forms.ModelChoiceField(label=_("Organisation"), queryset=None)
    role = forms.ChoiceField(label=_("Rôle"), choices=Role.choices)

    def __init__(self, *args, inviter, **kwargs):
        super().__init__(*args, **kwargs)
        self.inviter = inviter
        self.fields["organisation"].queryset = permissions.manageable_organisations(
            inviter
        ).order_by("name")

    def clean(self):
        data = super().clean()
        organisation, role = data.get("organisation"), data.get("role")
        if organisation is not None and role:
            allowed = permissions.grantable_roles(self.inviter, organisation)
            if role not in allowed:
                labels = ", ".join(sorted(str(Role(r).label) for r in allowed))
                self.add_error(
                    "role",
                    _("Rôle impossible pour %(org)s : %(roles)s.")
                    % {"org": organisation.name, "roles": labels},
                )
        return data
