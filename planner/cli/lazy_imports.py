"""Start-up without modules a command never uses but a library imports at load
time for a helper the planner does not call:

* ortools' ``cp_model`` imports pandas (about a third of a plan's wall time
  and 35 MB) for its ``*Series`` helpers;
* pydantic's plugin loader imports ``importlib.metadata`` (with
  ``importlib.resources``, ``tempfile``, ``zipfile``, ``email``, ``csv``: ~30 ms)
  to look up plugins by entry point, which the command-line program disables
  (:func:`install`: third-party validation hooks have no place in a planner
  whose output must be the same bytes on every machine).

:func:`install` registers a one-shot import hook for each such module: while it
executes, the module it would import is a stand-in whose names are
placeholders, so the module loads without it. The stand-in leaves
``sys.modules`` as soon as the module is loaded, so anyone importing the real
module afterwards gets it, and the helpers still work: calling a placeholder
(``pd.Series(...)``, ``entry_points(...)``) imports the real module and calls
the real object, and ``isinstance(x, pd.Series)`` asks the real class whenever
pandas is loaded (no object can be a pandas Series before pandas is imported).
If a future version needs more of the module at import time, it is simply
loaded again with the real one.

Only the command-line program installs the hook (planner/cli/main.py); the
Python API imports ortools and pydantic unchanged.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import types

# module whose loading is hooked: (module it imports that is stood in for, names it reads from it while it loads)
STAND_INS = {
    "ortools.sat.python.cp_model": ("pandas", ("Index", "Series")),
    "pydantic.plugin._loader": ("importlib.metadata", ("entry_points",)),
}


class _Deferred(type):
    """A placeholder class that stands for ``<module>.<name>``."""

    def __instancecheck__(cls, obj) -> bool:
        real = sys.modules.get(cls.__module__)
        if real is None or isinstance(real, _StandIn):
            return False
        return isinstance(obj, getattr(real, cls.__name__))

    def __call__(cls, *args, **kwargs):
        return getattr(importlib.import_module(cls.__module__), cls.__name__)(*args, **kwargs)

    def __getattr__(cls, name):
        return getattr(getattr(importlib.import_module(cls.__module__), cls.__name__), name)


class _StandIn(types.ModuleType):
    def __init__(self, name: str, names: tuple[str, ...]) -> None:
        super().__init__(name, f"placeholder for {name} while a library loads (planner.cli.lazy_imports)")
        for attr in names:
            setattr(self, attr, _Deferred(attr, (), {"__module__": name}))


# The finder and loader are plain classes: the import system only calls their
# methods, and importlib.abc would itself load importlib.resources and tempfile.


class _Loader:
    def __init__(self, real, skipped: str, names: tuple[str, ...]) -> None:
        self.real, self.skipped, self.names = real, skipped, names

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module) -> None:
        if self.skipped in sys.modules:  # already paid for: nothing to save
            self.real.exec_module(module)
            return
        sys.modules[self.skipped] = _StandIn(self.skipped, self.names)
        try:
            self.real.exec_module(module)
        except Exception:
            sys.modules.pop(self.skipped, None)
            self.real.exec_module(module)  # again, with the real module
        finally:
            if isinstance(sys.modules.get(self.skipped), _StandIn):
                del sys.modules[self.skipped]


class _Finder:
    def __init__(self) -> None:
        self.pending = set(STAND_INS)

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.pending:
            return None
        self.pending.discard(fullname)
        if not self.pending:
            uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, *STAND_INS[fullname])
        return spec


_FINDER = _Finder()


def install() -> None:
    """Load each hooked module without what it would import, on its first import
    (a module already loaded, or one whose import was already paid for, is left
    alone); and no pydantic plugins unless the environment asks for them."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _FINDER.pending = {m for m, (skipped, _) in STAND_INS.items() if m not in sys.modules and skipped not in sys.modules}
    if _FINDER.pending and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
