"""Fuzzing the file loaders: random text, random YAML documents and shipped files
with mutated fields. Whatever the bytes, the only exception that may reach the
user is planner.inputs.errors.InputError (one line, exit 2); a file that loads must be
usable by the cost model without crashing."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.inputs.datafiles import data_dir
from planner.inputs.errors import InfeasibleError, InputError
from planner.inputs.topology import build_topology
from planner.inputs.query import load_workload

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

SHIPPED = {
    kind: [yaml.safe_load(p.read_text()) for p in sorted(data_dir(kind).glob("*.yaml"))]
    for kind in ("topologies", "workloads")
}
LOADERS = {"topologies": build_topology, "workloads": load_workload}

# fleet inventories and demands (planner/plan/fleet.py), fuzzed from the shipped examples
EXAMPLES = data_dir("topologies").parent / "examples"
for _kind, _file, _loader in (("inventory", "inventory.yaml", "load_inventory"), ("demands", "demands.yaml", "load_demands")):
    if (EXAMPLES / _file).is_file():
        try:
            from planner.plan import fleet as _fleet
        except ImportError:  # pragma: no cover - fleet planning not present
            break
        SHIPPED[_kind] = [yaml.safe_load((EXAMPLES / _file).read_text())]
        LOADERS[_kind] = getattr(_fleet, _loader)
KINDS = sorted(LOADERS)

# values that break naive code: zero, negative, tiny, huge, non-finite, wrong types
NASTY = st.sampled_from([
    0, -1, 1, 2, 3, 7, 8, 64, 10**6, 10**12, 2**63, -(2**63), 1e-300, 1e300, 0.5, -0.0,
    math.inf, -math.inf, math.nan, "", "x", "1", "fp8", "torus", "mla", None, True, False,
    [], [0], [2, 2], [1000, 1000, 1000], {}, {"a": 1}, "h100-sxm",
])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def load_only_input_errors(kind: str, path: Path):
    """Load the file; any exception but InputError fails the test."""
    try:
        return LOADERS[kind](str(path))
    except InputError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
        return None


def paths(node, prefix=()):
    """Every key/index path in a nested document."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from paths(value, prefix + (key,))


@st.composite
def mutated(draw, kind: str):
    doc = copy.deepcopy(draw(st.sampled_from(SHIPPED[kind])))
    for _ in range(draw(st.integers(1, 3))):
        where = list(paths(doc))
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "rename"]))
        if action == "set":
            parent[path[-1]] = copy.deepcopy(draw(NASTY))  # never share a list/dict between places
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[str(path[-1]) + draw(st.sampled_from(["s", "_x", ""]))[:-1] + "z"] = parent.pop(path[-1])
    return doc


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_mutated_shipped_files_raise_only_input_errors(tmp_path_factory, kind, data):
    doc = data.draw(mutated(kind))
    path = tmp_path_factory.mktemp("fz") / "mutated.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    load_only_input_errors(kind, path)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(doc=JSONISH)
def test_random_yaml_documents_raise_only_input_errors(tmp_path_factory, kind, doc):
    path = tmp_path_factory.mktemp("fz") / "random.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert load_only_input_errors(kind, path) is None  # nothing random is a valid file


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_corrupted_bytes_raise_only_input_errors(tmp_path_factory, kind, data):
    """Shipped text with bytes deleted, inserted or replaced: malformed YAML,
    broken indentation, stray tabs and non-UTF-8 bytes."""
    text = bytearray(yaml.safe_dump(data.draw(st.sampled_from(SHIPPED[kind])), sort_keys=False).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        byte = data.draw(st.sampled_from(list(b":-[]{}\t\n #&*!|>'\"%@`,?") + [0xFF, 0x00, 0xC3]))
        if op == "delete":
            del text[i]
        elif op == "insert":
            text.insert(i, byte)
        else:
            text[i] = byte
    path = tmp_path_factory.mktemp("fz") / "corrupt.yaml"
    path.write_bytes(bytes(text))
    load_only_input_errors(kind, path)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}\n #&*!|>'\"0123456789.e")), max_size=60))
def test_random_text_raises_only_input_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fz") / "text.yaml"
    path.write_text(text)
    for kind in LOADERS:
        load_only_input_errors(kind, path)


@st.composite
def rescaled(draw, kind: str):
    """A shipped file with 1-3 numbers replaced by extreme but well-typed ones, so
    that most still validate and reach the cost model."""
    doc = copy.deepcopy(draw(st.sampled_from(SHIPPED[kind])))
    numeric = [p for p in paths(doc) if _is_number(_at(doc, p))]
    for path in draw(st.lists(st.sampled_from(numeric), min_size=1, max_size=3)):
        old = _at(doc, path[:-1])[path[-1]]
        factor = draw(st.sampled_from([1e-9, 1e-3, 0.1, 0.5, 2, 10, 1e3, 1e6, 1e9]))
        new = old * factor
        _at(doc, path[:-1])[path[-1]] = max(1, int(new)) if isinstance(old, int) else new
    return doc


def _at(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


PLAN_FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@PLAN_FUZZ
@given(data=st.data())
def test_a_rescaled_workload_is_planned_or_explained(tmp_path_factory, data):
    """Past the loader: a workload with extreme numbers goes through the cost model
    and the solver, and ends in a plan or a one-line InfeasibleError."""
    from planner import api

    doc = data.draw(rescaled("workloads"))
    path = tmp_path_factory.mktemp("fz") / "w.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    w = load_only_input_errors("workloads", path)
    if w is None:
        return
    try:
        p = api.plan(w, "hgx-h100", api.Query(domains=2), time_limit_s=2.0, mode="agg")
    except (InfeasibleError, InputError) as exc:
        assert "\n" not in str(exc)
        return
    assert p.metrics["gpus_used"] >= 1 and math.isfinite(p.metrics["usd_per_mtok_all_in"])


@PLAN_FUZZ
@given(data=st.data())
def test_a_rescaled_topology_is_planned_or_explained(tmp_path_factory, data):
    from planner import api

    doc = data.draw(rescaled("topologies"))
    path = tmp_path_factory.mktemp("fz") / "t.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    topo = load_only_input_errors("topologies", path)
    if topo is None:
        return
    try:
        p = api.plan("llama-3.1-8b", topo, time_limit_s=2.0, mode="agg")
    except (InfeasibleError, InputError) as exc:
        assert "\n" not in str(exc)
        return
    assert p.metrics["gpus_used"] >= 1 and math.isfinite(p.metrics["usd_per_mtok_all_in"])
