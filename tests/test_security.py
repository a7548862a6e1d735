"""Accounts and security: headers (CSP without inline script), brute-force lockout, password
reset, invitations, rate limits, attachments, optional OpenID Connect."""

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from apps.accounts.oidc import InvitedUsersOIDCBackend
from apps.campaigns.models import OutboxMail
from apps.signalements.models import Attachment
from apps.signalements.throttles import FilingRateThrottle
from apps.territories import permissions
from apps.territories.models import Membership, Role

from .helpers import grass_polygon, login, png, post_filing

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate-limit counters
    yield
    cache.clear()


class _Scripts(HTMLParser):
    """Collects inline scripts and inline event handlers of a page."""

    def __init__(self):
        super().__init__()
        self.inline, self.handlers, self._in_inline = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [f"<{tag} {k}>" for k in attrs if k.startswith("on")]
        if tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json":
            self._in_inline = True
        if any((v or "").strip().lower().startswith("javascript:") for v in attrs.values()):
            self.handlers.append(f"<{tag}> javascript: URL")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline = False

    def handle_data(self, data):
        if self._in_inline and data.strip():
            self.inline.append(data.strip()[:80])


def _pages(world):
    m2 = world["m2"]
    code = m2.departement.code
    return [
        "/",
        f"/departements/{code}/",
        f"/departements/{code}/carte/",
        f"/departements/{code}/signalements/",
        f"/departements/{code}/calendrier/",
        f"/departements/{code}/rapport-qualite/",
        f"/departements/{code}/inference/",
        f"/territoires/departement/{code}/",
        "/tableau-de-bord/",
        "/nomenclature/",
        "/donnees/",
        "/comptes/login/",
        "/comptes/password_reset/",
        "/comptes/inviter/",
        "/api/docs/",
    ]


def test_every_page_sends_a_csp_without_inline_script_and_has_none(client, world):
    login(client, world, "operator2")
    for url in _pages(world):
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert script_src.split() == ["'self'"], (url, csp)
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        parser = _Scripts()
        parser.feed(response.content.decode())
        assert parser.inline == [] and parser.handlers == [], (url, parser.inline, parser.handlers)


def test_forms_and_session_api_calls_need_the_csrf_token(world):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(world["users"]["contributor_in"])
    m2 = world["m2"]
    response = csrf_client.post(
        "/api/signalements/",
        {"vintage": m2.pk, "code_cs_proposed": "CS2.1.1.1"},
        content_type="application/json",
    )
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    response = csrf_client.post(f"/departements/{m2.departement.code}/calendrier/", {})
    assert response.status_code == 403


def test_a_session_past_its_expiry_or_logged_out_or_forged_logs_nobody_in(cast):
    """Sessions are read by a hand-written statement (`accounts.sessions`): what it reads
    must stay what Django's store reads: the session of that key, not expired."""
    from django.utils import timezone

    from apps.accounts.models import UserSession
    from apps.accounts.sessions import SessionStore

    def who(c):
        response = c.get("/comptes/membres/")  # the managers' page: a redirect to log in
        return response.status_code

    operator2 = cast["users"]["operator2"]  # the manager of IGN 98
    table = []
    c = Client()
    c.force_login(operator2)
    table.append(("logged in", who(c)))
    UserSession.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    table.append(("expired", who(c)))
    c = Client()
    c.force_login(operator2)
    key = c.cookies["sessionid"].value
    c.cookies["sessionid"] = key[:-1] + ("a" if key[-1] != "a" else "b")
    table.append(("forged key", who(c)))
    c.cookies["sessionid"] = key
    table.append(("its own key again", who(c)))
    c.post("/comptes/logout/")
    c.cookies["sessionid"] = key  # replayed after logging out
    table.append(("after logout", who(c)))
    assert table == [
        ("logged in", 200),
        ("expired", 302),
        ("forged key", 302),
        ("its own key again", 200),
        ("after logout", 302),
    ]
    assert SessionStore(key).load() == {}


