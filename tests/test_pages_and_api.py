"""Pages and API of the foundation, for every role (a permission table)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from apps.landcover.models import ImportJob, Vintage
from apps.territories.models import Membership, Role

from .conftest import square_rows, write_gpkg

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(cast):
    """The cast; départements 98 (« Ici ») and 97 (« Ailleurs ») each with an M1."""
    Vintage.objects.create(departement=cast["other"], rank="M1", millesime=2021, source="import")
    return cast["users"]


# role -> (status of /departements/98/, départements listed by the API)
TABLE = {
    "anonymous": (302, []),  # the page: to the login page, and back
    "contributor_in": (200, ["98"]),
    "colleague": (200, ["98"]),
    "contributor_out": (404, ["97"]),
    "operator": (200, ["98"]),
    "operator2": (200, ["98"]),
    "operator_out": (404, ["97"]),
    "reviewer": (200, ["98"]),
    "platform_admin": (200, ["97", "98"]),
    "admin": (200, ["97", "98"]),
}


@pytest.mark.parametrize("role", list(TABLE))
def test_departement_page_and_api_are_scoped_by_territory(client, users, role):
    if users[role]:
        client.force_login(users[role])
    status, visible = TABLE[role]
    assert client.get("/departements/98/").status_code == status
    assert client.get("/").status_code == 200
    api = client.get("/api/departements/").json()
    assert [d["code"] for d in api["results"]] == visible
    vintages = client.get("/api/vintages/").json()["results"]
    assert sorted({v["departement"] for v in vintages}) == visible
    assert client.get("/api/departements/98/").status_code == (200 if "98" in visible else 404)


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_read_only_api_refuses_writes(client, users, method):
    client.force_login(users["admin"])
    assert getattr(client, method)("/api/vintages/").status_code == 405


def test_published_vintages_are_visible_to_everyone(client, users):
    v = Vintage.objects.get(departement__code="97")
    v.state = Vintage.State.PUBLISHED
    v.save()
    assert [d["code"] for d in client.get("/api/departements/").json()["results"]] == ["97"]
    assert client.get("/departements/97/").status_code == 200


def test_home_lists_departements_and_vintages_of_the_user(client, users):
    client.force_login(users["contributor_in"])
    page = client.get("/").content.decode()
    assert "Ici" in page and "Ailleurs" not in page and "M1 2021" in page


def test_openapi_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_english_is_available(client, users):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert client.get("/").status_code == 200


@pytest.mark.django_db(databases=["default", "progress"])
def test_admin_starts_an_import_job_and_shows_its_result(
    client, square_departement, tmp_path, django_capture_on_commit_callbacks
):
    admin = get_user_model().objects.create_superuser("boss", password="pw-123456")
    client.force_login(admin)
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "m1.gpkg", geoms, **cols)
    upload = SimpleUploadedFile("m1.gpkg", path.read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/landcover/importjob/add/",
            {"file": upload, "departement_code": "98", "rank": "M1"},
            follow=True,
        )
    assert response.status_code == 200
    job = ImportJob.objects.get()
    assert job.state == ImportJob.State.DONE, job.message
    assert job.progress == 1.0 and job.vintage.polygon_count == 16
    listing = client.get("/admin/landcover/importjob/").content.decode()
    assert "16 polygones importés" in listing


def test_admin_import_form_refuses_a_file_that_is_not_a_geopackage(client, square_departement):
    admin = get_user_model().objects.create_superuser("boss", password="pw-123456")
    client.force_login(admin)
    response = client.post(
        "/admin/landcover/importjob/add/",
        {
            "file": SimpleUploadedFile("m1.gpkg", b"not a geopackage"),
            "departement_code": "98",
            "rank": "M1",
        },
    )
    assert response.status_code == 200
    assert "GeoPackage" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.django_db(databases=["default", "progress"])
def test_admin_import_job_records_a_refusal(
    client, square_departement, tmp_path, django_capture_on_commit_callbacks
):
    admin = get_user_model().objects.create_superuser("boss", password="pw-123456")
    client.force_login(admin)
    geoms, cols = square_rows(cs="CS0")
    path = write_gpkg(tmp_path / "m1.gpkg", geoms, **cols)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/landcover/importjob/add/",
            {
                "file": SimpleUploadedFile("m1.gpkg", path.read_bytes()),
                "departement_code": "98",
                "rank": "M1",
            },
        )
    job = ImportJob.objects.get()
    assert job.state == ImportJob.State.FAILED and "code CS inconnu" in job.message
    assert not Vintage.objects.exists()


def test_load_demo_is_idempotent_and_creates_one_user_per_role(small_departement, capsys):
    out, _ = small_departement
    call_command("load_demo", dir=out, no_inference=True)
    call_command("load_demo", dir=out, no_inference=True)
    assert Vintage.objects.filter(departement__code="99").count() == 2
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == set(Role.values)
    assert "demo-ocsge-2026" in capsys.readouterr().out


def test_admin_pages_show_geometries_on_an_offline_leaflet_map(client, small_departement):
    out, _ = small_departement
    call_command("load_territories", str(out / "territoires.gpkg"))
    call_command("import_ocsge", str(out / "ocsge_M1.gpkg"), departement="99", rank="M1")
    admin = get_user_model().objects.create_superuser("boss", password="pw-123456")
    client.force_login(admin)
    from apps.landcover.models import LandCoverPolygon
    from apps.territories.models import Commune

    poly = LandCoverPolygon.objects.first()
    for url in (
        f"/admin/landcover/landcoverpolygon/{poly.pk}/change/",
        f"/admin/territories/commune/{Commune.objects.first().pk}/change/",
        "/admin/landcover/landcoverpolygon/",
        "/admin/landcover/vintage/",
        "/admin/landcover/importjob/add/",
        "/admin/landcover/modelclass/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/landcover/landcoverpolygon/{poly.pk}/change/").content.decode()
    assert "leaflet/leaflet.js" in page and "cdn." not in page


# who -> the links of the département page to pages they may open
COMMON = {
    "/departements/98/carte/",
    "/departements/98/signalements/",
    "/territoires/departement/98/",
    "/departements/98/calendrier/",
}
DEPARTEMENT_LINKS = {
    "contributor_in": COMMON | {"/departements/98/signalements/depot-fichier/"},
    "reviewer": COMMON | {"/departements/98/rapport-qualite/"},
    "operator": COMMON | {"/departements/98/rapport-qualite/", "/departements/98/inference/"},
}


@pytest.mark.parametrize("who", list(DEPARTEMENT_LINKS))
def test_the_departement_page_links_only_to_what_the_user_may_open(client, users, who):
    import re

    client.force_login(users[who])
    page = client.get("/departements/98/").content.decode()
    buttons = set(re.findall(r'<a class="button" href="([^"]+)"', page))
    assert buttons == DEPARTEMENT_LINKS[who]
    for path in buttons:
        assert client.get(path).status_code == 200, path


def test_a_link_opened_logged_out_leads_to_the_login_page_and_back(client, users):
    """A loop mail's « Carte » link, a colleague's bookmark: not a 404."""
    response = client.get("/departements/98/carte/?v=M1")
    assert response.status_code == 302
    assert response["Location"] == "/comptes/login/?next=/departements/98/carte/%3Fv%3DM1"
    users["contributor_in"].set_password("pw-123456")
    users["contributor_in"].save()
    back = client.post(
        "/comptes/login/",
        {
            "username": "contributor_in",
            "password": "pw-123456",
            "next": "/departements/98/carte/?v=M1",
        },
    )
    assert back["Location"] == "/departements/98/carte/?v=M1"
    assert client.get(back["Location"]).status_code == 200
    # Machines keep their 404s; a page nobody has stays a page not found once logged in.
    client.logout()
    assert client.get("/api/departements/98/").status_code == 404
    client.force_login(users["contributor_out"])
    page = client.get("/departements/98/")
    assert page.status_code == 404 and "Page introuvable" in page.content.decode()


def test_a_403_is_a_page_of_the_site_saying_what_to_do(client, users):
    client.force_login(users["contributor_in"])
    page = client.get("/departements/98/rapport-qualite/")
    assert page.status_code == 403
    assert "demandez-le à la personne qui gère les membres" in page.content.decode()


def test_the_demo_comes_with_signalements_in_every_status_from_several_organisations(
    small_departement,
):
    """A newcomer's first look at the queue, the markers, the quality report shows them at
    work: signalements on M2 in each of the 8 statuses, from 3 organisations, with
    questions, comments and photos; corrections applied for the accepted ones; run twice,
    nothing more is filed."""
    from apps.signalements.models import Attachment, Signalement, SignalementComment
    from apps.signalements.transitions import Status

    out, _ = small_departement
    call_command("load_demo", dir=out, no_inference=True)
    filed = Signalement.objects.filter(vintage__departement__code="99")
    assert set(filed.values_list("status", flat=True)) == set(Status.values)
    assert filed.values("organisation").distinct().count() == 3
    assert filed.count() >= 24
    assert SignalementComment.objects.exists() and Attachment.objects.exists()
    accepted = filed.filter(status=Status.ACCEPTED)
    assert all(s.polygon.revision > 1 or s.geom is not None for s in accepted)
    assert filed.filter(status=Status.ACCEPTED, geom__isnull=False).exists()  # a split too
    count = filed.count()
    call_command("load_demo", dir=out, no_inference=True)
    assert Signalement.objects.count() == count
