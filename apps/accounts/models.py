from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.territories.models import Organisation, Role


class Invitation(models.Model):
    """Who invited whom into which organisation with which role (an audit trail; the account
    and its membership are created at once, the person sets a password from the mail)."""

    email = models.EmailField(_("adresse"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return f"{self.email} → {self.organisation} ({self.role})"
