"""Accessibility: axe-core (the engine of the browsers' accessibility audits) run by Chromium
on every main page, as each role that uses it — no serious or critical violation."""

import datetime
import os
from pathlib import Path

import pytest

from .conftest import CHROMIUM
from .helpers import browser_login, file

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not __import__("shutil").which(CHROMIUM), reason="no Chromium"),
]

AXE = Path(__file__).resolve().parents[1] / ".venv/node/node_modules/axe-core/axe.min.js"

# (who, page, what appears once the page's scripts are done)
PAGES = [
    (None, "/", "main"),
    (None, "/comptes/login/", "main"),
    (None, "/donnees/", "main"),
    (None, "/nomenclature/", "main"),
    ("contributor_in", "/departements/98/", "main"),
    ("contributor_in", "/departements/98/carte/", "#map[data-ready='1']"),
    ("contributor_in", "/departements/98/signalements/", "#queue-map[data-ready='1']"),
    ("contributor_in", "/departements/98/signalements/depot-fichier/", "main"),
    ("contributor_in", "/signalements/{signalement}/", "#place[data-ready='1']"),
    ("contributor_in", "/comptes/jetons/", "main"),
    ("contributor_in", "/mes-signalements/", "main"),
    ("contributor_in", "/territoires/commune/98001/", "main"),
    ("operator", "/departements/98/signalements/", "#queue-map[data-ready='1']"),
    ("operator", "/departements/98/inference/", "main"),
    ("operator2", "/departements/98/calendrier/", "main"),
    ("operator2", "/departements/98/rapport-qualite/", "main"),
    ("operator2", "/comptes/membres/", "main"),
    ("operator2", "/comptes/inviter/", "main"),
    ("reviewer", "/tableau-de-bord/", "main"),
]


@pytest.fixture
def audited_page():
    """Chromium with the page's Content-Security-Policy set aside for axe's injected script
    only (the other browser tests keep it and check it)."""
    from playwright.sync_api import sync_playwright

    assert AXE.exists(), "run `make install`: it installs axe-core"
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale="fr-FR", bypass_csp=True
        )
        yield context.new_page()
        browser.close()
        from django.db import connections

        connections.close_all()


def _violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.length} × `"
        " + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))"
    )
    return found


def test_no_main_page_has_a_serious_accessibility_violation(live_server, world, audited_page):
    from apps.campaigns.calendar import create_plan

    create_plan(world["m2"].departement, datetime.date(2026, 1, 5))
    signalement = file(world)
    page = audited_page
    found = {}
    who_now = "nobody"
    for who, url, ready in PAGES:
        if who != who_now:
            page.context.clear_cookies()
            if who:
                browser_login(page, live_server.url, who)
            who_now = who
        page.goto(live_server.url + url.format(signalement=signalement.pk))
        page.wait_for_selector(ready)
        if violations := _violations(page):
            found[f"{who} {url}"] = violations
    assert found == {}


def test_a_polygon_is_selected_and_reported_with_the_keyboard_alone(
    live_server, world, audited_page, settings
):
    """The map takes the focus, Enter asks for the polygon under its centre and sends the
    focus to the panel's first action; the panel and the report form pass axe too."""
    from pyproj import Transformer

    from .conftest import X0, Y0

    settings.ORTHO_WMTS_URL = ""
    page = audited_page
    browser_login(page, live_server.url, "contributor_in")
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(X0 + 150, Y0 + 150)
    page.goto(f"{live_server.url}/departements/98/carte/?z=17&lat={lat}&lon={lon}&v=M2")
    page.wait_for_selector("#map[data-ready='1']")
    page.focus("#map")
    page.keyboard.press("Enter")
    page.wait_for_selector("#report-open")
    assert "CS2.2.1" in page.locator("#polygon-body").inner_text()
    # The focus has moved to the panel's first action.
    assert page.evaluate("document.activeElement.id") == "report-open"
    page.keyboard.press("Enter")
    page.wait_for_selector("#report-form")
    assert _violations(page) == []
