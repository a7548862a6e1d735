"""OpenID Connect login (mozilla-django-oidc), for people already invited.

The provider's e-mail claim must match an account's address; with OIDC_CREATE_USER an
unknown verified address gets an account without any membership (it sees nothing until an
admin or an IGN production lead gives it one).
"""

from django.conf import settings
from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class InvitedUsersOIDCBackend(OIDCAuthenticationBackend):
    def filter_users_by_claims(self, claims):
        email = (claims.get("email") or "").strip()
        if not email:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(email__iexact=email, is_active=True)

    def create_user(self, claims):
        if not getattr(settings, "OIDC_CREATE_USER", False):
            return None
        email = claims["email"].strip()
        return self.UserModel.objects.create_user(
            username=email.lower(),
            email=email,
            first_name=claims.get("given_name", ""),
            last_name=claims.get("usual_name") or claims.get("family_name", ""),
        )

    def update_user(self, user, claims):
        return user
