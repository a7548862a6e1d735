"""Personal API tokens (django-rest-knox, model `ApiToken`): how a request presents one, and
the lockout that guards them as it guards passwords.

A token is accepted in two forms (production serves HTTPS only):
- `Authorization: Token ocsge_…` (scripts, QGIS's « API header » authentication);
- HTTP Basic with the username and the token as password (QGIS's « Basic » authentication,
  GDAL's `GDAL_HTTP_USERPWD`).

The user is then the token's owner: every permission of the platform applies as to a
session of theirs, and DRF's per-user throttles count their requests. A wrong token counts
as a failed login for django-axes — for its owner's username when its key names one, for
« jeton inconnu » otherwise, per client address — and a locked-out owner's token is refused
until the cool-off ends, even when right. The DRF endpoints take tokens in both forms
(`TokenAuthentication`, `TokenBasicAuthentication`); the pages GIS clients read outside DRF
(OGC API, vector tiles) through `TokenMiddleware`, for GET and HEAD only (a token never
replaces the CSRF-protected session for the site's forms).
"""

from __future__ import annotations

import base64
import binascii

from axes.handlers.proxy import AxesProxyHandler
from django.http import JsonResponse
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .models import ApiToken

UNKNOWN = "jeton inconnu"
# Paths outside DRF where a token is taken (GIS clients).
GIS_PATHS = ("/ogc/", "/tiles/")


class TokenRefused(Exception):
    """The token is wrong, expired, revoked, not its owner's, or its owner is locked out."""


def _owner(token: str) -> str:
    """The username the token's key names (the lockout's account), or UNKNOWN."""
    key = token[: CONSTANTS.TOKEN_KEY_LENGTH]
    found = ApiToken.objects.filter(token_key=key).select_related("user").first()
    return found.user.get_username() if found else UNKNOWN


def authenticate(request, token: str, username: str | None = None):
    """The (user, ApiToken) of `token`, or TokenRefused — and the failure counted."""
    http = getattr(request, "_request", request)  # axes reads Django's request
    credentials = {"username": username or _owner(token)}
    if AxesProxyHandler.is_locked(http, credentials):
        raise TokenRefused(_("Trop d'échecs : accès bloqué pour un moment."))
    try:
        user, auth_token = KnoxTokenAuthentication().authenticate_credentials(token.encode())
    except (exceptions.AuthenticationFailed, UnicodeError) as exc:
        AxesProxyHandler.user_login_failed(__name__, credentials, http)
        raise TokenRefused(_("Jeton invalide, expiré ou révoqué.")) from exc
    if username is not None and user.get_username() != username:
        AxesProxyHandler.user_login_failed(__name__, credentials, http)
        raise TokenRefused(_("Jeton invalide, expiré ou révoqué."))
    return user, auth_token


def _basic(request) -> tuple[str, str] | None:
    """(username, password) of a Basic Authorization header, or None."""
    auth = get_authorization_header(request).split()
    if len(auth) != 2 or auth[0].lower() != b"basic":
        return None
    try:
        username, _sep, password = base64.b64decode(auth[1]).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return username, password


def _token(request) -> str | None:
    auth = get_authorization_header(request).split()
    if len(auth) == 2 and auth[0].lower() == b"token":
        return auth[1].decode("latin-1")
    return None


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Token ocsge_…` on the API."""

    def authenticate(self, request):
        token = _token(request)
        if token is None:
            return None
        try:
            return authenticate(request, token)
        except TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request):
        return "Token"


class TokenBasicAuthentication(BaseAuthentication):
    """HTTP Basic whose password is a personal token (QGIS's Basic authentication). A
    Basic password that is not a token is left to the other backends."""

    def authenticate(self, request):
        found = _basic(request)
        if found is None or not found[1].startswith(_prefix()):
            return None
        try:
            return authenticate(request, found[1], username=found[0])
        except TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request):
        return 'Basic realm="OCS GE"'


def _prefix() -> str:
    return knox_settings.TOKEN_PREFIX


class TokenMiddleware:
    """The token of a GET/HEAD request to the OGC API or the tiles (outside DRF): its owner
    becomes the request's user; a wrong token is answered 401, never served as anonymous."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD") and request.path.startswith(GIS_PATHS):
            refused = self._authenticate(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _authenticate(self, request):
        token, username = _token(request), None
        if token is None and (found := _basic(request)) is not None:
            username, token = found
            if not token.startswith(_prefix()):
                return None
        if token is None:
            return None
        try:
            request.user, _auth = authenticate(request, token, username=username)
        except TokenRefused as exc:
            response = JsonResponse({"code": "Unauthorized", "description": str(exc)}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="OCS GE"'
            return response
        return None


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI description of `Authorization: Token …` (drf-spectacular)."""

    target_class = "apps.accounts.tokens.TokenAuthentication"
    name = "jetonPersonnel"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "« Token ocsge_… » : un jeton personnel (page « Jetons d'API »).",
        }


class TokenBasicScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.tokens.TokenBasicAuthentication"
    name = "jetonPersonnelBasic"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Identifiant, et le jeton personnel comme mot de passe (QGIS).",
        }
