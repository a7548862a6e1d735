"""Filing from a file (issue 21): a collectivité's proposals as a GeoJSON, a GeoPackage in
Lambert-93, a zipped Shapefile with upper-case DBF fields, a CSV from a French spreadsheet;
every row checked as a filing from the map; « all or nothing » files nothing when one row is
refused, « the valid ones » files those; limits, wrong and malformed files refused whole;
the per-row report on the page, in CSV, and through the API."""

import json
import zipfile

import numpy as np
import pyogrio
import pytest
import shapely

from apps.signalements.models import BatchFiling, Signalement

from .conftest import X0, Y0
from .helpers import lonlat

pytestmark = pytest.mark.django_db

PROPOSED = ("CS2.1.1.1", "US1.2")  # grass squares become broadleaved forest


def _centre(i, j):
    """Lambert-93 centre of the 100 m square (i, j) of the square département."""
    return X0 + i * 100 + 50, Y0 + j * 100 + 50


def _geojson(path, rows):
    """rows: (shapely geometry in WGS84, code_cs, code_us, comment)."""
    features = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(g),
            "properties": {"code_cs": cs, "code_us": us, "commentaire": c},
        }
        for g, cs, us, c in rows
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _point_wgs84(i, j):
    return shapely.Point(*lonlat(*_centre(i, j)))


