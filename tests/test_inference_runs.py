"""Inference orchestration: blocks through Celery (eagerly here), idempotent retries,
assembly into a draft vintage, bad inputs."""

import io
import re
import shutil

import pytest
import rasterio
import shapely
from django.core.management import CommandError, call_command

from apps.inference import orchestration
from apps.inference.ml.checkpoint import ModelMeta, save_checkpoint
from apps.inference.ml.unet import UNet
from apps.inference.models import BlockPolygon, InferenceBlock, InferenceRun
from apps.landcover.models import CoverCode, LandCoverPolygon, Vintage
from apps.territories.models import Departement

from .helpers import inference_run

pytestmark = pytest.mark.django_db


def test_a_run_classifies_every_block_and_assembles_a_draft_vintage(
    imagery, checkpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    run.refresh_from_db()
    assert run.state == InferenceRun.State.DONE, run.message
    assert run.blocks_total == run.blocks_done >= 4
    vintage = run.vintage
    assert (vintage.state, vintage.source, vintage.rank) == ("draft", "inference", "M1")
    polygons = LandCoverPolygon.objects.filter(vintage=vintage)
    assert polygons.count() == vintage.polygon_count > 0
    assert not BlockPolygon.objects.exists()  # staging emptied
    # A coverage of the whole raster: no gap, no overlap, valid polygons, known codes.
    with rasterio.open(imagery["rgb"]) as ds:
        extent = shapely.box(*ds.bounds)
    geoms = [shapely.from_wkb(bytes(p.geom.wkb)) for p in polygons]
    assert all(g.is_valid for g in geoms)
    union = shapely.union_all(geoms)
    assert union.area == pytest.approx(extent.area, rel=1e-6)
    assert sum(g.area for g in geoms) == pytest.approx(extent.area, rel=1e-6)
    known = set(CoverCode.objects.values_list("code", flat=True)) | {""}
    assert set(polygons.values_list("code_cs", flat=True)) <= known
    assert set(polygons.values_list("code_us", flat=True)) == {"US6.6"}
    confidences = list(polygons.values_list("confidence", flat=True))
    assert all(0.0 <= c <= 1.0 for c in confidences)
    # No polygon is cut along a block seam: merging left one polygon per connected patch.
    seams = orchestration._seams(run)
    assert not seams.is_empty
    same_class_touching_across = 0
    by_value = {}
    for p, g in zip(polygons, geoms, strict=True):
        by_value.setdefault(p.model_class, []).append(g)
    for group in by_value.values():
        tree = shapely.STRtree(group)
        for i, g in enumerate(group):
            for j in tree.query(g, predicate="touches"):
                if j > i and shapely.intersection(g, group[j]).length > 0:
                    same_class_touching_across += 1
    assert same_class_touching_across == 0


def test_a_retried_or_duplicated_block_never_duplicates_polygons(imagery, checkpoint, monkeypatch):
    from apps.inference import tasks

    run = orchestration.start(inference_run(imagery, checkpoint, rank="M2"))  # blocks not delivered
    block = run.blocks.order_by("index").first()
    from ocsge import vectorize

    real, calls = vectorize.vectorize_classes, {"n": 0}

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise MemoryError("worker out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(vectorize, "vectorize_classes", crash_once)  # run_block's import
    with pytest.raises(MemoryError):
        orchestration.run_block(block.pk)
    orchestration.block_failed(block.pk, "MemoryError", final=False)  # what the task does
    assert not BlockPolygon.objects.exists()
    assert tasks.run_block.apply(args=[block.pk]).get() == "done"  # the retry
    first = BlockPolygon.objects.filter(block=block).count()
    assert first > 0
    assert orchestration.run_block(block.pk) == "skipped"  # a duplicate delivery
    assert BlockPolygon.objects.filter(block=block).count() == first
    run.refresh_from_db()
    assert run.blocks_done == 1  # counted once


def test_a_failing_block_fails_the_run_and_can_be_run_again(
    imagery, checkpoint, monkeypatch, django_capture_on_commit_callbacks
):
    calls = {"n": 0}
    real = orchestration.classify_block

    def flaky(block):
        calls["n"] += 1
        if block.index == 1 and calls["n"] < 10:
            raise OSError("disk read error")
        return real(block)

    monkeypatch.setattr(orchestration, "classify_block", flaky)
    with pytest.raises(OSError), django_capture_on_commit_callbacks(execute=True):
        run = orchestration.start(inference_run(imagery, checkpoint))
    run = InferenceRun.objects.get()
    assert run.state == InferenceRun.State.FAILED and "block 1" in run.message
    assert run.blocks.get(index=1).state == InferenceBlock.State.FAILED
    calls["n"] = 100
    with django_capture_on_commit_callbacks(execute=True):
        assert orchestration.rerun_failed(run) == 1
    # The other blocks were not delivered in the failed eager chain: send them too.
    for block in run.blocks.exclude(state=InferenceBlock.State.DONE):
        with django_capture_on_commit_callbacks(execute=True):
            orchestration.run_block(block.pk)
    run.refresh_from_db()
    assert run.state == InferenceRun.State.DONE and run.vintage.polygon_count > 0


def test_a_cancelled_run_does_no_more_blocks(imagery, checkpoint):
    run = orchestration.start(inference_run(imagery, checkpoint))
    orchestration.cancel(run)
    block = run.blocks.first()
    assert orchestration.run_block(block.pk) == "skipped"
    assert not BlockPolygon.objects.exists()


def test_bad_inputs_are_refused_before_anything_runs(imagery, checkpoint, tmp_path):
    # Rasters not aligned.
    shifted = tmp_path / "nir.tif"
    with rasterio.open(imagery["nir"]) as src:
        profile = src.profile
        data = src.read()
    profile["transform"] = profile["transform"] * profile["transform"].translation(3, 0)
    with rasterio.open(shifted, "w", **profile) as dst:
        dst.write(data)
    bad = inference_run(imagery, checkpoint)
    bad.nir = str(shifted)
    with pytest.raises(orchestration.RunRefused, match="not aligned"):
        orchestration.start(bad)
    # Wrong CRS.
    for name in ("rgb", "nir", "elevation"):
        with rasterio.open(imagery[name]) as src:
            profile, data = src.profile, src.read()
        profile["crs"] = "EPSG:3857"
        with rasterio.open(tmp_path / f"{name}3857.tif", "w", **profile) as dst:
            dst.write(data)
    wrong = inference_run(imagery, checkpoint)
    wrong.rgb, wrong.nir, wrong.elevation = (
        str(tmp_path / f"{n}3857.tif") for n in ("rgb", "nir", "elevation")
    )
    with pytest.raises(orchestration.RunRefused, match="EPSG:2154"):
        orchestration.start(wrong)
    # A checkpoint for other classes.
    other = save_checkpoint(
        tmp_path / "other.pt",
        UNet("resnet18", 5, 5),
        ModelMeta(encoder="resnet18", classes=[(i, str(i)) for i in range(1, 6)]),
    )
    with pytest.raises(orchestration.RunRefused, match="predicts classes"):
        orchestration.start(inference_run(imagery, other))
    # A missing raster.
    missing = inference_run(imagery, checkpoint)
    missing.elevation = str(tmp_path / "nothing.tif")
    with pytest.raises(orchestration.RunRefused, match="not found"):
        orchestration.start(missing)
    # A vintage of that rank in the way.
    dep = Departement.objects.get(code="99")
    Vintage.objects.create(departement=dep, rank="M1", millesime=2021, source="import")
    with pytest.raises(orchestration.RunRefused, match="a déjà un millésime M1"):
        orchestration.start(inference_run(imagery, checkpoint))
    assert not InferenceRun.objects.exists() and not InferenceBlock.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_run_inference_command_reports_the_draft_vintage(imagery, checkpoint):
    Departement.objects.create(code="99", name="Essai")
    out = io.StringIO()
    call_command(
        "run_inference",
        departement="99",
        rank="M1",
        millesime=2024,
        rgb=imagery["rgb"],
        nir=imagery["nir"],
        elevation=imagery["elevation"],
        checkpoint=checkpoint,
        block_px=512,
        device="cpu",
        stdout=out,
    )
    assert "polygons in draft vintage" in out.getvalue()
    with pytest.raises(CommandError, match="inconnu"):
        call_command(
            "run_inference",
            departement="42",
            rank="M1",
            millesime=2024,
            rgb=imagery["rgb"],
            nir=imagery["nir"],
            elevation=imagery["elevation"],
            checkpoint=checkpoint,
        )
    with pytest.raises(CommandError, match="refusée"):
        call_command(
            "run_inference",
            departement="99",
            rank="M1",
            millesime=2024,
            rgb=imagery["rgb"],
            nir=imagery["nir"],
            elevation=imagery["elevation"],
            checkpoint=checkpoint,
        )


# --- the operators' page --------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    from django.contrib.auth import get_user_model

    from apps.territories.models import Membership, Organisation, Role

    dep, _ = Departement.objects.get_or_create(code="99", defaults={"name": "Essai"})
    org = Organisation.objects.create(name="IGN 99", kind="ign")
    org.departements.add(dep)
    ddt = Organisation.objects.create(name="DDT 99", kind="ddt")
    ddt.departements.add(dep)
    users = {"anonymous": None}
    for name, organisation, role in [
        ("operator", org, Role.OPERATOR),
        ("reviewer", ddt, Role.REVIEWER),
    ]:
        users[name] = get_user_model().objects.create_user(name)
        Membership.objects.create(user=users[name], organisation=organisation, role=role)
    return users


@pytest.mark.parametrize("who, status", [("anonymous", 302), ("reviewer", 403), ("operator", 200)])
def test_inference_page_is_for_operators(client, staff, who, status):
    if staff[who]:
        client.force_login(staff[who])
    assert client.get("/departements/99/inference/").status_code == status


def test_operator_starts_a_run_from_the_page_and_follows_it(
    client, staff, imagery, checkpoint, settings, django_capture_on_commit_callbacks
):
    from pathlib import Path

    settings.DATA_DIR = Path(imagery["rgb"]).parent.parent
    shutil.copy(checkpoint, Path(imagery["rgb"]).parent / "model.pt")
    folder = Path(imagery["rgb"]).parent.name
    client.force_login(staff["operator"])
    data = {
        "rank": "M2",
        "millesime": "2024",
        "rgb": f"{folder}/rgb.tif",
        "nir": f"{folder}/nir.tif",
        "elevation": f"{folder}/elevation.tif",
        "checkpoint": f"{folder}/model.pt",
        "block_px": "512",
    }
    # The inputs are chosen from the data folder's list; the page never shows its path.
    page = client.get("/departements/99/inference/").content.decode()
    assert f'<option value="{folder}/rgb.tif">rgb.tif</option>' in page
    assert f'<option value="{folder}/model.pt">model.pt</option>' in page
    assert str(settings.DATA_DIR) not in page
    bad = client.post("/departements/99/inference/", {**data, "rgb": "../../etc/passwd"})
    assert "Choisissez un fichier ou un dossier de la liste" in bad.content.decode()
    assert str(settings.DATA_DIR) not in bad.content.decode()
    assert not InferenceRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/departements/99/inference/", data)
    assert response.status_code == 302
    run = InferenceRun.objects.get()
    state = client.get(f"/departements/99/inference/{run.pk}/etat/").json()
    assert state["state"] == "done" and state["progress"] == 1.0 and state["vintage"]
    html = client.get("/departements/99/inference/").content.decode()
    assert "polygones" in html and 'id="run-form"' in html


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_goes_through_a_real_celery_worker_on_redis(
    imagery, checkpoint, tmp_path, monkeypatch
):
    """The blocks travel through Redis to a separate worker process (queues gpu and
    default), which writes to the test database; the run ends done with its vintage."""
    import os
    import subprocess
    import sys
    import time

    import redis
    from django.db import connection

    from ocsge_web.celery import app

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    redis.Redis.from_url(url).flushdb()
    db = connection.settings_dict
    env = {
        **os.environ,
        "REDIS_URL": url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ocsge_web",
            "worker",
            "-Q",
            "gpu,default",
            "--pool",
            "solo",
            "-l",
            "info",
        ],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    # This process may hold a producer pool on the in-memory broker of the other tests: the
    # blocks are published on a connection of their own.
    from apps.inference import tasks

    connection_ = app.connection_for_write(url)

    def enqueue(ids):
        for pk in ids:
            tasks.run_block.apply_async(args=[pk], connection=connection_, queue="gpu")

    monkeypatch.setattr(orchestration, "_enqueue", enqueue)
    try:
        run = orchestration.start(inference_run(imagery, checkpoint, block_px=256))
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.state in InferenceRun.FINISHED:
                break
            time.sleep(1)
    finally:
        connection_.release()
        app.conf.update(**saved)
        worker.terminate()
        worker.wait(timeout=30)
    assert run.state == InferenceRun.State.DONE, (run.message, log.read_text()[-3000:])
    assert run.vintage.polygon_count > 0
    assert "run_block" in log.read_text() and "assemble_run" in log.read_text()


def test_the_demo_has_a_departement_produced_by_the_model(
    small_departement, checkpoint, django_capture_on_commit_callbacks
):
    out, _ = small_departement
    with django_capture_on_commit_callbacks(execute=True):  # the blocks, eagerly
        call_command("load_demo", dir=out, model=checkpoint, stdout=io.StringIO())
    vintage = Vintage.objects.get(departement__code="97", rank="M1")
    assert vintage.source == Vintage.Source.INFERENCE and vintage.polygon_count > 0
    assert InferenceRun.objects.get().state == InferenceRun.State.DONE
    again = io.StringIO()
    call_command("load_demo", dir=out, model=checkpoint, stdout=again)
    assert "already loaded" in again.getvalue() and InferenceRun.objects.count() == 1


def _run_of_98(cast, state):
    run = InferenceRun.objects.create(
        departement=cast["here"],
        rank="M1",
        millesime=2024,
        rgb="rgb.tif",
        nir="nir.tif",
        elevation="mnh.tif",
        checkpoint="model.pt",
        state=state,
        blocks_total=2,
    )
    for i, block_state in enumerate(["done", "failed" if state == "failed" else "pending"]):
        InferenceBlock.objects.create(
            run=run, index=i, col_off=0, row_off=0, width=1, height=1, state=block_state
        )
    return run


def _states(run):
    run.refresh_from_db()
    return run.state, sorted(run.blocks.values_list("state", flat=True))


# who -> HTTP status of cancel and re-run on département 98's runs (302: done, back to the page)
RUN_ACTIONS = {
    "anonymous": 404,
    "contributor_in": 403,
    "reviewer": 403,
    "operator_out": 404,
    "operator": 302,
    "operator2": 302,
    "platform_admin": 302,
}


@pytest.mark.parametrize("who", list(RUN_ACTIONS))
def test_only_the_departements_operators_cancel_or_rerun_a_run(
    client, cast, who, django_capture_on_commit_callbacks
):
    if cast["users"][who]:
        client.force_login(cast["users"][who])
    running, failed = _run_of_98(cast, "running"), _run_of_98(cast, "failed")
    base = "/departements/98/inference"
    assert client.post(f"{base}/{running.pk}/cancel/").status_code == RUN_ACTIONS[who]
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(f"{base}/{failed.pk}/rerun/").status_code == RUN_ACTIONS[who]
    if RUN_ACTIONS[who] == 302:
        assert _states(running) == ("cancelled", ["done", "pending"])
        assert _states(failed) == ("running", ["done", "pending"])
    else:
        assert _states(running) == ("running", ["done", "pending"])
        assert _states(failed) == ("failed", ["done", "failed"])


@pytest.mark.parametrize("state", ["cancelled", "done", "running"])
def test_only_a_failed_run_is_rerun(client, cast, state):
    run = _run_of_98(cast, state)
    before = _states(run)
    client.force_login(cast["users"]["operator"])
    response = client.post(f"/departements/98/inference/{run.pk}/rerun/", follow=True)
    assert "Seule une inférence en échec se relance" in response.content.decode()
    assert _states(run) == before


def test_the_page_lists_the_data_folder_and_never_shows_a_server_path(
    client, staff, settings, tmp_path
):
    """Rasters and dalle folders of DATA_DIR, by folder (a large dalle set once, as a folder),
    checkpoints apart; a refusal names files relative to the folder."""
    from apps.inference import views

    settings.DATA_DIR = tmp_path
    (tmp_path / "ortho" / "D032").mkdir(parents=True)
    for k in range(25):
        (tmp_path / "ortho" / "D032" / f"dalle_{k:02d}.jp2").write_bytes(b"")
    (tmp_path / "mnt").mkdir()
    (tmp_path / "mnt" / "alti.asc").write_bytes(b"")
    (tmp_path / "modeles").mkdir()
    (tmp_path / "modeles" / "unet.pt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    rasters, checkpoints = views.data_choices()
    assert rasters == [
        ("", "—"),
        ("mnt", [("mnt/alti.asc", "alti.asc")]),
        ("ortho", [("ortho/D032", "D032/ (25 dalles)")]),
    ]
    assert checkpoints == [("", "—"), ("modeles", [("modeles/unet.pt", "unet.pt")])]
    message = f"RVB : aucune dalle (.jp2, .tif, .asc) dans {tmp_path}/ortho/D032 ni /opt/x/y.tif"
    assert views.without_server_paths(message) == (
        "RVB : aucune dalle (.jp2, .tif, .asc) dans ortho/D032 ni y.tif"
    )


def test_each_run_and_model_shows_its_iou_per_class(client, staff, checkpoint):
    from apps.inference.models import InferenceRun, ModelVersion
    from apps.landcover.models import ModelClass
    from apps.territories.models import Departement

    ModelClass.objects.update_or_create(id=1, defaults={"label": "bâtiment"})
    ModelClass.objects.update_or_create(id=10, defaults={"label": "feuillus"})
    version = ModelVersion.objects.create(
        name="affiné 99",
        checkpoint="/models/affine99.pt",
        metrics={
            "before": {"miou": 0.5, "iou": {"1": 0.61, "10": 0.4}},
            "after": {"miou": 0.7, "iou": {"1": 0.62, "10": 0.78}},
        },
    )
    InferenceRun.objects.create(
        departement=Departement.objects.get(code="99"),
        rank="M2",
        millesime=2024,
        rgb="/x/rgb.tif",
        nir="/x/nir.tif",
        elevation="/x/e.tif",
        model_version=version,
        created_by=staff["operator"],
    )
    client.force_login(staff["operator"])
    page = client.get("/departements/99/inference/").content.decode()
    assert "Modèle « affiné 99 » : IoU par classe" in page
    rows = re.findall(
        r"<tr><td>(\d+ — [^<]+)</td><td class=\"num\">([\d,]+)</td>"
        r"<td class=\"num\">([\d,]+)</td></tr>",
        page,
    )
    assert rows[:2] == [("1 — bâtiment", "0,620", "0,610"), ("10 — feuillus", "0,780", "0,400")]
