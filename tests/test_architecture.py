"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml) are
kept — each app imports only the apps below it, the core package `ocsge` imports no Django
and no app."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_apps_import_only_the_layers_below_them_and_the_core_imports_no_django():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_the_core_package_imports_without_django():
    code = (
        "import sys; import ocsge.vectorize, ocsge.synth, ocsge.artificialisation, "
        "ocsge.validity, ocsge.projection, ocsge.ewkb, ocsge.nomenclature; "
        "assert 'django' not in sys.modules, sorted(m for m in sys.modules if 'django' in m)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_django_starts_without_loading_celery():
    """A command or a web process that sends no task does not pay Celery's import (about
    0.15 s of every start, issue 20): the app is loaded where a task is defined or sent."""
    code = (
        "import os, sys, django; "
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'ocsge_web.settings'); "
        "django.setup(); "
        "from django.core.management import call_command; "
        "call_command('check'); "
        "loaded = sorted(m for m in ('celery', 'kombu', 'ocsge_web.celery') if m in sys.modules); "
        "assert loaded == [], loaded"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_worker_finds_our_app_with_every_task_and_beats_schedule():
    from celery.app.utils import find_app
    from celery.schedules import crontab

    import ocsge_web.celery

    app = find_app("ocsge_web")  # what `celery -A ocsge_web worker` does
    assert app is ocsge_web.celery.app
    app.loader.import_default_modules()
    for name in (
        "apps.campaigns.tasks.daily_digest",
        "apps.campaigns.tasks.send_outbox",
        "apps.campaigns.tasks.mail_notification",
        "apps.ops.tasks.redispatch_deferred",
        "apps.inference.tasks.run_block",
        "apps.landcover.tasks.refresh_tile",
        "apps.signalements.tasks.estimate_impact",
    ):
        assert name in app.tasks, name
    schedule = app.conf.beat_schedule
    assert schedule["daily-digest"]["schedule"] == crontab(hour=7, minute=0)
    assert schedule["daily-digest"]["task"] == "apps.campaigns.tasks.daily_digest"
    assert schedule["redispatch-deferred"]["schedule"] == 60.0
