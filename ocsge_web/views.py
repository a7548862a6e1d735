"""The site's own error pages."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.views import defaults

# Where an anonymous visitor's 404 is a 404 (data and machine clients), not a login.
NOT_PAGES = ("/api/", "/tiles/", "/ogc/", "/static/", "/media/", "/admin/", "/oidc/", "/donnees/")


def page_not_found(request, exception):
    """A page answers 404 to whoever may not see it (as if it did not exist). Someone not
    logged in — following a mail's link, a colleague's bookmark — is sent to the login page
    and brought back, instead of being told the page does not exist."""
    anonymous = not getattr(request, "user", None) or not request.user.is_authenticated
    if anonymous and request.method in ("GET", "HEAD") and not request.path.startswith(NOT_PAGES):
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    return defaults.page_not_found(request, exception, template_name="404.html")


def permission_denied(request, exception):
    """403 as a page of the site, saying what to do."""
    return defaults.permission_denied(request, exception, template_name="403.html")
