"""Platform admins hold every model permission (the Django admin is theirs alone)."""

from django.contrib.auth.backends import BaseBackend

from apps.territories.permissions import is_platform_admin


class PlatformAdminBackend(BaseBackend):
    """Grants every permission to platform admins (superusers and members with the admin
    role); grants nothing to anyone else, and authenticates nobody."""

    def _is_admin(self, user) -> bool:
        if not user.is_active:
            return False
        if not hasattr(user, "_platform_admin"):
            user._platform_admin = is_platform_admin(user)
        return user._platform_admin

    def has_perm(self, user_obj, perm, obj=None):
        return self._is_admin(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return self._is_admin(user_obj)
