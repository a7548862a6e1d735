from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken

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


class MembershipEvent(models.Model):
    """Append-only record of each change to who holds which role where: added (by an
    invitation), role changed, removed — by whom and when."""

    class Action(models.TextChoices):
        ADDED = "added", _("ajout")
        ROLE_CHANGED = "role_changed", _("changement de rôle")
        REMOVED = "removed", _("retrait")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership_events"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    from_role = models.CharField(_("rôle avant"), max_length=20, choices=Role.choices, blank=True)
    to_role = models.CharField(_("rôle après"), max_length=20, choices=Role.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("changement d'appartenance")
        verbose_name_plural = _("changements d'appartenance")

    def __str__(self):
        return f"{self.get_action_display()} {self.user} — {self.organisation}"


class ApiToken(AbstractAuthToken):
    """A personal API token (django-rest-knox: only its digest is stored; the token is shown
    once, when created). It carries exactly its owner's rights, expires, and is revoked by
    deleting it. QGIS and scripts send it as `Authorization: Token …`, or as the password of
    HTTP Basic authentication (`apps/accounts/tokens.py`)."""

    name = models.CharField(_("nom"), max_length=100)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("jeton d'API")
        verbose_name_plural = _("jetons d'API")

    def __str__(self):
        return f"{self.name} ({self.user})"


class UserSession(AbstractBaseSession):
    """Django's database session with the id of its logged-in user in a column of its own
    (None until a login, or for sessions kept from before it existed), so that a request
    reads its session and its user in one statement (`accounts.sessions`)."""

    # No foreign-key constraint: a session saved while its user is being deleted must not
    # fail the request; the ORM's cascade still removes a deleted user's sessions.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_session"

    @classmethod
    def get_session_store_class(cls):
        from .sessions import SessionStore

        return SessionStore
