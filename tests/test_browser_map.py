"""Browser journey on the map page (Playwright + Debian's Chromium, no network)."""

import re
import shutil

import pytest
from playwright.sync_api import expect
from pyproj import Transformer

from apps.landcover.models import Vintage

from .conftest import CHROMIUM, X0, Y0
from .helpers import browser_login

pytestmark = [
    pytest.mark.browser,
    # The live server needs committed data; the flush after each test must give the
    # nomenclature (loaded by data migrations) back.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is not installed"),
]


def _rgb(hex_colour):
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def test_map_draws_polygons_in_legend_colours_and_a_click_opens_the_panel(
    live_server, square_vintages, browser_page, settings
):
    settings.ORTHO_WMTS_URL = ""
    Vintage.objects.filter(pk__in=[v.pk for v in square_vintages]).update(
        state=Vintage.State.PUBLISHED
    )
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(X0 + 150, Y0 + 150)
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/departements/98/carte/?z=17&lat={lat}&lon={lon}&v=M2&op=100")
    page.wait_for_selector("#map[data-ready='1']")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)

    legend = {
        code: page.get_attribute(f"#legend li[data-code='{code}']", "data-colour")
        for code in ("CS2.2.1", "CS1.1.1.1")
    }
    assert legend == {"CS2.2.1": "#ccf24d", "CS1.1.1.1": "#ff377a"}

    box = page.locator("#map").bounding_box()
    cx, cy = box["width"] / 2, box["height"] / 2
    # z17 at 46.5° N: 1.194 m per Web-Mercator pixel × cos φ ≈ 0.82 ground metres per pixel,
    # so the square (0, 0) (built in M2) is ~122 px left of and below the centre square.
    step = 100 / (156543.034 / 2**17 * 0.688)
    shot = page.locator("#map").screenshot()
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(shot)).convert("RGB")
    scale = image.width / box["width"]

    def pixel(x, y):
        return image.getpixel((int(x * scale), int(y * scale)))

    def close(a, b):
        return all(abs(u - v) <= 3 for u, v in zip(a, b, strict=True))

    assert close(pixel(cx, cy), _rgb(legend["CS2.2.1"])), pixel(cx, cy)
    built = (cx - step, cy + step)
    assert close(pixel(*built), _rgb(legend["CS1.1.1.1"])), pixel(*built)

    page.mouse.click(box["x"] + built[0], box["y"] + built[1])
    page.wait_for_selector("#polygon-panel:not([hidden]) dl")
    panel = page.inner_text("#polygon-panel")
    assert "CS1.1.1.1" in panel and "US5" in panel and "2024" in panel
    assert not errors
    assert "z=17" in page.url and "v=M2" in page.url


def _centre_pixel(page):
    from io import BytesIO

    from PIL import Image

    box = page.locator("#map").bounding_box()
    image = Image.open(BytesIO(page.locator("#map").screenshot())).convert("RGB")
    scale = image.width / box["width"]
    return image.getpixel((int(box["width"] / 2 * scale), int(box["height"] / 2 * scale)))


