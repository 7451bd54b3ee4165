"""Start-up without pandas: ortools' ``cp_model`` imports pandas at module level
(about a third of a plan's wall time, and 35 MB) for its ``*Series`` helpers,
which the planner never calls.

:func:`install` registers a one-shot import hook for ``ortools.sat.python.cp_model``:
while that module executes, ``pandas`` is a stand-in whose ``Index`` and
``Series`` are placeholders, so the module's annotations evaluate without pandas.
The stand-in leaves ``sys.modules`` as soon as the module is loaded, so anyone
importing pandas afterwards gets the real one, and cp_model's pandas helpers
still work: calling ``pd.Series(...)`` imports pandas and builds the real object,
and ``isinstance(x, pd.Series)`` asks the real class whenever pandas is loaded
(no object can be a pandas Series before pandas is imported). If a future
ortools needs more of pandas at import time, the module is simply loaded again
with the real pandas.

Only the command-line program installs the hook (planner/cli/main.py); the
Python API imports ortools unchanged.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

TARGET = "ortools.sat.python.cp_model"
NAMES = ("Index", "Series")  # what cp_model reads from pandas while it loads


class _Deferred(type):
    """A placeholder class that stands for ``pandas.<name>``."""

    def __instancecheck__(cls, obj) -> bool:
        real = sys.modules.get("pandas")
        if real is None or isinstance(real, _StandIn):
            return False
        return isinstance(obj, getattr(real, cls.__name__))

    def __call__(cls, *args, **kwargs):
        return getattr(importlib.import_module("pandas"), cls.__name__)(*args, **kwargs)

    def __getattr__(cls, name):
        return getattr(getattr(importlib.import_module("pandas"), cls.__name__), name)


class _StandIn(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("pandas", "placeholder for pandas while ortools' cp_model loads (planner.cli.lazy_pandas)")
        for name in NAMES:
            setattr(self, name, _Deferred(name, (), {"__module__": "pandas"}))


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module) -> None:
        if "pandas" in sys.modules:  # already paid for: nothing to save
            self.real.exec_module(module)
            return
        sys.modules["pandas"] = _StandIn()
        try:
            self.real.exec_module(module)
        except Exception:
            sys.modules.pop("pandas", None)
            self.real.exec_module(module)  # again, with the real pandas
        finally:
            if isinstance(sys.modules.get("pandas"), _StandIn):
                del sys.modules["pandas"]


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


_FINDER = _Finder()


def install() -> None:
    """Load cp_model without pandas on its first import (no-op if already loaded)."""
    if TARGET not in sys.modules and "pandas" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
