from django.conf import settings

from apps.campaigns.notifications import unseen_count
from apps.territories import permissions
from apps.territories.permissions import is_platform_admin


def accounts(request):
    """`can_invite`, `is_platform_admin`, `files_signalements`, `unseen_notifications`
    (lazily: one query each, only where the template asks) and the OIDC button."""
    user = getattr(request, "user", None)
    return {
        "can_invite": (
            lambda: bool(user and user.is_authenticated and permissions.can_invite(user))
        ),
        "is_platform_admin": (lambda: bool(user and is_platform_admin(user))),
        # « Mes signalements » and the count of what happened to them since the last visit.
        "files_signalements": (
            lambda: bool(user and user.is_authenticated and permissions.files_anywhere(user))
        ),
        "unseen_notifications": (
            lambda: unseen_count(user) if user and user.is_authenticated else 0
        ),
        "oidc_enabled": getattr(settings, "OIDC_ENABLED", False),
        "oidc_provider_name": getattr(settings, "OIDC_PROVIDER_NAME", ""),
    }