def test_a_session_reads_its_user_with_it_and_django_still_checks_that_user(cast):
    """The session's row keeps its user's id, so that one statement reads the session and
    the user (`accounts.sessions`): the checks Django makes of that user must all still
    hold — password changed elsewhere, account deactivated or deleted — and a session kept
    from before the column (no user id) still logs its user in."""
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import UserSession

    operator2 = cast["users"]["operator2"]  # the manager of IGN 98

    def who(c):
        with CaptureQueriesContext(connection) as queries:
            status = c.get("/comptes/membres/").status_code  # a redirect to log in
        reads = sum(q["sql"].startswith("EXECUTE ocsge_") for q in queries)  # prepared
        users = sum(q["sql"].lstrip().startswith('SELECT u."id"') for q in queries)
        return status, reads, users

    table = []
    c = Client()
    c.force_login(operator2)
    key = c.cookies["sessionid"].value
    table.append(("its user's id kept", UserSession.objects.get(pk=key).user_id == operator2.pk))
    table.append(("logged in", who(c)))
    UserSession.objects.filter(pk=key).update(user=None)
    table.append(("kept from before the column", who(c)))
    c.force_login(operator2)
    operator2.set_password("another-password-9")
    operator2.save()
    table.append(("password changed elsewhere", who(c)))
    c.force_login(operator2)
    operator2.is_active = False
    operator2.save()
    table.append(("account deactivated", who(c)))
    operator2.is_active = True
    operator2.save()
    c.force_login(operator2)
    table.append(("active again", who(c)))
    operator2.delete()
    table.append(("account deleted: its sessions gone", UserSession.objects.count()))
    table.append(("account deleted", who(c)))
    assert table == [
        ("its user's id kept", True),
        ("logged in", (200, 1, 0)),
        ("kept from before the column", (200, 1, 1)),
        ("password changed elsewhere", (302, 1, 0)),
        ("account deactivated", (302, 1, 0)),
        ("active again", (200, 1, 0)),
        ("account deleted: its sessions gone", 0),
        ("account deleted", (302, 1, 0)),
    ]


