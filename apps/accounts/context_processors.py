from django.conf import settings

from . import services


def accounts(request):
    """`can_invite` (lazily: one query, only where the template asks) and the OIDC button."""
    user = getattr(request, "user", None)
    return {
        "can_invite": (lambda: bool(user and user.is_authenticated and services.can_invite(user))),
        "oidc_enabled": getattr(settings, "OIDC_ENABLED", False),
        "oidc_provider_name": getattr(settings, "OIDC_PROVIDER_NAME", ""),
    }
