"""Signalements: permission table, life cycle, concurrency, bad inputs, corrections."""

import threading
from io import BytesIO

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image
from pyproj import Transformer

from apps.landcover.models import ChangePiece, LandCoverPolygon, PolygonRevision, Vintage
from apps.signalements import services
from apps.signalements.models import Attachment, RejectionReason, Signalement, SignalementEvent
from apps.signalements.transitions import AUTHOR, TRANSITIONS, Action, Status, target
from apps.territories.models import Departement, Membership, Organisation, Role

from .conftest import X0, Y0

pytestmark = pytest.mark.django_db

TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)


def lonlat(x, y):
    return TO_WGS84.transform(x, y)


def square_wgs84(x1, y1, x2, y2):
    ring = [lonlat(x, y) for x, y in [(x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1)]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def world(square_vintages, square_departement):
    """Département 98 (M2 open for feedback) and one user per role."""
    m1, m2 = square_vintages
    Vintage.objects.filter(pk=m2.pk).update(feedback_open=True)
    other = Departement.objects.create(code="97", name="Ailleurs")
    User = get_user_model()
    orgs = {
        "agence": Organisation.objects.create(name="Agence 98", kind="agence_urbanisme"),
        "agence_out": Organisation.objects.create(name="Agence 97", kind="agence_urbanisme"),
        "ign": Organisation.objects.create(name="IGN 98", kind="ign"),
        "ign_out": Organisation.objects.create(name="IGN 97", kind="ign"),
        "ddt": Organisation.objects.create(name="DDT 98", kind="ddt"),
    }
    orgs["agence"].communes.add(*square_departement.communes.all())
    orgs["agence_out"].departements.add(other)
    orgs["ign"].departements.add(square_departement)
    orgs["ign_out"].departements.add(other)
    orgs["ddt"].departements.add(square_departement)
    users = {}
    for name, org, role in [
        ("contributor_in", "agence", Role.CONTRIBUTOR),
        ("colleague", "agence", Role.CONTRIBUTOR),
        ("contributor_out", "agence_out", Role.CONTRIBUTOR),
        ("operator", "ign", Role.OPERATOR),
        ("operator2", "ign", Role.MANAGER),
        ("operator_out", "ign_out", Role.OPERATOR),
        ("reviewer", "ddt", Role.REVIEWER),
    ]:
        users[name] = User.objects.create_user(name, password="pw-123456")
        Membership.objects.create(user=users[name], organisation=orgs[org], role=role)
    users["admin"] = User.objects.create_superuser("admin", password="pw-123456")
    users["anonymous"] = None
    return {"users": users, "m1": m1, "m2": Vintage.objects.get(pk=m2.pk), "orgs": orgs}


def grass_polygon(world, i=1, j=1):
    """The M2 polygon of the square (i, j) of 100 m (grass, except (0,0) and (3,0..1))."""
    x, y = X0 + i * 100 + 50, Y0 + j * 100 + 50
    from django.contrib.gis.geos import Point

    return LandCoverPolygon.objects.get(
        vintage=world["m2"], geom__intersects=Point(x, y, srid=2154)
    )


def file(world, user="contributor_in", **kw):
    polygon = grass_polygon(world)
    filing = services.Filing(
        vintage_id=world["m2"].pk,
        polygon_id=kw.pop("polygon_id", polygon.pk),
        code_cs_proposed=kw.pop("cs", "CS2.1.1.1"),
        code_us_proposed=kw.pop("us", "US1.2"),
        comment="un bois, pas une prairie",
        **kw,
    )
    return services.file_signalement(world["users"][user], filing)


def login(client, world, role):
    if world["users"][role] is not None:
        client.force_login(world["users"][role])


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
        ).status_code,  # fmt: skip
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
    body = {"vintage": world["m2"].pk, "polygon": grass_polygon(world, 2, 2).pk,
            "code_cs_proposed": "CS1.2.2", "code_us_proposed": "US6.3"}  # fmt: skip
    got.append(client.post("/api/signalements/check/", body,
                           content_type="application/json").status_code)  # fmt: skip
    s = file(world)
    bulk = client.post("/api/signalements/bulk/", {"ids": [s.pk], "action": "accept"},
                       content_type="application/json")  # fmt: skip
    if bulk.status_code == 200:
        result = bulk.json()["results"][0]
        got.append(200 if result["ok"] else result["code"])
    else:
        got.append(bulk.status_code)
    s2 = file(world, polygon_id=grass_polygon(world, 1, 2).pk)
    photo = SimpleUploadedFile("p.png", _png(), "image/png")
    got.append(client.post(f"/api/signalements/{s2.pk}/attachments/",
                           {"attachments": [photo]}).status_code)  # fmt: skip
    got.append(client.get("/api/rejection-reasons/").status_code)
    got.append(client.post(f"/api/signalements/{s2.pk}/take/", {},
                           content_type="application/json").status_code)  # fmt: skip
    assert tuple(got) == TABLE_MORE[role]


