from django.urls import path

from . import views

app_name = "signalements"
urlpatterns = [
    path("departements/<str:code>/signalements/", views.queue, name="queue"),
    path(
        "departements/<str:code>/signalements/depot-fichier/",
        views.batch_filing,
        name="batch",
    ),
    path(
        "departements/<str:code>/signalements/depot-fichier/<int:job_id>/",
        views.batch_status,
        name="batch-status",
    ),
    path(
        "departements/<str:code>/signalements/depot-fichier/<int:job_id>/rapport.csv",
        views.batch_report,
        name="batch-report",
    ),
    path("signalements/<int:pk>/", views.detail, name="detail"),
    path(
        "signalements/<int:pk>/pieces/<int:attachment_id>/",
        views.attachment,
        name="attachment",
    ),
]