def test_contributor_files_from_the_map_operator_accepts_from_the_queue_map_changes(
    live_server,
    world,
    browser_page,
    settings,
    tmp_path,
):
    from io import BytesIO

    from PIL import Image

    from apps.landcover.models import LandCoverPolygon
    from apps.signalements.models import Signalement

    settings.ORTHO_WMTS_URL = ""
    settings.MEDIA_ROOT = tmp_path
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(X0 + 150, Y0 + 150)
    view = f"/departements/98/carte/?z=17&lat={lat}&lon={lon}&v=M2&op=100"

    browser_login(page, live_server.url, "contributor_in")
    page.goto(live_server.url + view)
    page.wait_for_selector("#map[data-ready='1']")
    page.wait_for_load_state("networkidle")
    assert _centre_pixel(page) == _rgb("#ccf24d")  # grass
    expect(page.locator("#loop-note")).to_have_text("Retours M2 ouverts.")  # (no plan here)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # « Signaler une erreur » in view at once: nothing scrolled, the button on screen.
    expect(page.locator("#report-open")).to_be_visible()
    button = page.locator("#report-open").bounding_box()
    assert button["y"] + button["height"] <= 800 and page.evaluate("window.scrollY") == 0
    assert page.locator(".map-side").evaluate("side => side.scrollTop") == 0
    page.click("#report-open")
    page.select_option("select[name=code_cs_proposed]", "CS2.1.1.1")
    page.select_option("select[name=code_us_proposed]", "US1.2")
    page.fill("textarea[name=comment]", "C'est un bois de feuillus.")
    photo = BytesIO()
    Image.new("RGB", (32, 32), (20, 120, 20)).save(photo, "JPEG")
    page.set_input_files(
        "input[name=attachments]",
        files=[{"name": "bois.jpg", "mimeType": "image/jpeg", "buffer": photo.getvalue()}],
    )
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#report-done")
    signalement = Signalement.objects.get()
    # The panel again, the new signalement listed with its link; the confirmation links to it.
    page_link = f"/signalements/{signalement.pk}/"
    expect(page.locator("#report-done a")).to_have_attribute("href", page_link)
    listed = page.locator(f"#polygon-body li a[href='{page_link}']")
    expect(listed).to_have_text(f"n° {signalement.pk}")
    expect(page.locator("#polygon-body")).not_to_contain_text("Aucun signalement sur ce polygone")
    assert (signalement.code_cs_proposed, signalement.attachments.count()) == ("CS2.1.1.1", 1)

    page.context.clear_cookies()
    browser_login(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/departements/98/signalements/")
    page.wait_for_selector("#queue-map[data-ready='1']")
    page.keyboard.press("a")
    # (locator assertions, not wait_for_function: its string predicates are an eval, which
    # our Content-Security-Policy refuses)
    expect(page.locator("#queue-message")).to_contain_text("Pris")
    polygon = LandCoverPolygon.objects.get(pk=signalement.polygon_id)
    assert (polygon.code_cs, polygon.revision) == ("CS2.1.1.1", 2)

    page.goto(live_server.url + view)
    page.wait_for_selector("#map[data-ready='1']")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    assert _centre_pixel(page) == _rgb("#80ff00")  # now a broadleaf forest
    # The operator answers the contributor from the map's panel.
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.click("#polygon-body .link-button")
    page.fill(".comment-form textarea", "Merci, corrigé.")
    page.click(".comment-form button[type=submit]")
    expect(page.locator(".comment-form [role=status]")).not_to_be_empty()
    assert signalement.comments.get().text == "Merci, corrigé."
    assert not errors


def test_the_queue_shows_a_dozen_rows_beside_a_map_that_stays_in_view(
    live_server, world, browser_page, settings
):
    """At 1,366 × 900 the queue showed about 4 rows and a map stretched to the table's
    height (257 × 3,183 px: the current signalement far below the screen). Now one line
    per signalement, at least 12 on screen, the map in the viewport wherever the list is
    scrolled; the checked rows are counted and Esc clears them."""
    from apps.landcover.models import LandCoverPolygon

    from .helpers import file

    settings.ORTHO_WMTS_URL = ""
    for polygon in LandCoverPolygon.objects.filter(vintage=world["m2"]).order_by("pk"):
        for _ in range(2):  # 30 signalements: more than a screen
            file(world, polygon_id=polygon.pk, cs="CS1.2.2", us="US6.3")
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 900})
    browser_login(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/departements/98/signalements/?ordering=-created_at")
    page.wait_for_selector("#queue-map[data-ready='1']")

    def on_screen_rows():
        return sum(
            1
            for box in (r.bounding_box() for r in page.locator("#queue-table tbody tr").all())
            if box and box["y"] >= 0 and box["y"] + box["height"] <= 900
        )

    def map_in_view():
        box = page.locator("#queue-map").bounding_box()
        return box["y"] >= 0 and box["y"] + box["height"] <= 900 and box["height"] >= 300

    assert on_screen_rows() >= 12
    assert map_in_view()

    # The current signalement on the map: its popup (current → proposed), its polygon
    # outlined, the map zoomed to it.
    def popup_of(pk):
        return page.locator(".leaflet-popup-content", has_text=re.compile(rf"^n° {pk}\D"))

    first = page.locator("#queue-table tbody tr[data-id]").first.get_attribute("data-id")
    expect(popup_of(first)).to_contain_text("actuel : CS2.1.1.1 / US1.2")
    expect(popup_of(first)).to_contain_text("proposé : CS1.2.2 / US6.3")
    expect(page.locator("path.current-outline")).to_have_count(1)
    page.keyboard.press("j")
    second = page.locator("#queue-table tbody tr.current").get_attribute("data-id")
    assert second != first
    expect(popup_of(second)).to_have_count(1)
    expect(page.locator("path.current-outline")).to_have_count(1)
    for _ in range(24):  # down the list: the page scrolls, the map stays
        page.keyboard.press("j")
    assert page.evaluate("window.scrollY") > 0
    assert map_in_view()
    page.keyboard.press("x")
    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(page.locator("#picked")).to_contain_text("2 coché")
    assert page.locator("#queue-table tr.checked").count() == 2
    page.keyboard.press("Escape")
    expect(page.locator("#picked")).to_be_hidden()
    assert page.locator("#queue-table .pick:checked").count() == 0
    # A rejection without a reason of its kind: refused in the page, the list offering
    # that kind's reasons only; nothing sent.
    from apps.signalements.models import RejectionReason, Signalement

    current = int(page.locator("#queue-table tbody tr.current").get_attribute("data-id"))
    page.keyboard.press("s")
    expect(page.locator("#queue-message")).to_contain_text("Rejeté (hors spécifications)")
    assert Signalement.objects.get(pk=current).status == "submitted"
    offered = {
        int(v)
        for v in page.locator("#reason option:not([hidden])").evaluate_all(
            "options => options.map(o => o.value).filter(Boolean)"
        )
    }
    assert offered == set(
        RejectionReason.objects.filter(applies_to="rejected_out_of_spec", active=True).values_list(
            "pk", flat=True
        )
    )
    page.select_option("#reason", str(min(offered)))
    page.locator("#queue-table tbody tr.current").focus()
    page.keyboard.press("s")
    expect(page.locator("#queue-message")).to_contain_text(f"n° {current}")
    assert Signalement.objects.get(pk=current).status == "rejected_out_of_spec"


def test_decisions_on_many_and_a_withdrawal_ask_for_confirmation(
    live_server, world, browser_page, settings
):
    """Bulk decisions and withdrawing are confirmed first; cancelled, nothing changes."""
    from apps.signalements.models import Signalement

    from .helpers import file

    settings.ORTHO_WMTS_URL = ""
    filed = [file(world) for _ in range(2)]
    mine = file(world, user="contributor_in")
    page = browser_page
    answers = []
    page.on("dialog", lambda dialog: dialog.accept() if answers.pop(0) else dialog.dismiss())

    browser_login(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/departements/98/signalements/?ordering=-created_at")
    page.wait_for_selector("#queue-map[data-ready='1']")
    for s in filed:
        page.check(f"#queue-table tr[data-id='{s.pk}'] .pick")
    answers.append(False)
    page.locator("#toolbar button[data-action='already_done']").click()
    page.wait_for_timeout(300)
    assert set(Signalement.objects.values_list("status", flat=True)) == {"submitted"}
    answers.append(True)
    page.locator("#toolbar button[data-action='already_done']").click()
    expect(page.locator("#queue-message")).to_contain_text("2 ✓")
    statuses = dict(Signalement.objects.values_list("pk", "status"))
    assert [statuses[s.pk] for s in filed] == ["already_done", "already_done"]

    page.context.clear_cookies()
    browser_login(page, live_server.url, "contributor_in")
    page.goto(f"{live_server.url}/signalements/{mine.pk}/")
    answers.append(False)
    page.click("button[value=withdraw]")
    page.wait_for_timeout(300)
    assert Signalement.objects.get(pk=mine.pk).status == "submitted"
    answers.append(True)
    page.click("button[value=withdraw]")
    page.wait_for_load_state("networkidle")
    assert Signalement.objects.get(pk=mine.pk).status == "withdrawn"


def test_the_map_colours_a_model_s_vintage_by_its_confidence(
    live_server, world, browser_page, settings
):
    """To triage where the model doubted: polygons coloured by confidence class, those
    without one in grey; the choice offered only for a vintage the model produced."""
    from apps.landcover.models import LandCoverPolygon

    settings.ORTHO_WMTS_URL = ""
    page = browser_page
    browser_login(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/departements/98/carte/")
    assert page.locator("input[name=colour][value=confidence]").count() == 0  # delivered
    page.wait_for_load_state("networkidle")  # no tile of the first page still being built
    m2 = world["m2"]
    polygons = LandCoverPolygon.objects.filter(vintage=m2)
    polygons.update(confidence=0.97)
    doubtful = polygons.get(geom__intersects=f"SRID=2154;POINT({X0 + 150} {Y0 + 150})")
    LandCoverPolygon.objects.filter(pk=doubtful.pk).update(confidence=0.31)
    # As if the model had produced it, then a new revision — last, so that no tile carries
    # the new revision's ETag with the confidences half written (the browser holds the old
    # tiles).
    Vintage.objects.filter(pk=m2.pk).update(
        source=Vintage.Source.INFERENCE, revision=m2.revision + 1
    )
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(X0 + 150, Y0 + 150)
    page.goto(
        f"{live_server.url}/departements/98/carte/?z=17&lat={lat}&lon={lon}&v=M2&op=100"
        "&colour=confidence"
    )
    page.wait_for_selector("#map[data-ready='1']")
    page.wait_for_load_state("networkidle")
    assert page.locator("input[name=colour][value=confidence]").is_checked()
    assert _centre_pixel(page) == _rgb("#d7191c")  # < 50 %
    legend = page.locator("#legend").inner_text()
    assert "< 50 %" in legend and "≥ 95 %" in legend and "sans confiance" in legend


def test_a_file_s_filing_page_follows_the_worker_then_shows_each_row(
    live_server, world, browser_page
):
    """A contributor's filing from a file, queued for a worker: the page shows the rows
    checked so far and reloads itself with each row's fate once the worker is done."""
    from apps.signalements import batch
    from apps.signalements.models import BatchFiling

    from .helpers import lonlat

    Vintage.objects.filter(pk=world["m2"].pk).update(feedback_open=True)
    rows = [
        {
            "number": k + 1,
            "code_cs": "CS2.1.1.1",
            "code_us": "US1.2",
            "comment": f"n{k}",
            "lon": lonlat(X0 + 50 + 100 * k, Y0 + 50)[0],
            "lat": lonlat(X0 + 50 + 100 * k, Y0 + 50)[1],
            "geom": None,
            "problem": "",
        }
        for k in range(3)
    ]
    job = BatchFiling.objects.create(
        user=world["users"]["contributor_in"],
        vintage=world["m2"],
        name="propositions.csv",
        all_or_nothing=False,
        total=3,
        rows=rows,
    )
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_login(page, live_server.url, "contributor_in")
    page.goto(f"{live_server.url}/departements/98/signalements/depot-fichier/{job.pk}/")
    expect(page.locator("#batch-bar")).to_have_attribute("max", "3")
    expect(page.locator("#batch-state")).to_have_text("en attente")
    batch.run(job.pk)  # the worker
    expect(page.locator("#batch-report tbody tr")).to_have_count(3, timeout=10_000)
    expect(page.locator("main h2").first).to_contain_text("3 signalements déposés")
    assert page.locator("#batch-progress").count() == 0
    assert errors == []


def test_a_drawn_shape_beyond_its_polygon_is_shown_clipped_before_sending(
    live_server, world, browser_page, settings
):
    """Leaflet.draw speaks French; a shape drawn over two squares is shown cut to the square
    it overlaps most (filled) with why, before anything is sent."""
    from apps.signalements.models import Signalement

    settings.ORTHO_WMTS_URL = ""
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    lon, lat = Transformer.from_crs(2154, 4326, always_xy=True).transform(X0 + 150, Y0 + 150)
    browser_login(page, live_server.url, "contributor_in")
    page.goto(f"{live_server.url}/departements/98/carte/?z=17&lat={lat}&lon={lon}&v=M2&op=100")
    page.wait_for_selector("#map[data-ready='1']")
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)
    page.click("#report-open")
    page.select_option("select[name=code_cs_proposed]", "CS2.1.1.1")
    page.select_option("select[name=code_us_proposed]", "US1.2")
    page.click("#report-form button:has-text('Dessiner')")
    # Square (1, 1)'s east edge is 50 m east of the centre, about 61 px at z17: the shape
    # runs from 40 px west to 150 px east of it, so it lies mostly in square (1, 1).
    corners = [(-40, -40), (150, -40), (150, 40), (-40, 40)]
    page.mouse.move(cx + corners[0][0], cy + corners[0][1])
    expect(page.locator(".leaflet-draw-tooltip")).to_contain_text("Cliquez pour commencer")
    for dx, dy in corners:
        page.mouse.click(cx + dx, cy + dy)
        page.wait_for_timeout(400)  # not a double click
    page.mouse.move(cx + corners[0][0] + 20, cy + corners[0][1])
    expect(page.locator(".leaflet-draw-tooltip")).to_contain_text("premier point pour fermer")
    page.mouse.click(cx + corners[0][0], cy + corners[0][1])
    expect(page.locator("#report-clipped")).to_be_visible()
    expect(page.locator("#report-clipped")).to_contain_text("seule sa partie dans ce polygone")
    assert not Signalement.objects.exists()
    assert errors == []


def test_an_operator_undoes_a_decision_from_the_queue(live_server, world, browser_page, settings):
    """« a » accepts, the message offers « Annuler », « u » undoes: the status and the
    polygon back as they were."""
    from apps.landcover.models import LandCoverPolygon
    from apps.signalements.models import Signalement

    from .helpers import file

    settings.ORTHO_WMTS_URL = ""
    signalement = file(world)
    page = browser_page
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_login(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/departements/98/signalements/")
    page.wait_for_selector("#queue-map[data-ready='1']")
    page.keyboard.press("a")
    expect(page.locator("#queue-message")).to_contain_text("Pris en compte")
    expect(page.locator("#undo-decision")).to_have_text("Annuler")
    assert LandCoverPolygon.objects.get(pk=signalement.polygon_id).code_cs == "CS2.1.1.1"
    page.keyboard.press("u")
    expect(page.locator("#queue-message")).to_contain_text("Décision annulée")
    expect(page.locator(f"#queue-table tr[data-id='{signalement.pk}'] .status")).to_have_text(
        "Reçu"
    )
    assert Signalement.objects.get(pk=signalement.pk).status == "submitted"
    assert LandCoverPolygon.objects.get(pk=signalement.polygon_id).code_cs == "CS2.2.1"
    assert errors == []


def test_on_a_phone_the_map_comes_first_and_a_polygon_opens_as_a_bottom_sheet(
    live_server, world, browser_page, settings
):
    """390 × 844, touch: the map fills the width, a tapped polygon's panel slides up from the
    bottom with « Signaler une erreur » in reach, the form offers the camera, and « Me
    localiser » takes the map to where the phone is."""
    settings.ORTHO_WMTS_URL = ""
    to_wgs84 = Transformer.from_crs(2154, 4326, always_xy=True).transform
    lon, lat = to_wgs84(X0 + 150, Y0 + 150)
    here_lon, here_lat = to_wgs84(X0 + 350, Y0 + 350)  # the phone, in square (3, 3)
    context = browser_page.context.browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="fr-FR",
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": here_lat, "longitude": here_lon},
        permissions=["geolocation"],
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_login(page, live_server.url, "contributor_in")
    page.goto(f"{live_server.url}/departements/98/carte/?z=17&lat={lat}&lon={lon}&v=M2")
    page.wait_for_selector("#map[data-ready='1']")
    box = page.locator("#map").bounding_box()
    assert box["width"] >= 370 and box["height"] >= 320  # was 0 px wide
    page.tap("#map", position={"x": box["width"] / 2, "y": box["height"] / 2})
    expect(page.locator("#report-open")).to_be_visible()
    sheet = page.locator("#polygon-panel").bounding_box()
    assert sheet["y"] >= 844 * 0.4 and sheet["y"] + sheet["height"] <= 844 + 1
    button = page.locator("#report-open").bounding_box()
    assert button["y"] + button["height"] <= 844 and page.evaluate("window.scrollY") == 0
    page.tap("#report-open")
    camera = page.locator("#report-camera")
    expect(camera).to_be_visible()
    assert camera.get_attribute("capture") == "environment"
    page.tap("#panel-close")
    page.tap("#locate-me")
    page.wait_for_selector("#map[data-located='1']")
    page.wait_for_timeout(500)  # the view is saved in the address after the move
    view = dict(p.split("=") for p in page.url.split("?")[1].split("&"))
    assert float(view["lat"]) == pytest.approx(here_lat, abs=1e-4)
    assert float(view["lon"]) == pytest.approx(here_lon, abs=1e-4)
    assert errors == []
    context.close()


def test_the_queue_map_shows_the_current_signalement_in_its_colours_m1_and_m2(
    live_server, world, browser_page, settings
):
    """Pixel checks: beside the current signalement's marker, its polygon in the colour of
    its vintage's CS — M2's built square (0, 0) — then, switched to M1, the grass it was."""
    from io import BytesIO

    from PIL import Image

    from .helpers import file, grass_polygon

    settings.ORTHO_WMTS_URL = ""
    built = grass_polygon(world, 0, 0)  # built in M2
    file(world, polygon_id=built.pk, cs="CS1.1.1.2", us="US5")
    page = browser_page
    browser_login(page, live_server.url, "operator")
    page.goto(f"{live_server.url}/departements/98/signalements/")
    page.wait_for_selector("#queue-map[data-ready='1']")
    page.wait_for_load_state("networkidle")

    def pixels():
        """(beside the marker, the map's background in its bottom-left corner)."""
        box = page.locator("#queue-map").bounding_box()
        image = Image.open(BytesIO(page.locator("#queue-map").screenshot())).convert("RGB")
        scale = image.width / box["width"]
        # The map is centred on the marker; 40 px to its right is still the 100 m square.
        beside = (int((box["width"] / 2 + 40) * scale), int(box["height"] / 2 * scale))
        return image.getpixel(beside), image.getpixel((3, image.height - 3))

    def beside_marker():
        # Once the tiles have faded in: the same pixel twice, a quarter second apart.
        last = None
        for _ in range(20):
            now = pixels()[0]
            if now == last:
                return now
            last = now
            page.wait_for_timeout(250)
        return last

    from apps.landcover.models import CoverCode

    colours = dict(CoverCode.objects.values_list("code", "colour"))

    def drawn_as(pixel):
        """The CS whose colour, drawn at 0.8 (layer) × 0.8 (fill) opacity over the map's
        background, is nearest the pixel (browsers blend within a few units)."""
        background = pixels()[1]

        def seen(colour):
            rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
            return [0.36 * b + 0.64 * c for b, c in zip(background, rgb, strict=True)]

        def distance(code):
            return sum((a - b) ** 2 for a, b in zip(pixel, seen(colours[code]), strict=True))

        return min(colours, key=distance)

    expect(page.locator(".leaflet-popup-content")).to_contain_text("CS1.1.1.1 / US5")
    page.wait_for_timeout(300)
    assert drawn_as(beside_marker()) == "CS1.1.1.1"  # M2: built
    page.locator(".leaflet-control-layers label", has_text="M1 2021").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    assert drawn_as(beside_marker()) == "CS2.2.1"  # M1: grass
