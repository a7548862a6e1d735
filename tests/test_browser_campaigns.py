"""Browser journeys of the State services and the production lead (Playwright, no network)."""

import datetime

import pytest

from apps.campaigns.calendar import create_plan
from apps.landcover.models import Vintage
from apps.signalements import decisions
from apps.territories.models import Departement, Region

from .conftest import CHROMIUM
from .helpers import browser_login, file

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not __import__("shutil").which(CHROMIUM), reason="no Chromium"),
]


@pytest.fixture
def regional(world):
    region = Region.objects.create(code="95", name="Région d'essai")
    Departement.objects.filter(code="98").update(region=region)
    departement = Departement.objects.get(code="98")
    # Started five months ago: the two first meetings are late (not marked done).
    create_plan(departement, datetime.date.today() - datetime.timedelta(days=150))
    s = file(world)
    decisions.apply_action(world["users"]["operator"], s.pk, "accept")
    Vintage.objects.filter(departement=departement).update(feedback_open=False)
    return world


def test_reviewer_follows_the_region_down_to_a_departement_timeline(
    live_server, regional, browser_page
):
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_login(page, live_server.url, "reviewer")
    page.goto(f"{live_server.url}/tableau-de-bord/")
    page.click("text=95 Région d'essai")
    row = page.locator('#departements tr[data-code="98"]')
    assert "late" in row.get_attribute("class")
    assert "1 / 1" in row.inner_text()
    assert page.locator("#departements progress").get_attribute("value") == "1"
    row.locator("a").click()
    page.wait_for_selector("#timeline circle")
    assert page.locator("#timeline circle.dot-late").count() >= 2
    assert page.locator("#timeline rect.loop").count() == 2
    # Read-only: no form field, no action button for a reviewer.
    assert page.locator("#plan-form input[type=date]").count() == 0
    assert page.locator("#loops button").count() == 0
    assert not errors


def test_manager_opens_the_m1_loop_and_sees_the_launch_mails(live_server, regional, browser_page):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="contributor_in").update(email="c@example.org")
    page = browser_page
    browser_login(page, live_server.url, "operator2")
    page.goto(f"{live_server.url}/departements/98/calendrier/")
    # The template's M1 loop is still to come: the manager opens it today, after
    # confirming (cancelled first: nothing happens).
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#loops li", has_text="M1").locator("button").click()
    page.wait_for_timeout(300)
    assert not Vintage.objects.get(departement__code="98", rank="M1").feedback_open
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#loops li", has_text="M1").locator("button").click()
    page.wait_for_selector(".messages")
    assert "Boucle M1 ouverte" in page.inner_text(".messages")
    assert "ouverte" in page.locator("#loops li", has_text="M1").inner_text()
    assert "c@example.org" in page.inner_text("#mails")
    assert Vintage.objects.get(departement__code="98", rank="M1").feedback_open


@pytest.mark.parametrize(
    "path, ready",
    [
        ("/territoires/departement/98/", "#choropleth-legend li"),
        ("/departements/98/inference/", "#runs"),
        ("/departements/98/signalements/", "#queue-map[data-ready='1']"),
    ],
    ids=["territory", "inference", "queue"],
)
def test_each_page_s_modules_load_and_run_without_error(
    live_server, world, browser_page, path, ready
):
    """The pages' scripts are ES modules importing `api.js` and `dom.js`: a broken import
    stops the whole page's script, so each page is loaded and its script seen at work."""
    from apps.artif.compute import compute_departement

    compute_departement(Departement.objects.get(code="98"))
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}") if "/static/" in r.url and not r.ok else None
        ),
    )
    browser_login(page, live_server.url, "operator2")
    page.goto(live_server.url + path)
    page.wait_for_selector(ready, timeout=15_000)
    assert not errors


def test_a_visitor_sees_the_published_vintages_drawn_from_their_pmtiles(
    live_server, published, browser_page
):
    """/donnees/, logged out: the map reads the package's PMTiles by range requests (no tile
    request reaches /tiles/) and draws M1 in grass green, then M2 with its built square."""
    from io import BytesIO

    from PIL import Image

    from apps.landcover.models import CoverCode

    def rgb(code):
        colour = CoverCode.objects.get(code=code).colour
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))

    def colours(page, wanted):
        """The map's colours once those `wanted` are drawn (canvas tiles paint after the
        layer's load event), or as they are after 10 s."""
        for _ in range(50):
            shot = Image.open(BytesIO(page.locator("#opendata").screenshot())).convert("RGB")
            found = {colour for _count, colour in shot.getcolors(1 << 20)}
            if wanted <= found:
                break
            page.wait_for_timeout(200)
        return found

    page = browser_page
    errors, requests = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: requests.append((r.url, r.headers.get("range"))))
    page.goto(f"{live_server.url}/donnees/")
    options = page.locator("#archive option").all_inner_texts()
    assert len(options) == 3 and "PMTiles" in options[0]
    page.wait_for_selector("#opendata[data-ready='1']")
    page.wait_for_load_state("networkidle")
    grass, built = rgb("CS2.2.1"), rgb("CS1.1.1.1")
    assert built not in colours(page, {grass})  # M1: all grass
    page.select_option("#archive", index=1)  # M2: the square (0, 0) built
    page.wait_for_selector("#opendata[data-ready='1']")
    page.wait_for_load_state("networkidle")
    assert {grass, built} <= colours(page, {grass, built})
    archive_reads = [(u, r) for u, r in requests if u.endswith(".pmtiles")]
    assert archive_reads and all(r and r.startswith("bytes=") for _u, r in archive_reads)
    assert not [u for u, _r in requests if "/tiles/" in u]
    assert errors == []


def test_the_territory_legend_shows_each_class_once_and_tooltips_give_units(
    live_server, world, browser_page
):
    """One commune: one class, named by its value with its unit (was « 2,61 – 2,61 » four
    times); the tooltip gives the unit too; the net flow in hectares."""
    from apps.artif.compute import compute_departement
    from apps.landcover.difference import compute_difference

    compute_difference(Departement.objects.get(code="98"))
    compute_departement(Departement.objects.get(code="98"))
    page = browser_page
    browser_login(page, live_server.url, "operator2")
    page.goto(f"{live_server.url}/territoires/departement/98/")
    page.wait_for_selector("#choropleth-legend li")
    # M2: square (0, 0) built, 1 ha of the 16 ha commune.
    legend = page.locator("#choropleth-legend li")
    assert [t.strip() for t in legend.all_inner_texts()] == ["6,25 %"]
    page.locator("#territory-map path.leaflet-interactive").first.hover(force=True)
    assert page.locator(".leaflet-tooltip").inner_text().endswith(": 6,25 %")
    page.check("input[name=choropleth][value=net_ha]")
    assert [t.strip() for t in legend.all_inner_texts()] == ["1 ha"]
