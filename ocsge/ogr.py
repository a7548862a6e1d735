"""pyogrio, imported without its data-frame probe: `from ocsge.ogr import pyogrio`.

pyogrio's package import probes pandas and geopandas (`pyogrio._compat`) for its data-frame
API: about 0.15–0.35 s of imports (varying with the machine's speed) at the start of every
command that reads or writes a file, though our code only uses the raw and Arrow APIs.
Here both are hidden while pyogrio loads, then the flags the probe would have set are
restored from the installed distributions' metadata (no import), so `read_dataframe` and
`write_dataframe` keep working for whoever calls them: they import pandas and geopandas
themselves when called.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys

_HIDDEN = ("geopandas", "pandas")


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _flags(compat) -> dict[str, bool]:
    """What `pyogrio._compat` would have found: HAS_GEOPANDAS and each PANDAS_GE_XY."""
    from packaging.version import Version

    flags = {"HAS_GEOPANDAS": _installed("geopandas")}
    pandas = Version(importlib.metadata.version("pandas")) if _installed("pandas") else None
    for name in dir(compat):
        m = re.fullmatch(r"PANDAS_GE_(\d)(\d+)", name)
        if m:
            bound = Version(f"{m[1]}.{m[2]}.0dev")
            flags[name] = pandas is not None and pandas >= bound
    return flags


def _load():
    if "pyogrio" in sys.modules:
        return sys.modules["pyogrio"]
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # `import name` raises ImportError meanwhile
    try:
        import pyogrio
        import pyogrio.errors
        import pyogrio.raw
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    if hidden:
        import pyogrio._compat
        import pyogrio.geopandas

        for name, value in _flags(pyogrio._compat).items():
            for module in (pyogrio._compat, pyogrio.geopandas):
                if hasattr(module, name):
                    setattr(module, name, value)
    return pyogrio


pyogrio = _load()
