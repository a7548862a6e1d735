"""Names that users write (organisations, communes) reach the map's popups and tooltips as
text, never as markup (security finding 4 of issue 17): a name holding an image and a
`<meta http-equiv=refresh>` is shown literally, and nothing in `static/js` builds HTML from
data."""

import re
import shutil
from pathlib import Path

import pytest
from pyproj import Transformer

from apps.landcover.models import Vintage
from apps.signalements import filing
from apps.territories.models import Commune

from .conftest import CHROMIUM, X0, Y0
from .helpers import browser_login, grass_polygon

MARKUP = '<img src=x id=injected><meta http-equiv="refresh" content="0;url=/comptes/login/">'
JS = Path(__file__).resolve().parent.parent / "static" / "js"


def in_browser(test):
    """The marks of a browser journey (live server on committed data, Chromium present)."""
    for mark in (
        pytest.mark.browser,
        pytest.mark.django_db(transaction=True, serialized_rollback=True),
        pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is not installed"),
    ):
        test = mark(test)
    return test


def test_no_script_of_ours_turns_data_into_html():
    """Every sink that parses HTML is banned in our scripts, and Leaflet's popup and tooltip
    take DOM nodes, never template strings or concatenations."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment"
        r"|DOMParser|\.html\(|bind(Popup|Tooltip)\(\s*[`'\"]|set(Content|TooltipContent)\(\s*[`'\"]"
    )
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(JS.glob("*.js"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if sinks.search(line)
    ]
    assert found == []
    # and every popup/tooltip goes through the text-node helper (or the queue's popupOf,
    # text nodes and swatches built as DOM)
    calls = [
        line.strip()
        for path in sorted(JS.glob("*.js"))
        for line in path.read_text().splitlines()
        if re.search(r"bind(Popup|Tooltip)\(", line)
    ]
    assert len(calls) == 3
    assert all(re.search(r"bind(Popup|Tooltip)\((textLines|popupOf)\(", c) for c in calls)


def _view(x, y):
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(x, y)
    return f"z=17&lat={lat}&lon={lon}"


@in_browser
def test_marker_popup_shows_an_organisation_name_with_markup_as_text(
    live_server,
    world,
    browser_page,
    settings,
):
    settings.ORTHO_WMTS_URL = ""
    agence = world["orgs"]["agence"]
    agence.name = f"Agence {MARKUP}"
    agence.save()
    polygon = grass_polygon(world, 1, 1)
    filing.file_signalement(
        world["users"]["contributor_in"],
        filing.Filing(
            vintage_id=world["m2"].pk,
            polygon_id=polygon.pk,
            code_cs_proposed="CS2.1.1.1",
            code_us_proposed="US1.2",
            comment="bois",
        ),
    )
    page = browser_page
    browser_login(page, live_server.url, "operator")
    page.goto(
        f"{live_server.url}/departements/98/carte/?{_view(X0 + 150, Y0 + 150)}&v=M2&markers=1"
    )
    page.wait_for_selector("#map[data-ready='1']")
    page.wait_for_selector(".leaflet-interactive")
    page.wait_for_load_state("networkidle")
    page.locator("path.leaflet-interactive").last.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert MARKUP in popup.inner_text()
    assert page.locator("#injected").count() == 0
    assert page.locator(".leaflet-popup-content meta, .leaflet-popup-content img").count() == 0
    page.wait_for_timeout(300)  # a refresh would have left the map page by now
    assert "/carte/" in page.url


@in_browser
def test_choropleth_tooltip_shows_a_commune_name_with_markup_as_text(
    live_server,
    world,
    browser_page,
):
    Commune.objects.filter(code="98001").update(name=f"Commune {MARKUP}")
    Vintage.objects.filter(departement__code="98").update(state=Vintage.State.PUBLISHED)
    page = browser_page
    page.goto(f"{live_server.url}/territoires/departement/98/")
    page.wait_for_selector("#territory-map path.leaflet-interactive")
    page.locator("#territory-map path.leaflet-interactive").first.hover(force=True)
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert MARKUP in tooltip.inner_text()
    assert page.locator("#injected").count() == 0
    assert page.locator(".leaflet-tooltip meta, .leaflet-tooltip img").count() == 0
    page.wait_for_timeout(300)
    assert "/territoires/" in page.url
