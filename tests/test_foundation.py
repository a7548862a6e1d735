"""Settings, Celery set-up, models and scoping of the foundation."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from apps.landcover.models import (
    CoverCode,
    CoverUsePair,
    LandCoverPolygon,
    ModelClass,
    PolygonRevision,
    UseCode,
    Vintage,
)
from apps.territories.models import (
    Commune,
    Departement,
    Membership,
    Organisation,
    Region,
    Role,
)
from apps.territories.permissions import Right, departements_where
from ocsge_web.env import redis_reachable

ROOT = Path(__file__).resolve().parent.parent


def _run_settings(env):
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'ocsge_web.settings'); from django.conf import settings; "
        "print(settings.CELERY_TASK_ALWAYS_EAGER, settings.DEBUG)"
    )
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DEBUG", "SECRET_KEY")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )


def test_tasks_run_eagerly_without_a_broker():
    assert _run_settings({}).stdout.split() == ["True", "True"]


def test_tasks_run_eagerly_when_the_broker_does_not_answer():
    result = _run_settings({"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.stdout.split()[0] == "True"
    assert not redis_reachable("redis://127.0.0.1:1/0")


def test_tasks_go_to_redis_when_it_answers():
    if not redis_reachable("redis://127.0.0.1:6379/15"):
        pytest.skip("no local Redis")
    assert _run_settings({"REDIS_URL": "redis://127.0.0.1:6379/15"}).stdout.split()[0] == "False"


def test_secret_key_is_required_when_debug_is_off():
    result = _run_settings({"DEBUG": "false"})
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
    ok = _run_settings({"DEBUG": "false", "SECRET_KEY": "x" * 50})
    assert ok.stdout.split() == ["True", "False"]


@pytest.mark.django_db
def test_the_platforms_connections_compile_no_statement_with_jit():
    """PostgreSQL's JIT compiled the incremental difference of one correction (5 ms of work,
    its cost misestimated) for 0.9 s; the app's connections turn it off."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW jit")
        assert cur.fetchone()[0] == "off"


