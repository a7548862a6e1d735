"""Personal API tokens (issue 21): created on the user's page and shown once, stored as a
digest only, expiring, revoked; carrying exactly the owner's rights on the API, the OGC API
and the tiles (as `Authorization: Token …` or as a Basic password, as QGIS sends them);
counted by the throttles; locked out like passwords."""

import base64
import datetime

import pytest
from django.utils import timezone
from rest_framework.throttling import UserRateThrottle

from apps.accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def _collection(world):
    m2 = world["m2"]
    return f"/ogc/collections/ocsge-98-m2-{m2.millesime}/items"


def _token(user, days=90, name="QGIS"):
    instance, token = ApiToken.objects.create(
        user=user, expiry=datetime.timedelta(days=days), name=name
    )
    return instance, token


def _basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_a_token_is_created_on_the_users_page_shown_once_and_stored_as_a_digest(client, world):
    client.force_login(world["users"]["contributor_in"])
    page = client.post("/comptes/jetons/", {"name": "QGIS bureau", "days": "30"})
    assert page.status_code == 200
    text = page.content.decode()
    token = ApiToken.objects.get()
    start = text.index("<code>", text.index('id="new-token"')) + len("<code>")
    shown = text[start : text.index("</code>", start)]
    assert shown.startswith("ocsge_") and shown.startswith(token.token_key)
    assert shown not in str(ApiToken.objects.values_list().get())  # the digest only
    assert token.name == "QGIS bureau"
    assert token.expiry - timezone.now() == pytest.approx(
        datetime.timedelta(days=30), abs=datetime.timedelta(minutes=1)
    )
    again = client.get("/comptes/jetons/").content.decode()
    assert shown not in again and "QGIS bureau" in again


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "", "days": "90"}, "Donnez un nom"),
        ({"name": "x", "days": "7"}, "Durée de validité inconnue"),
    ],
    ids=["no-name", "unknown-validity"],
)
def test_a_bad_token_request_creates_nothing(client, world, data, message):
    client.force_login(world["users"]["contributor_in"])
    page = client.post("/comptes/jetons/", data)
    assert message in page.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    "who, seen",
    [
        ("contributor_in", True),  # the territory's vintage, not published
        ("operator", True),
        ("contributor_out", False),  # another territory: not even told it exists
    ],
)
def test_a_token_carries_exactly_its_owners_rights_on_the_ogc_api(client, world, who, seen):
    _instance, token = _token(world["users"][who])
    answer = client.get(_collection(world), HTTP_AUTHORIZATION=f"Token {token}")
    assert answer.status_code == (200 if seen else 404)
    if seen:
        assert answer.json()["numberReturned"] > 0


def test_without_a_token_the_unpublished_vintage_is_not_there(client, world):
    assert client.get(_collection(world)).status_code == 404


def test_qgis_basic_authentication_takes_the_username_and_the_token(client, world):
    user = world["users"]["contributor_in"]
    _instance, token = _token(user)
    ok = client.get(_collection(world), HTTP_AUTHORIZATION=_basic(user.username, token))
    assert ok.status_code == 200
    # Someone else's username with this token: refused.
    wrong = client.get(_collection(world), HTTP_AUTHORIZATION=_basic("colleague", token))
    assert wrong.status_code == 401


def test_a_token_works_on_the_api_and_the_tiles(client, world):
    _instance, token = _token(world["users"]["operator"])
    api = client.get("/api/signalements/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 200
    tilejson = client.get(
        f"/tiles/{world['m2'].pk}/tilejson.json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert tilejson.status_code == 200
    assert client.get(f"/tiles/{world['m2'].pk}/tilejson.json").status_code == 404


def test_a_revoked_or_expired_token_gives_access_to_nothing(client, world):
    user = world["users"]["contributor_in"]
    instance, token = _token(user)
    client.force_login(user)
    client.post(f"/comptes/jetons/{instance.digest}/revoquer/")
    assert not ApiToken.objects.exists()
    client.logout()
    assert client.get(_collection(world), HTTP_AUTHORIZATION=f"Token {token}").status_code == 401
    old, expired = _token(user)
    ApiToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - datetime.timedelta(days=1))
    answer = client.get(_collection(world), HTTP_AUTHORIZATION=f"Token {expired}")
    assert answer.status_code == 401
    assert not ApiToken.objects.exists()  # an expired token is deleted when met


def test_one_cannot_revoke_anothers_token(client, world):
    instance, _token_text = _token(world["users"]["colleague"])
    client.force_login(world["users"]["contributor_in"])
    client.post(f"/comptes/jetons/{instance.digest}/revoquer/")
    assert ApiToken.objects.filter(pk=instance.pk).exists()


def test_wrong_tokens_lock_the_owner_out_like_passwords(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = world["users"]["contributor_in"]
    _instance, token = _token(user)
    wrong = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    for _ in range(3):
        answer = client.get(_collection(world), HTTP_AUTHORIZATION=f"Token {wrong}")
        assert answer.status_code == 401
    # Locked out: the right token is refused too, until the cool-off ends.
    locked = client.get(_collection(world), HTTP_AUTHORIZATION=f"Token {token}")
    assert locked.status_code == 401
    assert "Trop d'échecs" in locked.json()["description"]
    api = client.get("/api/signalements/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code in (401, 403)


def test_token_requests_are_counted_by_the_throttles(client, world, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "1/min"})
    _instance, token = _token(world["users"]["operator"])
    codes = [
        client.get("/api/signalements/", HTTP_AUTHORIZATION=f"Token {token}").status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]


# GDAL (QGIS's client) in a process of its own: pyogrio holds the GIL while it fetches.
GDAL_CLIENT = """
import json, sys, pyogrio
source = "OAPIF:" + sys.argv[1] + "/ogc/"
layers = [str(name) for name, _kind in pyogrio.list_layers(source)]
frame = pyogrio.read_dataframe(source, layer=sys.argv[2])
print(json.dumps({"layers": layers, "n": len(frame)}))
"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_gdal_reads_an_unpublished_vintage_with_a_token_as_qgis_does(live_server, world):
    """QGIS's Basic authentication: the username, and the token as password
    (GDAL_HTTP_USERPWD); the territory's vintage in review is readable."""
    import json
    import os
    import subprocess
    import sys

    user = world["users"]["contributor_in"]
    _instance, token = _token(user)
    layer = f"ocsge-98-m2-{world['m2'].millesime}"
    env = {
        **os.environ,
        "GDAL_HTTP_TIMEOUT": "20",
        "GDAL_HTTP_AUTH": "BASIC",
        "GDAL_HTTP_USERPWD": f"{user.username}:{token}",
    }
    done = subprocess.run(
        [sys.executable, "-c", GDAL_CLIENT, live_server.url, layer],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    read = json.loads(done.stdout)
    assert layer in read["layers"] and read["n"] == 15
