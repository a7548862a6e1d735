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
