from django.urls import path

from . import views

app_name = "artif"
urlpatterns = [
    path("territoires/<str:level>/<str:code>/", views.territory_page, name="territory"),
    path(
        "territoires/<str:level>/<str:code>/artificialisation.csv",
        views.territory_csv,
        name="territory-csv",
    ),
    path(
        "territoires/<str:level>/<str:code>/rapport.pdf",
        views.territory_pdf,
        name="territory-pdf",
    ),
]
