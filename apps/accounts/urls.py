from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    # Before django.contrib.auth.urls (ocsge_web/urls.py): the same URL name, rate-limited.
    path("comptes/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("comptes/inviter/", views.invite, name="invite"),
    path("comptes/membres/", views.members, name="members"),
    path("comptes/membres/<int:pk>/role/", views.member_role, name="member-role"),
    path("comptes/membres/<int:pk>/retirer/", views.member_remove, name="member-remove"),
    path("comptes/jetons/", views.tokens, name="tokens"),
    path("comptes/jetons/<str:key>/revoquer/", views.token_revoke, name="token-revoke"),
]