def test_lists_show_each_role_only_its_scope(client, world):
    file(world)
    login(client, world, "contributor_out")
    assert client.get("/api/signalements/").json()["features"] == []
    login(client, world, "reviewer")
    assert len(client.get("/api/signalements/").json()["features"]) == 1


# --- life cycle --------------------------------------------------------------------------


def test_every_transition_is_allowed_or_refused_as_the_table_says(world):
    s = file(world)
    checked = 0
    for status in Status:
        for action in Action:
            Signalement.objects.filter(pk=s.pk).update(status=status)
            who = TRANSITIONS[action][2]
            actor = world["users"]["contributor_in" if who == AUTHOR else "operator"]
            reason = RejectionReason.objects.filter(applies_to=TRANSITIONS[action][1]).first()
            kwargs = {"reason": reason.pk if reason else None, "message": "précisez"}
            expected = target(action, status)
            if action == Action.ACCEPT and expected is not None:
                # Each accept corrects the polygon: put its codes back for the next one.
                LandCoverPolygon.objects.filter(pk=s.polygon_id).update(
                    code_cs="CS2.2.1", code_us="US1.1"
                )
            if expected is None:
                with pytest.raises(services.Conflict):
                    services.apply_action(actor, s.pk, action, **kwargs)
                assert Signalement.objects.get(pk=s.pk).status == status, (status, action)
            else:
                result = services.apply_action(actor, s.pk, action, **kwargs)
                assert result.status == expected, (status, action)
                event = SignalementEvent.objects.filter(signalement=s).last()
                assert (event.from_status, event.to_status, event.actor) == (
                    status,
                    expected,
                    actor,
                )
            checked += 1
    assert checked == len(Status) * len(Action)


def test_nobody_decides_their_own_signalement(world):
    operator = world["users"]["operator"]
    Membership.objects.create(user=operator, organisation=world["orgs"]["agence"],
                              role=Role.CONTRIBUTOR)  # fmt: skip
    s = file(world, user="operator")
    with pytest.raises(services.Forbidden, match="propre"):
        services.apply_action(operator, s.pk, Action.ACCEPT)


def test_rejection_needs_a_reason_of_the_right_kind(world):
    s = file(world)
    irrelevant = RejectionReason.objects.filter(applies_to=Status.REJECTED_IRRELEVANT).first()
    operator = world["users"]["operator"]
    with pytest.raises(services.Refused, match="motif"):
        services.apply_action(operator, s.pk, Action.REJECT_OUT_OF_SPEC)
    with pytest.raises(services.Refused, match="motif"):
        services.apply_action(operator, s.pk, Action.REJECT_OUT_OF_SPEC, reason=irrelevant.pk)
    done = services.apply_action(operator, s.pk, Action.REJECT_IRRELEVANT, reason=irrelevant.pk)
    assert done.reason == irrelevant and done.decided_by == operator


def test_accept_writes_a_revision_bumps_the_vintage_and_updates_the_change_layer(world):
    s = file(world)
    polygon = grass_polygon(world)
    before = world["m2"].revision
    services.apply_action(world["users"]["operator"], s.pk, Action.ACCEPT)
    polygon.refresh_from_db()
    assert (polygon.code_cs, polygon.code_us, polygon.revision) == ("CS2.1.1.1", "US1.2", 2)
    rev = PolygonRevision.objects.get(polygon=polygon)
    assert (rev.code_cs_before, rev.code_cs_after, rev.cause) == ("CS2.2.1", "CS2.1.1.1",
                                                                  "signalement")  # fmt: skip
    assert Vintage.objects.get(pk=world["m2"].pk).revision == before + 1
    assert ChangePiece.objects.filter(polygon_after=polygon, cs_apres="CS2.1.1.1").exists()


