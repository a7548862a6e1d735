import os

import numpy as np
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon

from ocsge import synth


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Test accounts hash their passwords with MD5: PBKDF2's million iterations cost about
    0.4 s an account, seconds per test for the fixtures that create one per role."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def small_departement(tmp_path_factory):
    """A generated département (M1, M2, territories), shared by the whole session."""
    out = tmp_path_factory.mktemp("dep99")
    result = synth.generate(out, code="99", size_km=4, seed=7, log=lambda *_: None)
    return out, result


def write_gpkg(path, geoms, crs="EPSG:2154", layer="OCCUPATION_SOL", append=False, **columns):
    """Write a tiny GeoPackage layer from shapely geometries and column lists."""
    geoms = np.asarray(geoms, dtype=object)
    names = list(columns)
    arrays = [
        np.asarray(v, dtype=object if isinstance(v[0], str) else None) for v in columns.values()
    ]
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(geoms),
        arrays,
        names,
        layer=layer,
        driver="GPKG",
        geometry_type=geoms[0].geom_type,
        crs=crs,
        append=append,
    )
    return path


X0, Y0 = 700_000.0, 6_600_000.0  # south-west corner of the squares of `square_rows()`


def square_rows(n=4, size=100.0, x0=X0, y0=Y0, cs="CS2.2.1", us="US1.1"):
    """n×n squares of `size` metres tiling a square, with OCS GE columns."""
    geoms = [
        shapely.box(x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)
        for i in range(n)
        for j in range(n)
    ]
    k = len(geoms)
    return geoms, {
        "id": [f"OCSGE{i + 1:016d}" for i in range(k)],
        "code_cs": [cs] * k,
        "code_us": [us] * k,
        "millesime": [2021] * k,
    }


@pytest.fixture
def square_departement(db):
    """Département 98 whose territory is the 400 m square of `square_rows()`."""
    from apps.territories.models import Departement

    geom = GEOSGeometry(shapely.box(700_000, 6_600_000, 700_400, 6_600_400).wkt, srid=2154)
    return Departement.objects.create(code="98", name="Carré", geom=MultiPolygon(geom, srid=2154))


@pytest.fixture
def square_vintages(square_departement, tmp_path):
    """Département 98: M1 = 16 squares of grass; M2 = the same, except
    square (0, 0) built (same boundary, other codes) and squares (3, 0)+(3, 1) merged into
    one forest rectangle (new boundary, other codes)."""
    geoms, cols = square_rows()
    m1 = write_gpkg(tmp_path / "m1.gpkg", geoms, **cols)
    n = len(geoms)  # geoms[i * 4 + j] is the square (i, j)
    changed = {0: ("CS1.1.1.1", "US5")}
    merged = shapely.box(X0 + 300, Y0, X0 + 400, Y0 + 200)
    keep = [k for k in range(n) if k not in (12, 13)]
    geoms2 = [geoms[k] for k in keep] + [merged]
    cs2 = [changed.get(k, ("CS2.2.1", "US1.1"))[0] for k in keep] + ["CS2.1.1.1"]
    us2 = [changed.get(k, ("CS2.2.1", "US1.1"))[1] for k in keep] + ["US1.2"]
    ids2 = [f"OCSGE2{k:015d}" for k in range(len(geoms2))]
    m2 = write_gpkg(
        tmp_path / "m2.gpkg",
        geoms2,
        id=ids2,
        code_cs=cs2,
        code_us=us2,
        millesime=[2024] * len(geoms2),
    )
    from apps.landcover.gpkg import import_ocsge
    from apps.territories.models import Commune

    v1 = import_ocsge(m1, "98", "M1")
    v2 = import_ocsge(m2, "98", "M2")
    Commune.objects.create(
        code="98001",
        name="Étréchy-sur-Carré",
        departement=square_departement,
        geom=MultiPolygon(Polygon.from_bbox((X0, Y0, X0 + 400, Y0 + 400)), srid=2154),
    )
    return v1, v2


@pytest.fixture(scope="session")
def live_server(django_db_setup, django_db_blocker):
    """pytest-django's live server, set up after the test database so that it stops before
    the database is dropped; its request threads close their connections after each request
    (no persistent connections left open on the test database)."""
    from django.db import connections
    from pytest_django.live_server_helper import LiveServer

    for alias in connections.settings:
        connections.settings[alias]["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock():
        server = LiveServer("localhost")
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM stays usable.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # Every browser journey also checks the Content-Security-Policy: nothing refused.
        violations = []
        page.on(
            "console",
            lambda msg: (
                violations.append(msg.text) if "Content Security Policy" in msg.text else None
            ),
        )
        yield page
        browser.close()
        # Connections opened while Playwright's loop runs live in its context: close them
        # here, or the test database cannot be dropped at the end of the session.
        from django.db import connections

        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    assert not violations, violations
