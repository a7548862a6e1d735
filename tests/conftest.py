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
    """A generated département (M1, M2, territories), shared by the whole session; its
    vintages carry IGN-style artificialisation flags, as recent deliveries do."""
    out = tmp_path_factory.mktemp("dep99")
    result = synth.generate(out, code="99", size_km=4, seed=7, log=lambda *_: None, ign_artif=True)
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
        # French, as the platform's users: Chromium would ask for English otherwise.
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="fr-FR")
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


# --- the cast: one user per role, the same in every test ---------------------------------


def _cast(here, territory_communes):
    """Département `here` (98) and 97, their organisations, one user per role:
    `contributor_in` and `colleague` (an agence d'urbanisme of 98's communes),
    `contributor_out` (an agence of 97), `operator` and `operator2` (the production lead,
    role manager) of IGN 98, `operator_out` of IGN 97, `reviewer` (DDT 98),
    `platform_admin` (the admin role, no superuser flag), `admin` (a superuser) and
    `anonymous` (None)."""
    from django.contrib.auth import get_user_model

    from apps.territories.models import Departement, Membership, Organisation, Role

    other = Departement.objects.create(code="97", name="Ailleurs")
    orgs = {
        "agence": Organisation.objects.create(name="Agence 98", kind="agence_urbanisme"),
        "agence_out": Organisation.objects.create(name="Agence 97", kind="agence_urbanisme"),
        "ign": Organisation.objects.create(name="IGN 98", kind="ign"),
        "ign_out": Organisation.objects.create(name="IGN 97", kind="ign"),
        "ddt": Organisation.objects.create(name="DDT 98", kind="ddt"),
        "platform": Organisation.objects.create(name="Plateforme", kind="ign"),
    }
    orgs["agence"].communes.add(*territory_communes)
    orgs["agence_out"].departements.add(other)
    orgs["ign"].departements.add(here)
    orgs["ign_out"].departements.add(other)
    orgs["ddt"].departements.add(here)
    User = get_user_model()
    users = {"anonymous": None}
    for name, org, role in [
        ("contributor_in", "agence", Role.CONTRIBUTOR),
        ("colleague", "agence", Role.CONTRIBUTOR),
        ("contributor_out", "agence_out", Role.CONTRIBUTOR),
        ("operator", "ign", Role.OPERATOR),
        ("operator2", "ign", Role.MANAGER),
        ("operator_out", "ign_out", Role.OPERATOR),
        ("reviewer", "ddt", Role.REVIEWER),
        ("platform_admin", "platform", Role.ADMIN),
    ]:
        users[name] = User.objects.create_user(name, password="pw-123456")
        Membership.objects.create(user=users[name], organisation=orgs[org], role=role)
    users["admin"] = User.objects.create_superuser("admin", password="pw-123456")
    return {"users": users, "orgs": orgs, "here": here, "other": other}


@pytest.fixture
def cast(db):
    """The cast (`_cast`) over a bare département 98 of one commune, with an empty M1: for
    rules that read no polygon."""
    from apps.landcover.models import Vintage
    from apps.territories.models import Commune, Departement

    here = Departement.objects.create(code="98", name="Ici")
    commune = Commune.objects.create(
        code="98001",
        name="Ici-Bourg",
        departement=here,
        geom=MultiPolygon(Polygon.from_bbox((0, 0, 10, 10)), srid=2154),
    )
    m1 = Vintage.objects.create(departement=here, rank="M1", millesime=2021, source="import")
    return {**_cast(here, [commune]), "m1": m1}


@pytest.fixture
def world(square_vintages, square_departement):
    """The cast (`_cast`) over the square département 98 (`square_vintages`), its M2 open
    for feedback."""
    from apps.landcover.models import Vintage

    m1, m2 = square_vintages
    Vintage.objects.filter(pk=m2.pk).update(feedback_open=True)
    cast = _cast(square_departement, square_departement.communes.all())
    return {**cast, "m1": m1, "m2": Vintage.objects.get(pk=m2.pk)}