def test_accept_of_a_drawn_shape_splits_the_polygon(world):
    polygon = grass_polygon(world)
    shape = square_wgs84(X0 + 100, Y0 + 100, X0 + 150, Y0 + 200)  # west half of (1, 1)
    s = file(world, polygon_id=None, geom=shape, cs="CS1.1.1.1", us="US5")
    assert s.polygon_id == polygon.pk and round(s.area) == 5000
    services.apply_action(world["users"]["operator"], s.pk, Action.ACCEPT)
    polygon.refresh_from_db()
    piece = LandCoverPolygon.objects.get(vintage=world["m2"], code_cs="CS1.1.1.1",
                                         source__startswith="signalement")  # fmt: skip
    assert round(polygon.area) == 5000 and round(piece.area) == 5000
    assert polygon.code_cs == "CS2.2.1" and piece.code_us == "US5"
    assert polygon.geom.union(piece.geom).area == pytest.approx(10_000, abs=0.01)
    assert polygon.revisions.get().geom_before.area == pytest.approx(10_000)


def test_related_signalements_can_be_closed_in_bulk_as_already_done(client, world):
    first, second = file(world), file(world, user="colleague")
    login(client, world, "operator")
    assert client.get(f"/api/signalements/{first.pk}/").json()["properties"]["related"] == [
        second.pk
    ]
    client.post(f"/api/signalements/{first.pk}/accept/", {}, content_type="application/json")
    bulk = client.post(
        "/api/signalements/bulk/",
        {"ids": [first.pk, second.pk], "action": "already_done"},
        content_type="application/json",
    ).json()
    assert (bulk["done"], bulk["failed"]) == (1, 1)
    assert [r["code"] for r in bulk["results"] if not r["ok"]] == [409]
    assert Signalement.objects.get(pk=second.pk).status == Status.ALREADY_DONE


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_operators_deciding_at_once_give_one_decision_and_one_conflict(world):
    s = file(world)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(user, action):
        from django.db import connections

        barrier.wait()
        try:
            services.apply_action(user, s.pk, action)
            outcomes.append("ok")
        except services.Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=(world["users"]["operator"], Action.ACCEPT)),
        threading.Thread(target=decide, args=(world["users"]["operator2"], Action.ALREADY_DONE)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    s.refresh_from_db()
    assert s.status in (Status.ACCEPTED, Status.ALREADY_DONE)
    assert SignalementEvent.objects.filter(signalement=s).count() == 2
    polygon = grass_polygon(world)
    assert polygon.revision == (2 if s.status == Status.ACCEPTED else 1)


# --- bad inputs: each refused, nothing written -------------------------------------------


def _png(size=(8, 8)):
    out = BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _post(client, world, **data):
    body = {"vintage": world["m2"].pk, "code_cs_proposed": "CS2.1.1.1", "code_us_proposed": "US1.2",
            **data}  # fmt: skip
    files = body.pop("files", None)
    if files is not None:
        body["attachments"] = files
        return client.post("/api/signalements/", body)
    if "polygon" not in body and "geom" not in body and "lon" not in body:
        body["polygon"] = grass_polygon(world).pk
    return client.post("/api/signalements/", body, content_type="application/json")


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[lonlat(X0 + 110, Y0 + 110), lonlat(X0 + 190, Y0 + 190),
                     lonlat(X0 + 190, Y0 + 110), lonlat(X0 + 110, Y0 + 190),
                     lonlat(X0 + 110, Y0 + 110)]],
}  # fmt: skip


