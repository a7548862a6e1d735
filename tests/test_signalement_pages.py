"""Signalements on the pages: the queue, the detail page, the map's tiles and panel."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.landcover.models import LandCoverPolygon
from apps.signalements import decisions, filing, uploads
from apps.signalements.models import Signalement
from apps.signalements.transitions import Action, Status

from .conftest import X0, Y0
from .helpers import file, grass_polygon, login, lonlat, png

pytestmark = pytest.mark.django_db


# --- pages and tiles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, status, toolbar",
    [
        ("anonymous", 302, False),  # to the login page, and back
        ("contributor_out", 404, False),
        ("contributor_in", 200, False),
        ("operator", 200, True),
        ("reviewer", 200, False),
    ],
)
def test_queue_page_shows_decisions_to_operators_only(client, world, role, status, toolbar):
    s = file(world)
    login(client, world, role)
    response = client.get("/departements/98/signalements/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert f'data-id="{s.pk}"' in html
        assert ('id="toolbar"' in html) is toolbar


def test_queue_page_filters_and_sorts(client, world):
    file(world)
    file(
        world, user="colleague", polygon_id=grass_polygon(world, 2, 2).pk, cs="CS1.2.2", us="US6.3"
    )
    login(client, world, "operator")
    html = client.get("/departements/98/signalements/?code_cs_proposed=CS1.2.2").content.decode()
    assert html.count('class="pick"') == 1
    assert "1 signalements" in html or "page 1 / 1 · 1" in html


def test_filing_changes_the_tile_etag_and_the_tile_shows_it(
    client, world, django_capture_on_commit_callbacks
):
    from apps.landcover import tiles

    login(client, world, "operator")
    x, y = tiles.lonlat_to_tile(*lonlat(X0 + 150, Y0 + 150), 16)
    url = f"/tiles/{world['m2'].pk}/16/{x}/{y}.pbf"
    before = client.get(url)["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        s = file(world)
    response = client.get(url)
    assert response["ETag"] != before
    import mapbox_vector_tile

    flagged = mapbox_vector_tile.decode(response.content)["signalements"]["features"]
    assert [(f["id"], f["properties"]) for f in flagged] == [
        (s.polygon_id, {"id": s.polygon_id, "sig_open": 1, "sig_status": "submitted"})
    ]


def test_identify_lists_the_signalements_of_the_polygon(client, world):
    s = file(world)
    login(client, world, "contributor_in")
    lon, lat = lonlat(X0 + 150, Y0 + 150)
    data = client.get(f"/api/vintages/{world['m2'].pk}/polygons/at/?lon={lon}&lat={lat}").json()
    assert [x["id"] for x in data["signalements"]] == [s.pk]
    assert data["feedback_open"] is True
    login(client, world, "contributor_out")
    assert (
        client.get(f"/api/vintages/{world['m2'].pk}/polygons/at/?lon={lon}&lat={lat}").status_code
        == 404
    )


def test_queue_page_uses_a_constant_number_of_queries(client, world):
    login(client, world, "operator")
    file(world)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/departements/98/signalements/").status_code == 200
    for _ in range(5):
        file(world, user="colleague")
    with CaptureQueriesContext(connection) as many:
        html = client.get("/departements/98/signalements/").content.decode()
    assert html.count('class="pick"') == 6
    assert len(many) == len(few)


def test_detail_page_comments_answers_withdraws_and_serves_attachments(
    client, world, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    upload = uploads.Upload(name="photo.png", content=png())
    polygon = grass_polygon(world)
    s = filing.file_signalement(
        world["users"]["contributor_in"],
        filing.Filing(
            vintage_id=world["m2"].pk,
            polygon_id=polygon.pk,
            code_cs_proposed="CS2.1.1.1",
            code_us_proposed="US1.2",
        ),
        [upload],
    )
    decisions.apply_action(world["users"]["operator"], s.pk, Action.ASK_INFO, message="Où ?")
    login(client, world, "contributor_in")
    page = client.get(f"/signalements/{s.pk}/").content.decode()
    assert "Où ?" in page and 'value="answer"' in page
    client.post(f"/signalements/{s.pk}/", {"do": "answer", "text": "Au nord du bourg."})
    assert Signalement.objects.get(pk=s.pk).status == Status.SUBMITTED
    client.post(f"/signalements/{s.pk}/", {"do": "comment", "text": "Photo jointe."})
    assert s.comments.get().text == "Photo jointe."
    attachment = s.attachments.get()
    response = client.get(f"/signalements/{s.pk}/pieces/{attachment.pk}/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    client.post(f"/signalements/{s.pk}/", {"do": "withdraw"})
    assert Signalement.objects.get(pk=s.pk).status == Status.WITHDRAWN
    login(client, world, "contributor_out")
    assert client.get(f"/signalements/{s.pk}/").status_code == 404
    assert client.get(f"/signalements/{s.pk}/pieces/{attachment.pk}/").status_code == 404


def test_a_vintage_with_signalements_is_not_replaced(world, tmp_path):
    from .conftest import square_rows, write_gpkg

    file(world)
    geoms, cols = square_rows()
    path = write_gpkg(tmp_path / "again.gpkg", geoms, **cols)
    from apps.landcover.gpkg import ImportRefused, import_ocsge

    with pytest.raises(ImportRefused, match="signalement"):
        import_ocsge(path, "98", "M2", replace=True)
    assert LandCoverPolygon.objects.filter(vintage=world["m2"]).count() == 15


def test_queue_page_filters_by_vintage_and_organisation(client, world):
    file(world)
    login(client, world, "operator")
    agence = world["orgs"]["agence"].pk
    html = client.get(f"/departements/98/signalements/?organisation={agence}").content.decode()
    assert html.count('class="pick"') == 1
    html = client.get(f"/departements/98/signalements/?vintage={world['m1'].pk}").content.decode()
    assert html.count('class="pick"') == 0


def test_the_filtered_queue_exports_as_csv_for_spreadsheets_and_as_a_geopackage(
    client, world, tmp_path
):
    import pyogrio

    first = file(world)
    second = file(world, user="colleague")
    decisions.apply_action(world["users"]["operator"], second.pk, Action.TAKE)
    withdrawn = file(world)
    decisions.apply_action(world["users"]["contributor_in"], withdrawn.pk, Action.WITHDRAW)
    login(client, world, "operator")
    response = client.get("/departements/98/signalements/?ordering=-created_at&format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == (
        "numero;statut;millesime;cs_actuel;us_actuel;cs_propose;us_propose;surface_m2;"
        "confiance_modele;impact_artif_m2;organisation;depose_le;commentaire"
    )
    rows = [line.split(";") for line in lines[1:]]
    # The open ones only (the queue's default), newest first; French numbers.
    assert [(r[0], r[1], r[7]) for r in rows] == [
        (str(second.pk), "En cours de traitement", "10000,00"),
        (str(first.pk), "Reçu", "10000,00"),
    ]
    assert rows[0][12] == "un bois, pas une prairie"
    # The same selection as a GeoPackage of points, in the département's CRS.
    response = client.get("/departements/98/signalements/?ordering=-created_at&format=gpkg")
    path = tmp_path / "queue.gpkg"
    path.write_bytes(b"".join(response.streaming_content))
    frame = pyogrio.read_dataframe(path)
    assert frame.crs.to_epsg() == 2154
    assert list(frame["numero"]) == [second.pk, first.pk]
    assert list(frame.geometry.geom_type) == ["Point", "Point"]
    # Scoped as the queue: another département's operator gets nothing.
    login(client, world, "operator_out")
    assert client.get("/departements/98/signalements/?format=csv").status_code == 404


def test_an_operator_saves_a_selection_of_the_queue_and_only_they_see_it(client, world):
    from apps.signalements.models import SavedFilter

    file(world)
    login(client, world, "operator")
    query = "status=submitted&ordering=-area&page=3"
    saved = client.post(
        "/departements/98/signalements/",
        {"do": "save-filter", "name": "Grandes surfaces", "query": query},
    )
    assert saved.status_code == 302
    assert saved["Location"].endswith("?status=submitted&ordering=-area")  # no page
    row = SavedFilter.objects.get()
    assert (row.name, row.query) == ("Grandes surfaces", "status=submitted&ordering=-area")
    page = client.get("/departements/98/signalements/").content.decode()
    assert 'href="?status=submitted&amp;ordering=-area">Grandes surfaces</a>' in page
    # Refused, nothing kept: an empty name.
    client.post("/departements/98/signalements/", {"do": "save-filter", "name": "  "})
    assert SavedFilter.objects.count() == 1
    # Another operator neither sees it nor can delete it.
    client.logout()
    login(client, world, "operator2")
    assert "Grandes surfaces" not in client.get("/departements/98/signalements/").content.decode()
    client.post("/departements/98/signalements/", {"do": "delete-filter", "id": row.pk})
    assert SavedFilter.objects.filter(pk=row.pk).exists()
    # Its owner deletes it; anonymous saves nothing.
    client.logout()
    login(client, world, "operator")
    client.post("/departements/98/signalements/", {"do": "delete-filter", "id": row.pk})
    assert not SavedFilter.objects.exists()
    client.logout()
    client.post("/departements/98/signalements/", {"do": "save-filter", "name": "x"})
    assert not SavedFilter.objects.exists()


def test_the_signalement_page_shows_the_place_the_codes_by_name_and_what_was_corrected(
    client, world
):
    import json
    import re

    from apps.signalements import decisions

    from .helpers import file

    s = file(world)
    login(client, world, "contributor_in")
    page = client.get(f"/signalements/{s.pk}/").content.decode()
    assert "CS2.2.1 — Formations herbacées" in page and "CS2.1.1.1 — Peuplement de feuillus" in page
    place = json.loads(re.search(r'id="place-config"[^>]*>(.*?)</script>', page).group(1))
    lat, lon = place["location"]
    assert (round(lat, 3), round(lon, 3)) == (46.501, 3.002)  # square (1, 1)
    assert place["tiles"] == f"/tiles/{world['m2'].pk}/{{z}}/{{x}}/{{y}}.pbf"
    assert 'id="before-after"' not in page
    decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    page = client.get(f"/signalements/{s.pk}/").content.decode()
    assert "avant CS2.2.1 / US1.1, après CS2.1.1.1 / US1.2" in page