# --- inference: imagery and a model ------------------------------------------------------


@pytest.fixture(scope="module")
def imagery(small_departement, tmp_path_factory):
    """Synthetic photos of the small generated département at 10 m (about 400 × 400 px)."""
    from apps.inference.ml.synthetic import render_geopackage

    out, _ = small_departement
    folder = tmp_path_factory.mktemp("imagery")
    result = render_geopackage(
        out / "ocsge_M1.gpkg", folder, res=10.0, block=256, log=lambda *_: None
    )
    return result["paths"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained U-Net (seeded) saved as a checkpoint of 17 classes, 5 bands."""
    import torch

    from apps.inference.ml.checkpoint import ModelMeta, save_checkpoint
    from apps.inference.ml.unet import UNet

    torch.manual_seed(3)
    model = UNet("resnet18", 5, 17)
    meta = ModelMeta(
        encoder="resnet18",
        classes=[(i, f"c{i}") for i in range(1, 18)],
        mean=[120, 120, 120, 120, 50],
        std=[50, 50, 50, 50, 30],
        tile_size=256,
    )
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", model, meta)


# --- larger worlds -----------------------------------------------------------------------


@pytest.fixture
def generated(small_departement):
    """The generated 4 km département (about 1,500 polygons a vintage, 3 communes) loaded,
    with its change layer and indicators."""
    from django.core.management import call_command

    from apps.artif.compute import compute_departement
    from apps.landcover.difference import compute_difference
    from apps.landcover.gpkg import import_ocsge
    from apps.territories.models import Departement

    out, _ = small_departement
    call_command("load_territories", str(out / "territoires.gpkg"))
    m1 = import_ocsge(out / "ocsge_M1.gpkg", "99", "M1")
    m2 = import_ocsge(out / "ocsge_M2.gpkg", "99", "M2")
    dep = Departement.objects.get(code="99")
    compute_difference(dep)
    compute_departement(dep)
    return dep, m1, m2


@pytest.fixture
def campaign(request, square_departement):
    """The signalements' world with e-mail addresses, both loops closed, and a plan."""
    from django.contrib.auth import get_user_model
    from django.db.models import Value
    from django.db.models.functions import Concat

    from apps.campaigns.calendar import create_plan
    from apps.landcover.models import Vintage

    from .helpers import START

    base = request.getfixturevalue("world")
    User = get_user_model()
    User.objects.update(email=Concat("username", Value("@example.org")))
    Vintage.objects.filter(departement=square_departement).update(feedback_open=False)
    plan = create_plan(square_departement, START)
    return {**base, "plan": plan}


@pytest.fixture
def published(campaign, settings, tmp_path, django_capture_on_commit_callbacks):
    """The test département published: two decisions on M2, the difference computed, the
    package built (files under `tmp_path`)."""
    from apps.campaigns import publication
    from apps.campaigns.models import Publication
    from apps.landcover.difference import compute_difference

    from .helpers import decide_some

    settings.MEDIA_ROOT = tmp_path
    decide_some(campaign, django_capture_on_commit_callbacks)
    dep = campaign["plan"].departement
    compute_difference(dep)
    with django_capture_on_commit_callbacks(execute=True):
        publication.publish(dep, campaign["users"]["operator2"])
    pub = Publication.objects.get(departement=dep)
    assert pub.state == Publication.State.DONE
    return pub


def pytest_collection_modifyitems(items):
    """A transactional test flushes the database when it ends; without
    `serialized_rollback=True` the flush writes the content types again under new ids, and
    the next test that reloads the serialized database fails on them (duplicate key). Every
    transactional test is therefore asked to restore what it found."""
    wrong = [
        item.nodeid
        for item in items
        for mark in item.iter_markers("django_db")
        if mark.kwargs.get("transaction") and not mark.kwargs.get("serialized_rollback")
    ]
    if wrong:
        raise pytest.UsageError(
            "transactional tests without serialized_rollback=True: " + ", ".join(wrong)
        )
