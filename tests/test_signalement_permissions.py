"""Signalements: every endpoint × every role (the permission table), and each role's scope."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from .helpers import file, grass_polygon, login, png

pytestmark = pytest.mark.django_db


# --- permission table --------------------------------------------------------------------

# role -> expected status for: list, detail, create, accept, withdraw, comment
TABLE = {
    "anonymous": (403, 403, 403, 403, 403, 403),
    "contributor_in": (200, 200, 201, 403, 200, 201),
    "colleague": (200, 200, 201, 403, 403, 201),
    "contributor_out": (200, 404, 400, 404, 404, 404),
    "operator": (200, 200, 403, 200, 403, 201),
    "operator_out": (200, 404, 400, 404, 404, 404),
    "reviewer": (200, 200, 403, 403, 403, 403),
    "admin": (200, 200, 403, 200, 403, 201),
}


@pytest.mark.parametrize("role", list(TABLE))
def test_every_endpoint_answers_each_role_as_the_table_says(client, world, role):
    expected = TABLE[role]
    s = file(world)
    login(client, world, role)
    polygon = grass_polygon(world, 2, 2)
    got = [
        client.get("/api/signalements/").status_code,
        client.get(f"/api/signalements/{s.pk}/").status_code,
        client.post(
            "/api/signalements/",
            {
                "vintage": world["m2"].pk,
                "polygon": polygon.pk,
                "code_cs_proposed": "CS1.2.2",
                "code_us_proposed": "US6.3",
            },
            content_type="application/json",
        ).status_code,
    ]
    for (i, j), path, body in [
        ((1, 2), "accept", {}),
        ((1, 3), "withdraw", {}),
        ((2, 1), "comments", {"text": "vu"}),
    ]:
        fresh = file(world, polygon_id=grass_polygon(world, i, j).pk)
        got.append(
            client.post(
                f"/api/signalements/{fresh.pk}/{path}/", body, content_type="application/json"
            ).status_code
        )
    assert tuple(got) == expected


# role -> expected status for: check, bulk accept (per item), add attachment, reasons, take
TABLE_MORE = {
    "anonymous": (403, 403, 403, 403, 403),
    "contributor_in": (200, 403, 201, 200, 403),
    "colleague": (200, 403, 403, 200, 403),
    "contributor_out": (400, 404, 404, 200, 404),
    "operator": (403, 200, 403, 200, 200),
    "operator_out": (400, 404, 404, 200, 404),
    "reviewer": (403, 403, 403, 200, 403),
    "admin": (403, 200, 403, 200, 200),
}


@pytest.mark.parametrize("role", list(TABLE_MORE))
def test_the_other_endpoints_answer_each_role_as_the_table_says(
    client, world, role, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    login(client, world, role)
    got = []
    body = {
        "vintage": world["m2"].pk,
        "polygon": grass_polygon(world, 2, 2).pk,
        "code_cs_proposed": "CS1.2.2",
        "code_us_proposed": "US6.3",
    }
    got.append(
        client.post("/api/signalements/check/", body, content_type="application/json").status_code
    )
    s = file(world)
    bulk = client.post(
        "/api/signalements/bulk/",
        {"ids": [s.pk], "action": "accept"},
        content_type="application/json",
    )
    if bulk.status_code == 200:
        result = bulk.json()["results"][0]
        got.append(200 if result["ok"] else result["code"])
    else:
        got.append(bulk.status_code)
    s2 = file(world, polygon_id=grass_polygon(world, 1, 2).pk)
    photo = SimpleUploadedFile("p.png", png(), "image/png")
    got.append(
        client.post(f"/api/signalements/{s2.pk}/attachments/", {"attachments": [photo]}).status_code
    )
    got.append(client.get("/api/rejection-reasons/").status_code)
    got.append(
        client.post(
            f"/api/signalements/{s2.pk}/take/", {}, content_type="application/json"
        ).status_code
    )
    assert tuple(got) == TABLE_MORE[role]


def test_lists_show_each_role_only_its_scope(client, world):
    file(world)
    login(client, world, "contributor_out")
    assert client.get("/api/signalements/").json()["features"] == []
    login(client, world, "reviewer")
    assert len(client.get("/api/signalements/").json()["features"]) == 1
