"""Filing signalements: bad inputs each refused with nothing written, attachments, the check
before sending."""

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pyproj import Transformer

from apps.landcover.models import LandCoverPolygon, Vintage
from apps.signalements.models import Attachment, Signalement
from apps.territories.models import Departement

from .conftest import X0, Y0
from .helpers import file, grass_polygon, login, lonlat, png, post_filing, square_wgs84

pytestmark = pytest.mark.django_db


# --- bad inputs: each refused, nothing written -------------------------------------------


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [
            lonlat(X0 + 110, Y0 + 110),
            lonlat(X0 + 190, Y0 + 190),
            lonlat(X0 + 190, Y0 + 110),
            lonlat(X0 + 110, Y0 + 190),
            lonlat(X0 + 110, Y0 + 110),
        ]
    ],
}


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
        ),
        (
            "not a polygon",
            {"geom": {"type": "Point", "coordinates": lonlat(X0 + 150, Y0 + 150)}},
            "polygone",
        ),
        ("unreadable geometry", {"geom": "POLYGON((1 2"}, "illisible"),
        (
            "outside the département",
            {"geom": square_wgs84(X0 + 350, Y0 + 150, X0 + 450, Y0 + 250)},
            "sort du département",
        ),
        ("unknown code", {"code_cs_proposed": "CS9.9"}, "inconnu"),
        (
            "same as current",
            {"code_cs_proposed": "CS2.2.1", "code_us_proposed": "US1.1"},
            "identique",
        ),
        (
            "pair not in the nomenclature",
            {"code_cs_proposed": "CS2.1.1.1", "code_us_proposed": "US1.4"},
            "couple",
        ),
        ("nowhere", {"lon": 0.0, "lat": 0.0}, "Aucun polygone"),
        ("no place at all", {"polygon": None}, "Indiquez"),
    ],
)
def test_it_refuses_bad_filings_and_writes_nothing(client, world, case, data, message):
    login(client, world, "contributor_in")
    response = post_filing(client, world, **data)
    assert response.status_code == 400, case
    assert message in response.json()["detail"]
    assert not Signalement.objects.exists() and not Attachment.objects.exists()


def test_it_refuses_filing_when_the_feedback_loop_is_closed(client, world):
    Vintage.objects.filter(pk=world["m2"].pk).update(feedback_open=False)
    login(client, world, "contributor_in")
    response = post_filing(client, world)
    assert response.status_code == 400 and "fermée" in response.json()["detail"]
    assert not Signalement.objects.exists()


def test_it_refuses_a_place_outside_the_contributors_territory(client, world):
    agence = world["orgs"]["agence"]
    agence.communes.clear()
    agence.departements.add(Departement.objects.get(code="97"))
    # Still sees 98 through a second, territorial membership? No: scoping hides the vintage.
    login(client, world, "contributor_in")
    assert post_filing(client, world).status_code == 400
    assert not Signalement.objects.exists()


def test_it_refuses_too_complex_a_shape(client, world):
    import math

    angles = [t / 6000 * 2 * math.pi for t in range(6000)]
    ring = [lonlat(X0 + 150 + 40 * math.cos(a), Y0 + 150 + 40 * math.sin(a)) for a in angles]
    ring.append(ring[0])
    login(client, world, "contributor_in")
    response = post_filing(client, world, geom={"type": "Polygon", "coordinates": [ring]})
    assert response.status_code == 400 and "sommets" in response.json()["detail"]