def _compose_client() -> list[str] | None:
    """Docker's `docker compose` plugin, else Compose v1 (`docker-compose`, from Debian)."""
    plugin = ["docker", "compose", "version"]
    if shutil.which("docker") and subprocess.run(plugin, capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_file_is_valid():
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client installed")
    result = subprocess.run(
        [*client, "config", "--quiet"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "x"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_validation_catches_a_broken_file(tmp_path):
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client installed")
    broken = tmp_path / "docker-compose.yml"
    text = (ROOT / "docker-compose.yml").read_text()
    broken.write_text(
        text.replace("  gpu-worker:", "  gpu-worker:\n    restart: 42\n    ports: 8000", 1)
    )
    result = subprocess.run(
        [*client, "-f", str(broken), "--project-directory", str(ROOT), "config", "--quiet"],
        env={**os.environ, "SECRET_KEY": "x"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_compose_file_declares_the_production_services():
    import yaml

    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"db", "redis", "web", "worker", "gpu-worker"} <= set(spec["services"])
    gpu = spec["services"]["gpu-worker"]
    assert "-Q gpu" in gpu["command"] and "--prefetch-multiplier 1" in gpu["command"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"


@pytest.mark.django_db
def test_nomenclature_is_loaded_by_the_data_migration():
    assert CoverCode.objects.count() == 14
    assert CoverCode.objects.get(code="CS1.1.1.1").colour == "#ff377a"
    assert UseCode.objects.count() == 20
    assert ModelClass.objects.count() == 17
    assert ModelClass.objects.get(id=17).cover is None
    assert ModelClass.objects.get(id=9).cover_id == "CS2.1.1.2"
    assert CoverUsePair.objects.filter(cover="CS2.1.1.1", use="US1.2").exists()
    assert not CoverUsePair.objects.filter(cover="CS1.2.3", use="US5").exists()


def _square(x=700_000, y=6_600_000, size=100):
    return MultiPolygon(Polygon.from_bbox((x, y, x + size, y + size)), srid=2154)


@pytest.fixture
def polygon(db):
    dep = Departement.objects.create(code="98", name="Carré")
    vintage = Vintage.objects.create(
        departement=dep, rank="M1", millesime=2021, source=Vintage.Source.IMPORT
    )
    geom = _square()
    return LandCoverPolygon.objects.create(
        vintage=vintage,
        ocsge_id="OCSGE1",
        code_cs="CS2.2.1",
        code_us="US1.1",
        geom=geom,
    )


def test_vintage_states_follow_the_transition_table(polygon):
    vintage = polygon.vintage
    with pytest.raises(ValidationError):
        vintage.transition(Vintage.State.PUBLISHED)
    for state in ("in_review", "corrected", "published"):
        vintage.transition(state)
    assert vintage.state == "published"
    with pytest.raises(ValidationError):
        vintage.transition(Vintage.State.DRAFT)


def test_only_one_vintage_per_rank_and_departement(polygon):
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017  IntegrityError
        Vintage.objects.create(
            departement=polygon.vintage.departement, rank="M1", millesime=2022, source="import"
        )


def test_polygon_revisions_are_append_only(polygon):
    rev = PolygonRevision.objects.create(
        polygon=polygon,
        revision=2,
        code_cs_before="CS2.2.1",
        code_us_before="US1.1",
        code_cs_after="CS1.1.1.1",
        code_us_after="US5",
        geom_before=polygon.geom,
        geom_after=polygon.geom,
        cause=PolygonRevision.Cause.CORRECTION,
    )
    with pytest.raises(ValidationError):
        rev.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        PolygonRevision.objects.filter(pk=rev.pk).update(code_cs_after="CS1.2.1")
    assert PolygonRevision.objects.get(pk=rev.pk).code_cs_after == "CS1.1.1.1"


@pytest.mark.django_db
def test_territory_scoping_follows_memberships():
    User = get_user_model()
    reg = Region.objects.create(code="93", name="Région")
    d1 = Departement.objects.create(code="91", name="Un", region=reg)
    d2 = Departement.objects.create(code="92", name="Deux", region=reg)
    d3 = Departement.objects.create(code="07", name="Autre")
    commune = Commune.objects.create(code="92001", name="Ville", departement=d2, geom=_square())
    dreal = Organisation.objects.create(name="DREAL", kind="dreal")
    dreal.regions.add(reg)
    mairie = Organisation.objects.create(name="Mairie", kind="collectivite")
    mairie.communes.add(commune)
    ign = Organisation.objects.create(name="IGN", kind="ign")
    ign.departements.add(d1)
    users = {
        name: User.objects.create(username=name)
        for name in ("reviewer", "contrib", "operator", "nobody", "admin")
    }
    Membership.objects.create(user=users["reviewer"], organisation=dreal, role=Role.REVIEWER)
    Membership.objects.create(user=users["contrib"], organisation=mairie, role=Role.CONTRIBUTOR)
    Membership.objects.create(user=users["operator"], organisation=ign, role=Role.OPERATOR)
    Membership.objects.create(user=users["admin"], organisation=ign, role=Role.ADMIN)
    codes = lambda u, *a: sorted(departements_where(u, *a).values_list("code", flat=True))  # noqa: E731
    assert codes(users["reviewer"]) == ["91", "92"]
    assert codes(users["contrib"]) == ["92"]
    assert codes(users["operator"]) == ["91"]
    assert codes(users["operator"], Right.FILE) == []
    assert codes(users["nobody"]) == []
    assert codes(users["admin"]) == ["07", "91", "92"]
    assert d3.code in codes(users["admin"])


def test_mercator_copy_and_area_follow_geom_on_every_write(polygon):
    polygon.refresh_from_db()
    assert polygon.area == pytest.approx(100 * 100)
    assert polygon.geom_3857.srid == 3857
    expected = polygon.geom.transform(3857, clone=True)
    assert polygon.geom_3857.centroid.distance(expected.centroid) < 0.01
    LandCoverPolygon.objects.filter(pk=polygon.pk).update(geom=_square(size=50))
    polygon.refresh_from_db()
    assert polygon.area == pytest.approx(50 * 50)
    moved = _square(size=50).transform(3857, clone=True)
    assert polygon.geom_3857.area == pytest.approx(moved.area, rel=1e-9)


def test_deploy_check_is_clean_with_production_settings():
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "ocsge.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