def _after_commit():
    """The worker's part runs once the request's transaction commits (test transactions
    never do): run it then, as a worker would."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def _post(client, world, path, mode="all", name=None):
    with path.open("rb") as f, _after_commit():
        if name:
            f.name = name
        response = client.post(
            "/departements/98/signalements/depot-fichier/",
            {"vintage": world["m2"].pk, "file": f, "mode": mode},
        )
    assert response.status_code in (200, 302)
    return client.get(response["Location"]) if response.status_code == 302 else response


def _filed(world):
    return sorted(
        (round(s.location.x), round(s.location.y), s.code_cs_proposed, s.comment)
        for s in Signalement.objects.filter(vintage=world["m2"])
    )


def test_a_geojson_of_points_is_filed_row_by_row(client, world, tmp_path):
    client.force_login(world["users"]["contributor_in"])
    path = _geojson(
        tmp_path / "propositions.geojson",
        [
            (_point_wgs84(1, 1), *PROPOSED, "bois"),
            (_point_wgs84(2, 2), *PROPOSED, "bosquet"),
        ],
    )
    page = _post(client, world, path).content.decode()
    assert "2 signalements déposés" in page
    assert _filed(world) == [
        (X0 + 150, Y0 + 150, "CS2.1.1.1", "bois"),
        (X0 + 250, Y0 + 250, "CS2.1.1.1", "bosquet"),
    ]


def test_a_geopackage_in_lambert_93_with_a_drawn_shape_and_upper_case_fields(
    client, world, tmp_path
):
    client.force_login(world["users"]["contributor_in"])
    shape = shapely.box(X0 + 110, Y0 + 210, X0 + 160, Y0 + 260)  # part of square (1, 2)
    point = shapely.Point(*_centre(2, 1))
    path = tmp_path / "propositions.gpkg"
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array([shape, point], dtype=object)),
        [np.array(["CS2.1.1.1", "CS2.1.1.1"], dtype=object)]
        + [np.array(["US1.2", "US1.2"], dtype=object), np.array(["haie", "bois"], dtype=object)],
        ["CODE_CS", "CODE_US", "COMMENTAIRE"],
        layer="propositions",
        driver="GPKG",
        geometry_type="Unknown",
        crs="EPSG:2154",
    )
    page = _post(client, world, path).content.decode()
    assert "2 signalements déposés" in page
    drawn = Signalement.objects.get(comment="haie")
    assert drawn.geom.area == pytest.approx(2_500.0)
    assert drawn.geom.srid == 2154


def test_a_zipped_shapefile_is_read_as_delivered(client, world, tmp_path):
    client.force_login(world["users"]["contributor_in"])
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.raw.write(
        str(folder / "propositions.shp"),
        shapely.to_wkb(np.array([shapely.Point(*_centre(1, 1))], dtype=object)),
        [np.array(["CS2.1.1.1"], dtype=object), np.array(["US1.2"], dtype=object)],
        ["CODE_CS", "CODE_US"],
        driver="ESRI Shapefile",
        geometry_type="Point",
        crs="EPSG:2154",
    )
    archive = tmp_path / "propositions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in folder.iterdir():
            z.write(f, f.name)
    assert "1 signalement déposé" in _post(client, world, archive).content.decode()
    assert _filed(world) == [(X0 + 150, Y0 + 150, "CS2.1.1.1", "")]


def test_a_csv_from_a_french_spreadsheet(client, world, tmp_path):
    """Semicolons, decimal commas, a byte-order mark, accented comment."""
    client.force_login(world["users"]["contributor_in"])
    rows = ["lon;lat;code_cs;code_us;commentaire"]
    for i, j in ((1, 1), (2, 2)):
        lon, lat = lonlat(*_centre(i, j))
        lon, lat = (f"{v:.8f}".replace(".", ",") for v in (lon, lat))
        rows.append(f"{lon};{lat};CS2.1.1.1;US1.2;forêt")
    path = tmp_path / "propositions.csv"
    path.write_text("\ufeff" + "\n".join(rows), encoding="utf-8")
    assert "2 signalements déposés" in _post(client, world, path).content.decode()
    assert [c for *_xy, _cs, c in _filed(world)] == ["forêt", "forêt"]


def _mixed(tmp_path):
    outside = shapely.Point(*lonlat(X0 + 5_000, Y0 + 5_000))
    return _geojson(
        tmp_path / "melange.geojson",
        [
            (_point_wgs84(1, 1), *PROPOSED, "bon"),
            (_point_wgs84(2, 2), "CS9", "US1.2", "code inconnu"),
            (outside, *PROPOSED, "ailleurs"),
        ],
    )


def test_all_or_nothing_files_nothing_when_a_row_is_refused(client, world, tmp_path):
    client.force_login(world["users"]["contributor_in"])
    page = _post(client, world, _mixed(tmp_path), mode="all").content.decode()
    assert not Signalement.objects.exists()
    assert "Aucun signalement déposé" in page
    assert "Code de couverture CS9 inconnu" in page
    assert "valide, non déposé" in page
    job = BatchFiling.objects.get()
    report = client.get(f"/departements/98/signalements/depot-fichier/{job.pk}/rapport.csv")
    lines = report.content.decode().splitlines()
    assert lines[0] == "\ufeffligne;statut;signalement;message"  # for a spreadsheet
    assert [line.split(";")[:2] for line in lines[1:]] == [
        ["1", "refusé"],
        ["2", "refusé"],
        ["3", "refusé"],
    ]


def test_the_valid_ones_mode_files_the_valid_rows_only(client, world, tmp_path):
    client.force_login(world["users"]["contributor_in"])
    page = _post(client, world, _mixed(tmp_path), mode="valid").content.decode()
    assert "1 signalement déposé" in page
    assert [c for *_xy, _cs, c in _filed(world)] == ["bon"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", b"lon;lat\n1;2\n", "Type de fichier .txt"),
        ("casse.gpkg", b"SQLite format 3\x00" + bytes(100), "Fichier illisible"),
        ("vide.csv", b"lon;lat;code_cs\n", "aucune ligne"),
        ("sans-lonlat.csv", b"x;y\n1;2\n", "colonnes lon et lat"),
    ],
    ids=["wrong-type", "malformed-geopackage", "empty", "no-lon-lat"],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    client, world, tmp_path, name, content, message
):
    client.force_login(world["users"]["contributor_in"])
    path = tmp_path / name
    path.write_bytes(content)
    page = _post(client, world, path).content.decode()
    assert message in page
    assert not Signalement.objects.exists()


def test_too_many_rows_are_refused_whole(client, world, tmp_path, settings):
    settings.BATCH_FILING_MAX_ROWS = 2
    client.force_login(world["users"]["contributor_in"])
    page = _post(client, world, _mixed(tmp_path), mode="valid").content.decode()
    assert "Plus de 2 lignes" in page
    assert not Signalement.objects.exists()


@pytest.mark.parametrize(
    "who, status",
    [
        ("contributor_in", 200),
        ("contributor_out", 404),  # a département they do not see
        ("operator", 403),  # operators decide, they do not file
        ("reviewer", 403),
    ],
)
def test_only_the_territorys_contributors_open_the_page(client, world, who, status):
    client.force_login(world["users"][who])
    page = client.get("/departements/98/signalements/depot-fichier/")
    assert page.status_code == status


def test_the_api_files_from_a_file_and_reports_each_row(client, world, tmp_path):
    """Read at once, filed by a worker: 202 with the filing's address, where the progress and
    then each row's fate are read."""
    client.force_login(world["users"]["contributor_in"])
    with _mixed(tmp_path).open("rb") as f, _after_commit():
        answer = client.post(
            "/api/signalements/batch/", {"vintage": world["m2"].pk, "file": f, "mode": "valid"}
        )
        # Answered before the worker starts (it does once the request has committed).
        assert answer.status_code == 202
        queued = answer.json()
        assert (queued["state"], queued["checked"], queued["total"]) == ("queued", 0, 3)
        assert "rows" not in queued and not Signalement.objects.exists()
    body = client.get(queued["url"]).json()
    assert body["state"] == "done" and (body["checked"], body["total"]) == (3, 3)
    assert (body["filed"], body["refused"]) == (1, 2)
    assert [r["filed"] for r in body["rows"]] == [True, False, False]
    assert body["rows"][1]["message"] == "Code de couverture CS9 inconnu."
    assert body["rows"][2]["message"] == "Aucun polygone de ce millésime à cet endroit."
    assert Signalement.objects.count() == 1
    # Its sender's only.
    client.force_login(world["users"]["colleague"])
    assert client.get(queued["url"]).status_code == 404
    assert (
        client.get(f"/departements/98/signalements/depot-fichier/{queued['id']}/").status_code
        == 404
    )


