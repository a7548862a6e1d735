"""Modules loaded on first use: a command's start-up does not pay for what only its work needs
(pyarrow.compute costs a twentieth of a second to import, before any file is read)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """`name`, executed on its first attribute access (the standard library's LazyLoader).
    An already imported module is returned as it is."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # as an import does: `import pyarrow.compute` then `pyarrow.compute.sum`
        setattr(sys.modules[parent], child, module)
    return module
