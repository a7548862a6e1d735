"""Faults: a database connection lost mid-request, Redis down, Celery workers killed in the
middle of an import and of an inference block. Nothing half-written, nothing duplicated,
nothing lost."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from django.core.files import File
from django.db import connection
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from apps.inference import orchestration
from apps.inference.models import InferenceBlock, InferenceRun
from apps.landcover import partitions
from apps.landcover.models import ImportJob, LandCoverPolygon, PolygonRevision, Vintage
from apps.ops.dispatch import redispatch
from apps.ops.models import DeferredTask
from apps.signalements import decisions
from apps.signalements.models import Signalement
from apps.signalements.transitions import Status
from ocsge_web.celery import app

from .helpers import file, inference_run, login, post_filing

ROOT = Path(__file__).resolve().parent.parent
REDIS = "redis://127.0.0.1:6379/14"
DOWN = "redis://127.0.0.1:6399/0"  # nothing listens there


def _redis_or_skip():
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")


@contextlib.contextmanager
def broker(url):
    """This process's Celery app publishing to `url` (not eagerly)."""
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=url, result_backend=None, task_always_eager=False)
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.update(**saved)


def _dsn():
    db = connection.settings_dict
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} "
        f"dbname={db['NAME']}"
    )


# --- the database connection lost in the middle of a request -----------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_database_connection_lost_mid_request_gives_a_clean_503_and_writes_nothing(
    live_server, world, monkeypatch
):
    s = file(world)
    polygon = LandCoverPolygon.objects.get(pk=s.polygon_id)
    real = decisions.update_derived

    def connection_dies(departement, polygon_ids):
        # Inside the decision's transaction, after the revision is written: the server
        # drops this request's connection (as a failover or a restart would).
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        with psycopg.connect(_dsn(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return real(departement, polygon_ids)

    monkeypatch.setattr(decisions, "update_derived", connection_dies)
    client = Client()
    client.force_login(world["users"]["operator"])
    token = _get_new_csrf_string()
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": token}
    with httpx.Client(base_url=live_server.url, cookies=cookies, timeout=60) as http:
        response = http.post(
            f"/api/signalements/{s.pk}/accept/", headers={"X-CSRFToken": token}, json={}
        )
        assert response.status_code == 503
        assert "rien n'a été enregistré" in response.json()["detail"]
        assert response.headers["Retry-After"]
        # Nothing of the decision was written.
        s.refresh_from_db()
        assert s.status == Status.SUBMITTED
        assert not PolygonRevision.objects.filter(polygon_id=polygon.pk).exists()
        polygon.refresh_from_db()
        assert (polygon.code_cs, polygon.revision) == ("CS2.2.1", 1)
        # The next request gets a new connection and the decision goes through.
        monkeypatch.setattr(decisions, "update_derived", real)
        response = http.post(
            f"/api/signalements/{s.pk}/accept/", headers={"X-CSRFToken": token}, json={}
        )
        assert response.status_code == 200, response.text
    s.refresh_from_db()
    assert s.status == Status.ACCEPTED
    assert PolygonRevision.objects.filter(polygon_id=polygon.pk).count() == 1


def test_a_lost_database_on_a_page_shows_the_503_page(client, world, monkeypatch):
    from django.db import OperationalError

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("apps.signalements.views.visible_signalements", lost)
    login(client, world, "operator")
    response = client.get(f"/signalements/{file(world).pk}/")
    assert response.status_code == 503 and response["Retry-After"]
    assert "été enregistré" in response.content.decode()


# --- Redis down ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_redis_down_keeps_pages_up_and_tasks_wait_for_it(
    client, world, settings, django_capture_on_commit_callbacks
):
    _redis_or_skip()
    settings.CACHES = {
        "default": {
            "BACKEND": "ocsge_web.cache.ResilientRedisCache",
            "LOCATION": DOWN,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    code = world["m2"].departement.code
    with broker(DOWN):
        login(client, world, "contributor_in")
        with django_capture_on_commit_callbacks(execute=True):
            response = post_filing(client, world)
        assert response.status_code == 201, response.content  # rate limits not counted
        for url in (f"/departements/{code}/carte/", "/api/signalements/", "/"):
            assert client.get(url).status_code == 200, url
        login(client, world, "operator")
        pk = response.json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/signalements/{pk}/accept/", {}, content_type="application/json"
            )
        assert response.status_code == 200, response.content
        assert Signalement.objects.get(pk=pk).status == Status.ACCEPTED
        kept = sorted(DeferredTask.objects.values_list("name", flat=True))
        assert kept == [
            "apps.campaigns.tasks.mail_notification",  # the author's mail
            "apps.landcover.tasks.derived_after_correction",  # change layer, then indicators
            "apps.signalements.tasks.estimate_impact",
            "apps.signalements.tasks.propose_coherence",  # the M1 proposal
        ]
        assert redispatch() == 0  # still down: kept
        assert DeferredTask.objects.count() == 4
    # Redis is back: the kept tasks go to the queue, in order, once.
    queue = redis.Redis.from_url(REDIS)
    queue.flushdb()
    with broker(REDIS):
        assert redispatch() == 4
        assert redispatch() == 0
    assert not DeferredTask.objects.exists()
    assert queue.llen("default") == 4


# --- workers killed mid-task ---------------------------------------------------------------


def _start_worker(tmp_path, name, slow=None, sleep=60):
    db = connection.settings_dict
    env = {
        **os.environ,
        "REDIS_URL": REDIS,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "FAULT_MARK": str(tmp_path / f"{name}.mark"),
        "FAULT_SLEEP": str(sleep),
    }
    env.pop("FAULT_SLOW", None)
    if slow:
        env["FAULT_SLOW"] = slow
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fault_worker.py")],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return proc, log, tmp_path / f"{name}.mark"


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_import_leaves_nothing_and_the_import_completes_once(
    small_departement, tmp_path, settings
):
    _redis_or_skip()
    redis.Redis.from_url(REDIS).flushdb()
    settings.MEDIA_ROOT = tmp_path / "media"
    out, _ = small_departement
    tables_before = set(_staged_tables())  # (other tests' partitions: flushes keep them)
    with (out / "ocsge_M1.gpkg").open("rb") as f:
        job = ImportJob.objects.create(
            departement_code="99", departement_name="Essai", rank="M1", file=File(f, name="m1.gpkg")
        )
    # The first worker stops inside the import's transaction, every row COPYed, just before
    # the partition is attached; it is killed there.
    first, log1, mark = _start_worker(tmp_path, "first", slow="apps.landcover.partitions:attach")
    second = None
    try:
        from apps.landcover.tasks import run_import_job

        with broker(REDIS), app.connection_for_write(REDIS) as conn:
            run_import_job.apply_async(args=[job.pk], connection=conn, queue="default")
        _wait(mark.exists, 120, f"the import to start\n{log1.read_text()[-2000:]}")
        time.sleep(1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        job.refresh_from_db()
        assert job.state == ImportJob.State.RUNNING  # it died there
        _wait(lambda: not _locks_of_dead_backends(), 30, "PostgreSQL to roll the import back")
        assert not Vintage.objects.exists() and not LandCoverPolygon.objects.exists()
        # Its rows were loaded and committed beside (`partitions.BulkLoad`): their table is
        # left, nobody's partition (nothing reads it), until the next import drops it.
        (abandoned,) = set(_staged_tables()) - tables_before
        assert not _is_partition(abandoned)
        # A new worker takes the task back (acks late; visibility timeout 3 s here) and
        # runs the whole import once.
        second, log2, _ = _start_worker(tmp_path, "second")
        _wait(
            lambda: ImportJob.objects.get(pk=job.pk).state in ("done", "failed"),
            180,
            f"the import to be done again\n{log2.read_text()[-3000:]}",
        )
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
    job.refresh_from_db()
    assert job.state == ImportJob.State.DONE, job.message
    vintage = Vintage.objects.get()
    import pyogrio

    expected = pyogrio.read_info(out / "ocsge_M1.gpkg", layer="OCCUPATION_SOL")["features"]
    assert vintage.polygon_count == expected == LandCoverPolygon.objects.count()
    assert LandCoverPolygon.objects.values("ocsge_id").distinct().count() == expected
    assert set(_staged_tables()) - tables_before == {partitions.name(vintage.pk)}
    assert abandoned != partitions.name(vintage.pk)


def _is_partition(table):
    with connection.cursor() as cur:
        cur.execute("SELECT relispartition FROM pg_class WHERE relname = %s", [table])
        return cur.fetchone()[0]


def _staged_tables():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' "
            "AND relname LIKE 'landcover_landcoverpolygon_v%%' ORDER BY relname"
        )
        return [r[0] for r in cur.fetchall()]


def _locks_of_dead_backends():
    """Transactions still open on tables of the polygon family (the killed worker's)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_block_leaves_the_run_complete_and_not_duplicated(
    imagery, checkpoint, tmp_path, monkeypatch
):
    _redis_or_skip()
    redis.Redis.from_url(REDIS).flushdb()
    connection_ = None
    first, log1, mark = _start_worker(tmp_path, "first", slow="ocsge.vectorize:vectorize_classes")
    second = None
    try:
        from apps.inference import tasks

        connection_ = app.connection_for_write(REDIS)
        monkeypatch.setattr(
            orchestration,
            "_enqueue",
            lambda ids: [
                tasks.run_block.apply_async(args=[pk], connection=connection_, queue="gpu")
                for pk in ids
            ],
        )
        with broker(REDIS):
            run = orchestration.start(inference_run(imagery, checkpoint, block_px=200))
        blocks = run.blocks_total
        assert blocks >= 4
        _wait(mark.exists, 120, f"a block to start\n{log1.read_text()[-2000:]}")
        first.send_signal(signal.SIGKILL)  # in the middle of the block: classified, not saved
        first.wait(timeout=30)
        running = InferenceBlock.objects.get(run=run, state=InferenceBlock.State.RUNNING)
        assert running.polygons == 0
        second, log2, _ = _start_worker(tmp_path, "second")
        _wait(
            lambda: InferenceRun.objects.get(pk=run.pk).state in InferenceRun.FINISHED,
            240,
            f"the run to finish\n{log2.read_text()[-3000:]}",
        )
    finally:
        if connection_ is not None:
            connection_.release()
        _stop(first)
        if second is not None:
            _stop(second)
    run.refresh_from_db()
    assert run.state == InferenceRun.State.DONE, (run.message, log2.read_text()[-3000:])
    assert run.blocks_done == blocks  # each block counted once
    running.refresh_from_db()
    assert running.state == InferenceBlock.State.DONE and running.attempts == 2
    # The vintage covers the raster once: no block's polygons twice, no gap.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT sum(ST_Area(geom)), ST_Area(ST_Union(geom)), count(*), "
            "count(DISTINCT ocsge_id) FROM landcover_landcoverpolygon WHERE vintage_id = %s",
            [run.vintage_id],
        )
        total, union, n, distinct = cur.fetchone()
    assert n == distinct and total == pytest.approx(union, rel=1e-6)
    import rasterio

    with rasterio.open(imagery["rgb"]) as src:
        raster_area = src.width * src.height * abs(src.res[0] * src.res[1])
    assert union == pytest.approx(raster_area, rel=1e-3)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_coherence_proposal_is_filed_once_by_real_workers_killed_and_redelivered(world, tmp_path):
    """The accept's coherence task travels through Redis; the worker dies in the middle of
    it, another takes it up, and a duplicate delivery comes on top: one proposal."""
    from apps.ops.dispatch import dispatch
    from apps.signalements.tasks import propose_coherence

    _redis_or_skip()
    redis.Redis.from_url(REDIS).flushdb()
    s = file(world)
    first, log1, mark = _start_worker(
        tmp_path, "first", slow="apps.signalements.coherence:propose", sleep=60
    )
    second = None
    try:
        with broker(REDIS):
            decisions.apply_action(world["users"]["operator"], s.pk, "accept")  # committed
            _wait(mark.exists, 120, f"the proposal task to start\n{log1.read_text()[-2000:]}")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            assert not Signalement.objects.filter(origin=s).exists()
            dispatch(propose_coherence, s.pk, s.polygon_id)  # a duplicate on top
            second, log2, _ = _start_worker(tmp_path, "second")
            _wait(
                lambda: log2.read_text().count("propose_coherence") >= 4,  # 2 received, 2 done
                120,
                f"both deliveries\n{log2.read_text()[-3000:]}",
            )
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
    (proposal,) = Signalement.objects.filter(origin=s)
    assert proposal.vintage_id == world["m1"].pk and proposal.kind == Signalement.Kind.COHERENCE
