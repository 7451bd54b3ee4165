"""What a command imports. Start-up is most of an interactive plan's time, so
the CLI must not load what the command does not use; and the one trick that
keeps pandas out (planner.cli.lazy_imports) must leave ortools fully working."""

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
sys.argv = ["planner", *json.loads(sys.argv[1])]
from planner.cli.main import main
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
print(json.dumps({"exit": code, "modules": sorted(m for m in sys.modules)}), file=sys.stderr)
"""


def loaded_by(*args: str, full: bool = False) -> set[str]:
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], capture_output=True, text=True)
    report = json.loads(res.stderr.strip().splitlines()[-1])
    assert report["exit"] == 0, res.stderr[-2000:]
    return set(report["modules"]) if full else {m.split(".")[0] for m in report["modules"]}


@pytest.mark.parametrize("args", [("plan", "--json"), ("plan", "-w", "llama-3.1-8b", "-t", "hgx-h100", "--mode", "agg")])
def test_plan_loads_no_plotting_tables_or_schema_machinery(args):
    top = loaded_by(*args)
    assert "ortools" in top  # it did solve
    assert not top & {"pandas", "matplotlib", "jsonschema", "networkx"}, top & {"pandas", "matplotlib", "jsonschema", "networkx"}


def test_cp_model_loaded_without_pandas_still_has_working_pandas_helpers():
    code = r"""
import sys
from planner.cli import lazy_imports
lazy_imports.install()
from ortools.sat.python import cp_model
assert "pandas" not in sys.modules
m = cp_model.CpModel()
x = m.NewIntVar(0, 5, "x")
m.Maximize(x)
s = cp_model.CpSolver()
assert s.Solve(m) == cp_model.OPTIMAL and s.Value(x) == 5
assert not isinstance(3, cp_model.pd.Series)
import pandas as pd  # the real one, imported later by someone else
y = m.NewIntVarSeries(name="y", index=pd.Index(range(3)), lower_bounds=0, upper_bounds=1)
assert isinstance(y, pd.Series) and isinstance(y, cp_model.pd.Series)
m.Add(y.sum() >= 2)
assert s.Solve(m) == cp_model.OPTIMAL and int(s.Values(y).sum()) >= 2
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "ok", res.stderr[-2000:]


def test_the_python_api_imports_ortools_unchanged():
    code = "import sys, planner.api\nfrom ortools.sat.python import cp_model\nprint(type(cp_model.pd).__name__, 'pandas' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.split() == ["module", "True"], res.stderr[-2000:]


def test_plan_does_not_look_up_installed_packages():
    """pydantic's plugin loader would import importlib.metadata (and with it
    zipfile, email, csv, tempfile) to scan every installed package; the CLI
    turns pydantic plugins off, so none of that loads."""
    loaded = loaded_by("plan", "--json", full=True)
    assert "pydantic" in loaded  # it did validate
    assert not loaded & {"importlib.metadata", "importlib.resources", "zipfile", "email"}, loaded & {"importlib.metadata", "zipfile"}


def test_pydantic_plugins_still_load_when_the_environment_asks_for_them():
    """The stand-in for importlib.metadata defers to the real one when called."""
    code = r"""
import os, sys
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "my-plugin"  # the user's own choice is kept
from planner.cli import lazy_imports
lazy_imports.install()
from pydantic.plugin import _loader
assert "importlib.metadata" not in sys.modules
from pydantic import BaseModel
class M(BaseModel):
    x: int
assert M(x=1).x == 1 and "importlib.metadata" in sys.modules  # plugins were looked up
from importlib.metadata import entry_points
assert list(_loader.entry_points(group="console_scripts")) == list(entry_points(group="console_scripts"))
assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "my-plugin"
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "ok", res.stderr[-2000:]
