"""pyogrio is imported without its data-frame probe (pandas and geopandas are 0.15–0.35 s of
every file command's start), and its data-frame API still works for whoever calls it."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLAGS = ["HAS_GEOPANDAS", "PANDAS_GE_15", "PANDAS_GE_20", "PANDAS_GE_22", "PANDAS_GE_30"]


def _python(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_pyogrio_loads_without_pandas_and_geopandas_and_keeps_their_flags(tmp_path):
    flags = f"{{n: getattr(pyogrio.geopandas, n) for n in {FLAGS!r}}}"
    plain = _python(f"import json, pyogrio, pyogrio.geopandas; print(json.dumps({flags}))")
    ours = _python(
        "import json, sys\n"
        "from ocsge.ogr import pyogrio\n"
        "import pyogrio.geopandas\n"
        "loaded = sorted(m for m in ('pandas', 'geopandas') if m in sys.modules)\n"
        f"print(json.dumps({{'loaded': loaded, 'flags': {flags}}}))"
    )
    assert ours["loaded"] == []
    assert ours["flags"] == plain
    # This environment has both (the tests read files with them): the flags are not all off.
    assert plain["HAS_GEOPANDAS"] is True and plain["PANDAS_GE_20"] is True


def test_the_data_frame_api_still_reads_a_file_after_the_lean_import(tmp_path):
    path = tmp_path / "points.gpkg"
    read = _python(
        "import json, numpy as np, shapely\n"
        "from ocsge.ogr import pyogrio\n"
        f"path = {str(path)!r}\n"
        "pyogrio.raw.write(path, np.array([shapely.Point(1, 2).wkb], dtype=object),\n"
        "    [np.array([7])], ['n'], driver='GPKG', geometry_type='Point', crs='EPSG:2154')\n"
        "frame = pyogrio.read_dataframe(path)\n"
        "print(json.dumps({'n': frame['n'].tolist(), 'epsg': frame.crs.to_epsg(),\n"
        "    'wkt': frame.geometry.iloc[0].wkt}))"
    )
    assert read == {"n": [7], "epsg": 2154, "wkt": "POINT (1 2)"}