# role -> (status, signalements filed) for one valid row sent through the API
BATCH_TABLE = {
    "anonymous": (403, 0),
    "contributor_in": (202, 1),
    "colleague": (202, 1),
    "contributor_out": (202, 0),  # the row refused: a vintage they do not see
    "operator": (403, 0),
    "operator_out": (403, 0),
    "reviewer": (403, 0),
    "admin": (403, 0),
}


@pytest.mark.parametrize("role", list(BATCH_TABLE))
def test_the_batch_endpoint_answers_each_role_as_the_table_says(client, world, tmp_path, role):
    if world["users"][role] is not None:
        client.force_login(world["users"][role])
    path = _geojson(tmp_path / "un.geojson", [(_point_wgs84(1, 1), *PROPOSED, "")])
    with path.open("rb") as f, _after_commit():
        answer = client.post("/api/signalements/batch/", {"vintage": world["m2"].pk, "file": f})
    assert (answer.status_code, Signalement.objects.count()) == BATCH_TABLE[role]


def test_a_large_file_s_progress_is_counted_as_the_worker_checks_its_rows(
    client, world, tmp_path, monkeypatch
):
    """25 rows: the worker writes the count every 10 rows checked (0, 10, 20), the page and
    the API read it while it runs, then the count is whole and each row's fate kept."""
    from apps.signalements import batch

    client.force_login(world["users"]["contributor_in"])
    points = [(_point_wgs84(k % 4, k // 4 % 4), *PROPOSED, f"n{k}") for k in range(25)]
    with _geojson(tmp_path / "grand.geojson", points).open("rb") as f:
        answer = client.post(
            "/api/signalements/batch/", {"vintage": world["m2"].pk, "file": f, "mode": "valid"}
        )
    job = BatchFiling.objects.get(pk=answer.json()["id"])
    page = client.get(f"/departements/98/signalements/depot-fichier/{job.pk}/").content.decode()
    assert 'id="batch-bar" max="25" value="0"' in page and "batch.js" in page
    seen = []
    checking = batch.prepare

    def spy(user, proposal, **kwargs):
        state = client.get(f"/departements/98/signalements/depot-fichier/{job.pk}/?format=json")
        seen.append((state.json()["state"], state.json()["checked"]))
        return checking(user, proposal, **kwargs)

    monkeypatch.setattr(batch, "prepare", spy)
    assert batch.run(job.pk) == "done"
    assert seen == [("checking", 0)] * 10 + [("checking", 10)] * 10 + [("checking", 20)] * 5
    job.refresh_from_db()
    assert (job.state, job.checked, job.total, job.filed, job.rows) == ("done", 25, 25, 21, [])
    assert [o["number"] for o in job.outcomes] == list(range(1, 26))
    # Rows 4, 8, 20, 24 fall on squares (3, 0) and (3, 1): already the M2 forest.
    assert [o["number"] for o in job.outcomes if not o["filed"]] == [4, 8, 20, 24]
    assert Signalement.objects.filter(vintage=world["m2"]).count() == 21
    # Run twice (a redelivered task): nothing filed again.
    assert batch.run(job.pk) == "done"
    assert Signalement.objects.filter(vintage=world["m2"]).count() == 21


def test_a_filing_refused_while_the_worker_files_leaves_nothing_and_says_why(
    client, world, tmp_path
):
    """The loop closes between the upload and the worker: every row is refused by the same
    rule as on the map, nothing filed, the page says why."""
    from apps.landcover.models import Vintage
    from apps.signalements import batch

    client.force_login(world["users"]["contributor_in"])
    path = _geojson(tmp_path / "un.geojson", [(_point_wgs84(1, 1), *PROPOSED, "")])
    with path.open("rb") as f:
        answer = client.post("/api/signalements/batch/", {"vintage": world["m2"].pk, "file": f})
    Vintage.objects.filter(pk=world["m2"].pk).update(feedback_open=False)
    assert batch.run(answer.json()["id"]) == "done"
    body = client.get(answer.json()["url"]).json()
    assert (body["filed"], body["refused"]) == (0, 1)
    assert "boucle" in body["rows"][0]["message"].lower()
    assert not Signalement.objects.exists()
