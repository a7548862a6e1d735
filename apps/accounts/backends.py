"""Authentication backends: Django's password backend, the user loaded with their platform
admin flag; platform admins hold every model permission (the Django admin is theirs alone)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.db.models import Exists, OuterRef

from apps.territories.models import Membership, Role
from apps.territories.permissions import is_platform_admin, remember_rights, rights_annotation


class MemberBackend(ModelBackend):
    """Django's `ModelBackend`; a session's user is read with whether they hold the admin
    role and with their rights (`permissions.rights_annotation`), in the same query (most
    requests ask them: scopes, pages — more queries each)."""

    def get_user(self, user_id):
        admin = Membership.objects.filter(user=OuterRef("pk"), role=Role.ADMIN)
        User = get_user_model()
        user = (
            User._default_manager.annotate(
                _platform_admin=Exists(admin), _rights=rights_annotation(User._meta.db_table)
            )
            .filter(pk=user_id)
            .first()
        )
        if user is None or not self.user_can_authenticate(user):
            return None
        remember_rights(user, user._rights)
        return user


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