@pytest.mark.parametrize(
    "case, data, message",
    [
        ("invalid geometry", {"geom": BOWTIE}, "invalide"),
        (
            "wrong CRS",
            {
                "geom": {
                    **square_wgs84(X0 + 110, Y0 + 110, X0 + 190, Y0 + 190),
                    "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                }
            },
            "3857",
        ),  # fmt: skip
        (
            "not a polygon",
            {"geom": {"type": "Point", "coordinates": lonlat(X0 + 150, Y0 + 150)}},
            "polygone",
        ),  # fmt: skip
        ("unreadable geometry", {"geom": "POLYGON((1 2"}, "illisible"),
        (
            "outside the département",
            {"geom": square_wgs84(X0 + 350, Y0 + 150, X0 + 450, Y0 + 250)},
            "sort du département",
        ),  # fmt: skip
        ("unknown code", {"code_cs_proposed": "CS9.9"}, "inconnu"),
        (
            "same as current",
            {"code_cs_proposed": "CS2.2.1", "code_us_proposed": "US1.1"},
            "identique",
        ),  # fmt: skip
        (
            "pair not in the nomenclature",
            {"code_cs_proposed": "CS2.1.1.1", "code_us_proposed": "US1.4"},
            "couple",
        ),  # fmt: skip
        ("nowhere", {"lon": 0.0, "lat": 0.0}, "Aucun polygone"),
        ("no place at all", {"polygon": None}, "Indiquez"),
    ],
)
def test_it_refuses_bad_filings_and_writes_nothing(client, world, case, data, message):
    login(client, world, "contributor_in")
    response = _post(client, world, **data)
    assert response.status_code == 400, case
    assert message in response.json()["detail"]
    assert not Signalement.objects.exists() and not Attachment.objects.exists()


def test_it_refuses_filing_when_the_feedback_loop_is_closed(client, world):
    Vintage.objects.filter(pk=world["m2"].pk).update(feedback_open=False)
    login(client, world, "contributor_in")
    response = _post(client, world)
    assert response.status_code == 400 and "fermée" in response.json()["detail"]
    assert not Signalement.objects.exists()


def test_it_refuses_a_place_outside_the_contributors_territory(client, world):
    agence = world["orgs"]["agence"]
    agence.communes.clear()
    agence.departements.add(Departement.objects.get(code="97"))
    # Still sees 98 through a second, territorial membership? No: scoping hides the vintage.
    login(client, world, "contributor_in")
    assert _post(client, world).status_code == 400
    assert not Signalement.objects.exists()


def test_it_refuses_too_complex_a_shape(client, world):
    import math

    angles = [t / 6000 * 2 * math.pi for t in range(6000)]
    ring = [lonlat(X0 + 150 + 40 * math.cos(a), Y0 + 150 + 40 * math.sin(a)) for a in angles]
    ring.append(ring[0])
    login(client, world, "contributor_in")
    response = _post(client, world, geom={"type": "Polygon", "coordinates": [ring]})
    assert response.status_code == 400 and "sommets" in response.json()["detail"]


@pytest.mark.parametrize(
    "files, message",
    [
        ([SimpleUploadedFile("photo.jpg", b"not an image at all", "image/jpeg")], "ni une image"),
        (
            [SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")],
            "illisible",
        ),  # fmt: skip
        ([SimpleUploadedFile(f"p{i}.png", _png(), "image/png") for i in range(5)], "4 pièces"),
        (
            [
                SimpleUploadedFile(
                    "big.pdf", b"%PDF-1.4\n" + b"0" * (16 * 1024 * 1024), "application/pdf"
                )
            ],
            "16 Mo",
        ),  # fmt: skip
    ],
)
def test_it_refuses_bad_attachments_and_writes_nothing(client, world, files, message):
    login(client, world, "contributor_in")
    response = _post(client, world, polygon=grass_polygon(world).pk, files=files)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Signalement.objects.exists() and not Attachment.objects.exists()


def test_it_keeps_good_attachments_typed_from_their_content(client, world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    login(client, world, "contributor_in")
    files = [
        SimpleUploadedFile("terrain.bin", _png(), "application/octet-stream"),
        SimpleUploadedFile("arrete.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
    ]
    response = _post(client, world, polygon=grass_polygon(world).pk, files=files)
    assert response.status_code == 201, response.content
    kinds = sorted(a["content_type"] for a in response.json()["properties"]["attachments"])
    assert kinds == ["application/pdf", "image/png"]


def test_check_warns_below_the_minimum_mapping_unit(client, world):
    login(client, world, "contributor_in")
    small = square_wgs84(X0 + 110, Y0 + 110, X0 + 130, Y0 + 130)  # 400 m² of forest
    body = {"vintage": world["m2"].pk, "geom": small, "code_cs_proposed": "CS2.1.1.1",
            "code_us_proposed": "US1.2"}  # fmt: skip
    data = client.post("/api/signalements/check/", body, content_type="application/json").json()
    assert data["minimum_mapping_unit"] == 2500 and round(data["area"]) == 400
    assert "hors spécifications" in data["hint"]
    assert not Signalement.objects.exists()


def test_list_uses_a_constant_number_of_queries(client, world):
    login(client, world, "operator")
    file(world)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/signalements/?ordering=priority")
    for _ in range(6):
        file(world, user="colleague")
    with CaptureQueriesContext(connection) as many:
        data = client.get("/api/signalements/?ordering=priority").json()
    assert len(data["features"]) == 7
    assert len(many) == len(few)


def test_list_filters(client, world):
    s = file(world)
    file(world, user="colleague", cs="CS1.2.2", us="US6.3")
    login(client, world, "operator")

    def ids(query):
        return [f["id"] for f in client.get(f"/api/signalements/?{query}").json()["features"]]

    assert ids("code_cs_proposed=CS2.1.1.1") == [s.pk]
    assert len(ids("commune=98001")) == 2 and ids("commune=97001") == []
    assert len(ids("status=submitted&open=true")) == 2
    assert ids(f"organisation={world['orgs']['agence_out'].pk}") == []


# --- pages and tiles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, status, toolbar",
    [
        ("anonymous", 404, False),
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
    file(world, user="colleague", polygon_id=grass_polygon(world, 2, 2).pk, cs="CS1.2.2",
         us="US6.3")  # fmt: skip
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

    features = mapbox_vector_tile.decode(response.content)["polygons"]["features"]
    flagged = [f["properties"] for f in features if f["properties"].get("sig_open")]
    assert flagged == [{**flagged[0], "id": s.polygon_id, "sig_open": 1, "sig_status": "submitted"}]


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
    upload = services.Upload(name="photo.png", content=_png())
    polygon = grass_polygon(world)
    s = services.file_signalement(
        world["users"]["contributor_in"],
        services.Filing(
            vintage_id=world["m2"].pk,
            polygon_id=polygon.pk,
            code_cs_proposed="CS2.1.1.1",
            code_us_proposed="US1.2",
        ),  # fmt: skip
        [upload],
    )
    services.apply_action(world["users"]["operator"], s.pk, Action.ASK_INFO, message="Où ?")
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


# --- artificialisation impact ------------------------------------------------------------------


def _artif_m2(world):
    from django.db.models import Sum

    from apps.artif.models import ArtifStat

    return ArtifStat.objects.filter(vintage=world["m2"], artif=True).aggregate(a=Sum("area"))["a"]


def test_check_and_queue_show_the_artificialisation_impact_and_accept_applies_it(
    client, world, square_departement, django_capture_on_commit_callbacks
):
    from apps.artif.compute import compute_departement

    compute_departement(square_departement)
    before = _artif_m2(world)
    client.force_login(world["users"]["contributor_in"])
    polygon = grass_polygon(world)
    payload = {"vintage": world["m2"].pk, "polygon": polygon.pk,
               "code_cs_proposed": "CS1.1.1.1", "code_us_proposed": "US5"}  # fmt: skip
    checked = client.post("/api/signalements/check/", payload, content_type="application/json")
    assert checked.json()["artif_impact"]["delta_m2"] == pytest.approx(10_000.0)
    assert "1,00 ha" in checked.json()["artif_impact_text"]
    with django_capture_on_commit_callbacks(execute=True):  # estimated after the commit
        s = file(world, cs="CS1.1.1.1", us="US5")
    s.refresh_from_db()
    assert s.artif_impact == pytest.approx(10_000.0)
    client.force_login(world["users"]["operator"])
    html = client.get(f"/departements/98/signalements/?vintage={world['m2'].pk}").content.decode()
    assert "+1,00 ha artificialisés" in html
    with django_capture_on_commit_callbacks(execute=True):  # indicators: after the commit
        response = client.post(f"/api/signalements/{s.pk}/accept/", content_type="application/json")
    assert response.status_code == 200
    assert _artif_m2(world) == pytest.approx(before + 10_000.0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_neighbouring_corrections_accepted_at_once_leave_the_derived_data_exact(
    world, square_departement
):
    """Two operators accept corrections of touching polygons at the same moment: the change
    layer (updated in each decision's transaction) ends as a full recomputation makes it."""
    from django.db import connections

    from apps.landcover.difference import compute_difference

    compute_difference(square_departement)
    first = file(world, polygon_id=grass_polygon(world, 1, 1).pk)
    second = file(world, polygon_id=grass_polygon(world, 2, 1).pk)
    barrier = threading.Barrier(2)
    errors = []

    def decide(user, pk):
        try:
            barrier.wait()
            services.apply_action(world["users"][user], pk, "accept")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=("operator", first.pk)),
               threading.Thread(target=decide, args=("operator2", second.pk))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    def pieces():
        return sorted(
            (p.polygon_before_id, p.polygon_after_id, p.cs_apres, round(p.area, 1))
            for p in ChangePiece.objects.all()
        )

    concurrent = pieces()
    compute_difference(square_departement)
    assert concurrent == pieces()