def test_login_is_locked_after_five_failures_for_that_account_and_address(world):
    get_user_model().objects.create_user("victim", password="right-password-1")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    codes = [
        attacker.post("/comptes/login/", {"username": "victim", "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 200, 429]  # the form again with its error, then locked
    response = attacker.post("/comptes/login/", {"username": "victim", "password": "wrong"})
    assert response.status_code == 429
    assert "Connexion bloquée" in response.content.decode()
    # Even the right password is refused from there while locked...
    response = attacker.post(
        "/comptes/login/", {"username": "victim", "password": "right-password-1"}
    )
    assert response.status_code == 429 and "_auth_user_id" not in attacker.session
    # ...but the real user, from their own address, logs in.
    real = Client(REMOTE_ADDR="198.51.100.7")
    response = real.post("/comptes/login/", {"username": "victim", "password": "right-password-1"})
    assert response.status_code == 302 and "_auth_user_id" in real.session


def test_password_reset_by_mail_sets_a_new_password(client, world):
    user = get_user_model().objects.create_user(
        "planner", email="planner@agglo.example.fr", password="old-password-1"
    )
    response = client.post("/comptes/password_reset/", {"email": "Planner@agglo.example.fr"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = re.search(r"https?://[^/]+(/comptes/reset/\S+)", body).group(1)
    response = client.get(link, follow=True)
    assert "Choisir un mot de passe" in response.content.decode()
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "a-new-long-password-42", "new_password2": "a-new-long-password-42"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-long-password-42")
    # The link is used up.
    assert "plus valable" in client.get(link, follow=True).content.decode()
    # An unknown address gives the same answer and sends nothing.
    response = client.post("/comptes/password_reset/", {"email": "nobody@example.fr"})
    assert response.status_code == 302 and len(mail.outbox) == 1


def _invite(client, **data):
    return client.post("/comptes/inviter/", data)


def test_a_production_lead_invites_a_planner_who_sets_a_password_and_logs_in(client, world):
    login(client, world, "operator2")  # manager of IGN 98
    agence = world["orgs"]["agence"]
    response = _invite(
        client,
        email="Nouvelle.Urbaniste@agence98.fr",
        first_name="Nadia",
        last_name="Urbain",
        organisation=agence.pk,
        role=Role.CONTRIBUTOR,
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(email__iexact="nouvelle.urbaniste@agence98.fr")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user).role == Role.CONTRIBUTOR
    outbox = OutboxMail.objects.get(kind="account_invitation", recipient=user.email)
    assert "Agence 98" in outbox.subject and "Nadia" in outbox.body_text
    link = re.search(r"https?://[^/]+(/comptes/reset/\S+)", outbox.body_text).group(1)
    page = client.get("/comptes/inviter/").content.decode()
    assert user.email in page and "pas encore" in page
    client.logout()
    response = client.get(link, follow=True)
    client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "mon-mot-de-passe-99", "new_password2": "mon-mot-de-passe-99"},
    )
    other = Client()
    response = other.post(
        "/comptes/login/", {"username": user.username, "password": "mon-mot-de-passe-99"}
    )
    assert response.status_code == 302
    assert other.get(f"/departements/{world['m2'].departement.code}/carte/").status_code == 200


@pytest.mark.parametrize(
    "who, org, role, expected",
    [
        ("operator2", "agence_out", Role.CONTRIBUTOR, "organisation"),  # another département
        ("operator2", "agence", Role.OPERATOR, "Rôle impossible"),  # not an IGN organisation
        ("operator2", "ign", Role.MANAGER, "Rôle impossible"),  # managers are named by admins
        ("operator", "agence", Role.CONTRIBUTOR, 403),  # operators do not invite
        ("contributor_in", "agence", Role.CONTRIBUTOR, 403),
        ("reviewer", "ddt", Role.REVIEWER, 403),
    ],
)
def test_invitations_are_refused_outside_the_inviters_rights(
    client, world, who, org, role, expected
):
    login(client, world, who)
    before = get_user_model().objects.count()
    response = _invite(client, email="x@example.fr", organisation=world["orgs"][org].pk, role=role)
    if expected == 403:
        assert response.status_code == 403
    else:
        assert response.status_code == 200 and expected in response.content.decode()
    assert get_user_model().objects.count() == before
    assert not OutboxMail.objects.filter(kind="account_invitation").exists()


def test_admins_invite_anyone_and_an_existing_account_only_gains_the_role(client, world):
    login(client, world, "admin")
    existing = world["users"]["contributor_out"]
    existing.email = "out@agence97.fr"
    existing.save()
    ddt = world["orgs"]["ddt"]
    response = _invite(client, email="OUT@agence97.fr", organisation=ddt.pk, role=Role.REVIEWER)
    assert response.status_code == 302
    assert Membership.objects.get(user=existing, organisation=ddt).role == Role.REVIEWER
    outbox = OutboxMail.objects.get(kind="account_invitation")
    assert "/comptes/reset/" not in outbox.body_text and "/comptes/login/" in outbox.body_text
    assert existing.check_password("pw-123456")  # untouched
    # The same invitation twice is refused, nothing changes.
    response = _invite(client, email="out@agence97.fr", organisation=ddt.pk, role=Role.REVIEWER)
    assert "déjà ce rôle" in response.content.decode()
    assert OutboxMail.objects.filter(kind="account_invitation").count() == 1


def test_invitable_organisations_follow_the_managers_departements(world):
    names = set(
        permissions.manageable_organisations(world["users"]["operator2"]).values_list(
            "name", flat=True
        )
    )
    assert names == {"Agence 98", "IGN 98", "DDT 98"}
    assert not permissions.can_invite(world["users"]["operator"])
    assert permissions.manageable_organisations(world["users"]["admin"]).count() == 6  # all


def test_filing_is_rate_limited_per_user(client, world, monkeypatch):
    monkeypatch.setattr(FilingRateThrottle, "THROTTLE_RATES", {"filing": "2/hour"})
    login(client, world, "contributor_in")
    codes = [post_filing(client, world).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    response = post_filing(client, world)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    # Another user is not affected; reading is not limited by the filing rate.
    assert client.get("/api/signalements/").status_code == 200
    other = Client()
    other.force_login(world["users"]["colleague"])
    assert post_filing(other, world).status_code == 201


def test_the_api_is_rate_limited_per_user(client, world, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "1/min"})
    login(client, world, "operator")
    codes = [client.get("/api/signalements/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_attachments_get_random_names_and_are_served_only_through_the_scoped_view(
    client, world, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    login(client, world, "contributor_in")
    files = [SimpleUploadedFile("photo.png", png(), "image/png")]
    response = post_filing(client, world, polygon=grass_polygon(world).pk, files=files)
    assert response.status_code == 201, response.content
    item = Attachment.objects.get()
    stored = Path(item.file.name).name
    assert re.fullmatch(r"[0-9a-f]{32}\.png", stored) and "photo" not in stored
    assert client.get(f"/media/{item.file.name}").status_code == 404  # no public media
    url = f"/signalements/{item.signalement_id}/pieces/{item.pk}/"
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert 'filename="photo.png"' in response["Content-Disposition"]
    outsider = Client()
    outsider.force_login(world["users"]["contributor_out"])
    assert outsider.get(url).status_code == 404


def test_oidc_backend_logs_in_invited_people_only(world, settings):
    settings.OIDC_CREATE_USER = False
    user = world["users"]["reviewer"]
    user.email = "agent@ddt98.gouv.fr"
    user.save()
    backend = InvitedUsersOIDCBackend.__new__(InvitedUsersOIDCBackend)
    backend.UserModel = get_user_model()
    assert list(backend.filter_users_by_claims({"email": "Agent@DDT98.gouv.fr"})) == [user]
    assert not backend.filter_users_by_claims({"email": "inconnu@gouv.fr"}).exists()
    assert not backend.filter_users_by_claims({}).exists()
    assert backend.create_user({"email": "inconnu@gouv.fr"}) is None


def test_oidc_login_is_offered_and_redirects_to_the_provider_when_configured(db):
    """Off by default; configured from the environment, the login page offers it and
    /oidc/authenticate/ sends the browser to the provider with our client id."""
    assert "oidc" not in Client().get("/comptes/login/").content.decode().lower()
    env = {
        **os.environ,
        "OIDC_RP_CLIENT_ID": "ocsge-test",
        "OIDC_RP_CLIENT_SECRET": "s3cret",
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example.gouv.fr/authorize",
        "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example.gouv.fr/token",
        "OIDC_OP_USER_ENDPOINT": "https://idp.example.gouv.fr/userinfo",
        "OIDC_OP_JWKS_ENDPOINT": "https://idp.example.gouv.fr/jwks",
        "OIDC_PROVIDER_NAME": "ProConnect",
        "SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies",
    }
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "page = c.get('/comptes/login/').content.decode()\n"
        "print('BUTTON', 'Se connecter avec ProConnect' in page)\n"
        "r = c.get('/oidc/authenticate/')\n"
        "print('STATUS', r.status_code)\n"
        "print('LOCATION', r['Location'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "ocsge_web.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "BUTTON True" in out.stdout
    assert "STATUS 302" in out.stdout
    location = out.stdout.split("LOCATION ", 1)[1]
    assert location.startswith("https://idp.example.gouv.fr/authorize?")
    assert "client_id=ocsge-test" in location and "state=" in location
