"""`ocsge.lazy.lazy_module`: a module executed on first use, the same module afterwards."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_a_lazy_module_runs_only_when_first_used_and_is_then_the_real_one():
    out = _python(
        "import sys\n"
        "from ocsge.lazy import lazy_module\n"
        "pc = lazy_module('pyarrow.compute')\n"
        "print('_compute' if 'pyarrow._compute' in sys.modules else 'not run')\n"
        "import pyarrow as pa\n"
        "print(pc.sum(pa.array([1, 2, 4])).as_py())\n"
        "import pyarrow.compute\n"
        "print(pyarrow.compute is pc, 'pyarrow._compute' in sys.modules)\n"
    )
    assert out.splitlines() == ["not run", "7", "True True"]


def test_starting_a_file_command_does_not_run_arrows_compute_module():
    out = _python(
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'ocsge_web.settings')\n"
        "django.setup()\n"
        "import apps.landcover.gpkg, ocsge.copybin\n"
        "print('pyarrow._compute' in sys.modules)\n"
    )
    assert out.splitlines()[-1] == "False"


def test_an_unknown_module_is_refused_at_once():
    from ocsge.lazy import lazy_module

    with pytest.raises(ModuleNotFoundError):
        lazy_module("ocsge.no_such_module")
