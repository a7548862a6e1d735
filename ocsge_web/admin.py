"""The Django admin: for platform admins only.

Platform admins (superusers, and members holding the admin role) hold every model
permission there (`apps.accounts.backends.PlatformAdminBackend`); nobody else opens it,
whatever `is_staff` or model permissions an account carries. What a production lead needs
(the members of their organisations, the state of their départements' vintages) is in the
application's own pages, scoped by territory (`/comptes/membres/`, the calendar page).
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class PlatformAdminSite(admin.AdminSite):
    site_header = "OCS GE — administration de la plateforme"

    def has_permission(self, request):
        from apps.territories.permissions import is_platform_admin  # loaded after the apps

        user = request.user
        return user.is_active and is_platform_admin(user)


class PlatformAdminConfig(AdminConfig):
    default_site = "ocsge_web.admin.PlatformAdminSite"
