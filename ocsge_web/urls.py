from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("apps.accounts.urls")),  # first: its rate-limited password reset
    path("comptes/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("ocsge_web.api_urls")),
    path("tiles/", include("apps.landcover.tile_urls")),
    path("ogc/", include("apps.landcover.ogc_urls")),  # OGC API – Features
    path("", include("apps.signalements.urls")),
    path("", include("apps.landcover.urls")),
    path("", include("apps.artif.urls")),
    path("", include("apps.campaigns.urls")),
    path("", include("apps.inference.urls")),
]
if settings.OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))

handler404 = "ocsge_web.views.page_not_found"
handler403 = "ocsge_web.views.permission_denied"