@pytest.mark.parametrize(
    "files, message",
    [
        ([SimpleUploadedFile("photo.jpg", b"not an image at all", "image/jpeg")], "ni une image"),
        (
            [SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")],
            "illisible",
        ),
        ([SimpleUploadedFile(f"p{i}.png", png(), "image/png") for i in range(5)], "4 pièces"),
        (
            [
                SimpleUploadedFile(
                    "big.pdf", b"%PDF-1.4\n" + b"0" * (16 * 1024 * 1024), "application/pdf"
                )
            ],
            "16 Mo",
        ),
    ],
)
def test_it_refuses_bad_attachments_and_writes_nothing(client, world, files, message):
    login(client, world, "contributor_in")
    response = post_filing(client, world, polygon=grass_polygon(world).pk, files=files)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Signalement.objects.exists() and not Attachment.objects.exists()


def test_it_keeps_good_attachments_typed_from_their_content(client, world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    login(client, world, "contributor_in")
    files = [
        SimpleUploadedFile("terrain.bin", png(), "application/octet-stream"),
        SimpleUploadedFile("arrete.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
    ]
    response = post_filing(client, world, polygon=grass_polygon(world).pk, files=files)
    assert response.status_code == 201, response.content
    kinds = sorted(a["content_type"] for a in response.json()["properties"]["attachments"])
    assert kinds == ["application/pdf", "image/png"]


def test_check_warns_below_the_minimum_mapping_unit(client, world):
    login(client, world, "contributor_in")
    small = square_wgs84(X0 + 110, Y0 + 110, X0 + 130, Y0 + 130)  # 400 m² of forest
    body = {
        "vintage": world["m2"].pk,
        "geom": small,
        "code_cs_proposed": "CS2.1.1.1",
        "code_us_proposed": "US1.2",
    }
    data = client.post("/api/signalements/check/", body, content_type="application/json").json()
    assert data["minimum_mapping_unit"] == 2500 and round(data["area"]) == 400
    assert "hors spécifications" in data["hint"]
    assert not Signalement.objects.exists()


def test_check_shows_a_shape_beyond_its_polygon_clipped_to_it(client, world):
    """A shape over squares (1, 1) and (2, 1) — 60 m and 40 m of its 100 m width: the
    square it overlaps most is the one corrected, the check says so and sends that part."""
    login(client, world, "contributor_in")
    across = square_wgs84(X0 + 140, Y0 + 120, X0 + 240, Y0 + 170)  # 100 × 50 m
    body = {
        "vintage": world["m2"].pk,
        "geom": across,
        "code_cs_proposed": "CS2.1.1.1",
        "code_us_proposed": "US1.2",
    }
    data = client.post("/api/signalements/check/", body, content_type="application/json").json()
    clipped = data["clipped"]
    assert clipped["area"] == pytest.approx(3000, abs=2)
    assert clipped["drawn_area"] == pytest.approx(5000, abs=2)
    assert "(3000 m² sur 5000 m², en couleur pleine)" in clipped["message"]
    # The part sent back, in WGS84: 140–200 m east, 120–170 m north (square (1, 1)).
    to_lambert = Transformer.from_crs(4326, 2154, always_xy=True).transform
    ring = clipped["geometry"]["coordinates"][0]
    xs, ys = zip(*(to_lambert(lon, lat) for lon, lat in ring), strict=True)
    assert (round(min(xs)), round(max(xs)), round(min(ys)), round(max(ys))) == (
        X0 + 140,
        X0 + 200,
        Y0 + 120,
        Y0 + 170,
    )
    inside = square_wgs84(X0 + 110, Y0 + 110, X0 + 190, Y0 + 190)
    data = client.post(
        "/api/signalements/check/", {**body, "geom": inside}, content_type="application/json"
    ).json()
    assert data["clipped"] is None
    assert not Signalement.objects.exists()


@pytest.mark.parametrize(
    "polygon_box, zone_box, unit, warned",
    [
        # A 1,600 m² polygon (under 2,500): its whole outline is compared with the zones.
        ((110, 110, 150, 150), (145, 145, 160, 160), 500, False),  # a zone at its corner
        ((110, 110, 150, 150), (300, 300, 320, 320), 2500, True),  # no zone on it
        # A 1 ha polygon, above both units: compared at its point only (no hint either way).
        ((100, 100, 200, 200), (195, 195, 210, 210), 2500, False),  # a zone at its corner
        ((100, 100, 200, 200), (100, 100, 200, 200), 500, False),  # a zone over it
    ],
)
def test_check_of_a_whole_polygon_uses_the_built_up_zone_where_it_matters(
    client, world, polygon_box, zone_box, unit, warned
):
    from apps.landcover.models import ZoneConstruite

    polygon = grass_polygon(world)
    x1, y1, x2, y2 = polygon_box
    LandCoverPolygon.objects.filter(pk=polygon.pk).update(
        geom=MultiPolygon(Polygon.from_bbox((X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)), srid=2154),
        area=(x2 - x1) * (y2 - y1),
    )
    x1, y1, x2, y2 = zone_box
    ZoneConstruite.objects.create(
        vintage=world["m2"],
        ocsge_id="ZC-TEST",
        geom=MultiPolygon(Polygon.from_bbox((X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)), srid=2154),
    )
    login(client, world, "contributor_in")
    body = {"vintage": world["m2"].pk, "polygon": polygon.pk, "code_cs_proposed": "CS2.1.1.1"}
    data = client.post("/api/signalements/check/", body, content_type="application/json").json()
    assert data["minimum_mapping_unit"] == unit
    assert (data["hint"] is not None) == warned


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


def test_a_list_page_carries_the_lists_size_without_a_count_of_its_own(client, world):
    """The size of the list comes with the page's rows (one scan of the filtered
    signalements, not a COUNT and then the sorted page), and stays right on the last page,
    beyond it (404, as before) and on an empty list."""
    login(client, world, "operator")
    filed = [file(world)] + [file(world, user="colleague") for _ in range(4)]
    with CaptureQueriesContext(connection) as queries:
        first = client.get("/api/signalements/?ordering=priority&page_size=2").json()
    assert not [q["sql"] for q in queries if "COUNT(*)" in q["sql"]]
    last = client.get("/api/signalements/?ordering=priority&page_size=2&page=3").json()
    table = [
        (first["count"], len(first["features"]), first["next"] is not None),
        (last["count"], len(last["features"]), last["next"] is not None),
    ]
    assert table == [(5, 2, True), (5, 1, False)]
    assert client.get("/api/signalements/?page_size=2&page=4").status_code == 404
    none = client.get("/api/signalements/?code_cs_proposed=CS5.1").json()
    assert (none["count"], none["features"]) == (0, [])
    # The operator's queue page says the same.
    page = client.get("/departements/98/signalements/?status=submitted").content.decode()
    assert len(filed) == 5 and "5 signalements" in page


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


# The statements a filing on a polygon needs (issue 20: ≤ 8): the session with its user and
# their admin flag, the polygon with its vintage, the proposal's pair and the built-up zone
# test, the organisation with the territory test, the signalement, its journal's first
# event, the open signalements at the same place — and after the commit the tiles'
# feedback version (the impact estimate goes to a worker).
FILING_STATEMENTS = 6
AFTER_FILING = 2  # the feedback version's UPDATE, the estimate's task


def _statements(queries) -> list[str]:
    """The statements run, without the savepoints of the test's own transaction."""
    return [
        q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_a_filing_on_a_polygon_runs_six_statements_and_answers_what_a_read_shows(
    client, world, django_capture_on_commit_callbacks
):
    login(client, world, "contributor_in")
    polygon = grass_polygon(world, 2, 2)
    with (
        django_capture_on_commit_callbacks() as after,
        CaptureQueriesContext(connection) as queries,
    ):
        response = post_filing(client, world, polygon=polygon.pk, comment="Une friche")
    assert response.status_code == 201, response.content
    assert len(_statements(queries)) == FILING_STATEMENTS, _statements(queries)
    assert len(after) == AFTER_FILING
    # Made from the object just written, the answer is the signalement as it reads.
    answer = response.json()
    read = client.get(f"/api/signalements/{answer['id']}/").json()
    assert answer.pop("hint") is None
    assert answer == read
    assert answer["properties"]["events"][0]["action"] == "file"
    assert answer["properties"]["comment"] == "Une friche"
    assert answer["properties"]["organisation_name"] == "Agence 98"


def test_the_hand_written_representation_is_drfs(client, world):
    """The API writes a signalement out by hand (DRF's walk over its declared fields cost
    2 ms a filing): for every kind of value — a drawn shape or none, an assignee, a reason,
    events, comments, an attachment, a group size, an impact — it gives what that walk
    gives."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory
    from rest_framework_gis.serializers import GeoFeatureModelSerializer

    from apps.signalements import conversation, decisions, uploads
    from apps.signalements.api import (
        SignalementDetailSerializer,
        SignalementSerializer,
        SignalementViewSet,
        detail_lists,
        page_keys,
        page_rows,
        ranked,
    )
    from apps.signalements.models import RejectionReason

    users = world["users"]
    shape = square_wgs84(X0 + 100, Y0 + 100, X0 + 150, Y0 + 200)  # west half of (1, 1)
    drawn = file(world, polygon_id=None, geom=shape)
    plain = file(world, polygon_id=grass_polygon(world, 2, 2).pk)
    decisions.apply_action(users["operator"], plain.pk, "take")
    conversation.add_comment(users["contributor_in"], plain.pk, "Voir la photo")
    conversation.add_attachments(
        users["contributor_in"], plain.pk, [uploads.Upload(name="photo.png", content=png())]
    )
    reason = RejectionReason.objects.filter(applies_to="rejected_irrelevant").first()
    decisions.apply_action(users["operator"], drawn.pk, "reject_irrelevant", reason=reason.pk)
    Signalement.objects.filter(pk=plain.pk).update(artif_impact=-1234.5)
    expected_lists = {  # (events, comments, attachments)
        drawn.pk: (2, 0, 0),
        plain.pk: (2, 1, 1),
    }

    request = Request(APIRequestFactory().get("/"))
    request.user = users["operator"]
    view = SignalementViewSet(request=request, action="retrieve", format_kwarg=None)
    context = {"request": view.request}
    for pk in (drawn.pk, plain.pk):
        instance = view.get_queryset().get(pk=pk)
        serializer = SignalementDetailSerializer(instance, context=context)
        walked = GeoFeatureModelSerializer.to_representation(serializer, instance)
        assert serializer.to_representation(instance) == walked
        assert list(serializer.to_representation(instance)["properties"]) == list(
            walked["properties"]
        )
        # A decision's answer reads the lists by hand (`detail_lists`): the same.
        answered = view.get_queryset().prefetch_related(None).get(pk=pk)
        answered._prefetched_objects_cache = detail_lists(pk)
        assert serializer.to_representation(answered) == walked
        properties = walked["properties"]
        assert expected_lists[pk] == tuple(
            len(properties[k]) for k in ("events", "comments", "attachments")
        )
    written = {drawn.pk: "Agence 98", plain.pk: "Agence 98"}
    rows = page_rows(page_keys(ranked(Signalement.objects.filter(pk__in=list(written)))))
    assert [r.group_size for r in rows] == [1, 1]
    for row in rows:
        serializer = SignalementSerializer(row)
        walked = GeoFeatureModelSerializer.to_representation(serializer, row)
        assert serializer.to_representation(row) == walked
        assert walked["properties"]["organisation_name"] == written[row.pk]
    assert walked["properties"]["reason"] or walked["properties"]["assignee"]
