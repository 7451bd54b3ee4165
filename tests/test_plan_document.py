"""The plan document: every JSON the planner writes (plan, evaluation, fleet) is
valid against the published docs/schema/plan.schema.json, is strict JSON (no NaN
or Infinity, over random queries in every mode and with time limits too short to
prove anything), and a fleet plan exports to launch commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from planner import api
from planner.api import Query
from planner.cli.main import app
from planner.inputs.errors import InfeasibleError, InputError
from planner.plan.document import SCHEMA_VERSION, read_document, to_json
from planner.plan.export import ENGINES
from planner.plan.export_fleet import fleet_commands, host_prefix
from planner.plan.fleet import plan_fleet
from planner.search import deadline

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "schema" / "plan.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SMALL = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def strict_load(text: str) -> dict:
    """json.loads that fails on NaN/Infinity (Python's json accepts them by default)."""
    def refuse(name: str):
        raise AssertionError(f"non-JSON constant {name} in planner output")

    return json.loads(text, parse_constant=refuse)


def assert_valid(text: str) -> dict:
    data = strict_load(text)
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, f"{errors[0].json_path}: {errors[0].message}"
    return data


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fleet_files(tmp_path_factory) -> tuple[Path, Path]:
    """One GB200 rack and two HGX H100 nodes; a 70B demand anywhere, an 8B demand on the H100s."""
    d = tmp_path_factory.mktemp("fleet")
    inv, dem = d / "inventory.yaml", d / "demands.yaml"
    inv.write_text(yaml.safe_dump({"name": "small", "groups": [
        {"name": "gb200-racks", "topology": "gb200-nvl72", "count": 1},
        {"name": "h100 nodes", "topology": "hgx-h100", "count": 2},
    ]}))
    dem.write_text(yaml.safe_dump({"name": "small", "demands": [
        {"name": "chat-70b", "workload": "llama-3.1-70b", "output_tokens_per_s": 20000},
        {"name": "assistant-8b", "workload": "llama-3.1-8b", "output_tokens_per_s": 30000, "groups": ["h100 nodes"]},
    ]}))
    return inv, dem


@pytest.fixture(scope="module")
def fleet_json(fleet_files) -> str:
    return plan_fleet(*fleet_files, time_limit_s=10).to_json()


# --------------------------------------------------------------------------- schema


def test_every_property_of_the_schema_has_a_description() -> None:
    missing = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            missing.extend(f"{where}.{k}" for k, v in (node.get("properties") or {}).items() if "description" not in v)
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    walk(SCHEMA, "")
    assert not missing, f"properties without a description: {missing}"


@pytest.mark.parametrize("mode", ["agg", "disagg", "auto"])
def test_plans_match_the_published_schema(mode: str) -> None:
    data = assert_valid(api.plan("llama-3.1-70b", "hgx-h100", Query(domains=2), mode=mode).to_json())
    assert data["kind"] == "plan" and data["schema_version"] == SCHEMA_VERSION


def test_an_evaluation_matches_the_published_schema() -> None:
    data = assert_valid(api.evaluate("deepseek-v3", "gb200-nvl72", Query(), tp=1, dp_attn=8, ep=8, pp=2).to_json())
    assert data["kind"] == "evaluation" and data["solver"] == {}


def test_a_fleet_plan_matches_the_published_schema(fleet_json: str) -> None:
    data = assert_valid(fleet_json)
    assert data["kind"] == "fleet" and all(w["traffic"]["kv_len"] >= w["traffic"]["isl"] for w in data["workloads"])


def test_a_bound_that_does_not_exist_is_null_and_a_nan_metric_is_refused() -> None:
    d = json.loads(api.plan("llama-3.1-8b", "hgx-h100", mode="agg").to_json())
    d["solver"]["bound"], d["solver"]["gap"] = float("-inf"), float("nan")
    out = strict_load(to_json(d))
    assert out["solver"]["bound"] is None and out["solver"]["gap"] is None
    d["metrics"]["usd_per_hour"] = float("nan")
    with pytest.raises(ValueError, match="metrics.usd_per_hour"):
        to_json(d)


# --------------------------------------------------------------------------- strict JSON over random queries

QUERY = st.fixed_dictionaries({
    "workload": st.sampled_from(["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-v3"]),
    "topology": st.sampled_from(["hgx-h100", "gb200-nvl72"]),
    "domains": st.integers(1, 3),
    "tpot_ms": st.sampled_from([None, 5.0, 20.0, 100.0]),
    "isl": st.sampled_from([None, 128, 8192]),
    "time_limit_s": st.sampled_from([0.01, 0.05, 2.0]),
})


@SMALL
@given(q=QUERY, mode=st.sampled_from(["agg", "disagg", "auto"]), objective=st.sampled_from(["cost", "throughput"]))
def test_no_plan_json_holds_nan_or_infinity(q: dict, mode: str, objective: str) -> None:
    query = Query(domains=q["domains"], tpot_ms=q["tpot_ms"], isl=q["isl"])
    try:
        with deadline.limit(3600):  # the short limits act through their work budget (a wall-clock deadline would make this timing-dependent)
            p = api.plan(q["workload"], q["topology"], query, mode=mode, objective=objective, time_limit_s=q["time_limit_s"])
    except InfeasibleError:
        return
    assert_valid(p.to_json())


@SMALL
@given(q=QUERY, tp=st.sampled_from([1, 2, 8]), pp=st.sampled_from([1, 2]), batch=st.sampled_from([None, 1, 4096]))
def test_no_evaluation_json_holds_nan_or_infinity(q: dict, tp: int, pp: int, batch: int | None) -> None:
    try:
        e = api.evaluate(q["workload"], q["topology"], Query(domains=q["domains"], isl=q["isl"]), tp=tp, pp=pp, batch=batch)
    except (InfeasibleError, InputError):
        return
    assert_valid(e.to_json())


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(demand=st.sampled_from([1e3, 3e4, 1e7]), limit=st.sampled_from([0.05, 5.0]))
def test_no_fleet_json_holds_nan_or_infinity(fleet_files, tmp_path_factory, demand: float, limit: float) -> None:
    inv, dem = fleet_files
    spec = yaml.safe_load(dem.read_text())
    for d in spec["demands"]:
        d["output_tokens_per_s"] = demand
    path = tmp_path_factory.mktemp("demands") / "demands.yaml"
    path.write_text(yaml.safe_dump(spec))
    with deadline.limit(3600):  # the limit acts through its work budget only: not timing-dependent
        assert_valid(plan_fleet(inv, path, time_limit_s=limit).to_json())


# --------------------------------------------------------------------------- reading plans back


def test_older_and_newer_versions() -> None:
    d = json.loads(api.plan("llama-3.1-8b", "hgx-h100", mode="agg").to_json())
    assert read_document({**d, "schema_version": "1.0"}).kind == "plan"
    with pytest.raises(InputError, match="schema_version 2.0 is not 1.x"):
        read_document({**d, "schema_version": "2.0"})
    with pytest.raises(InputError, match=r"metrics\.gpus_used"):
        read_document({**d, "metrics": {**d["metrics"], "gpus_used": "many"}})


# --------------------------------------------------------------------------- exporting a fleet


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fleet_exports_one_command_set_per_demand_and_group(fleet_json: str, engine: str) -> None:
    doc = read_document(json.loads(fleet_json))
    sets = fleet_commands(doc, engine)
    placed = {(r.demand, r.group) for r in doc.replicas}
    assert [(s.demand, s.group) for s in sets] == [(w.name, g.name) for w in doc.workloads for g in doc.groups if (w.name, g.name) in placed]
    for s in sets:
        mine = {tuple(r.gpu_ids) for r in doc.replicas if (r.demand, r.group) == (s.demand, s.group)}
        launched = {tuple(sorted(c.gpu_ids)) for c in s.commands if c.role != "router"}
        # every replica's GPUs are launched, each replica in one or more node commands
        assert {g for ids in mine for g in ids} == {g for ids in launched for g in ids}
        text = "\n".join(c.shell() for c in s.commands)
        # host placeholders name their group: two groups' host 0 are different machines
        assert "${HOST_" not in text and text.count("${") == text.count("${" + host_prefix(s.group) + "HOST_")


def test_two_demands_on_one_host_never_share_a_port(fleet_json: str) -> None:
    doc = read_document(json.loads(fleet_json))
    for engine in ENGINES:
        seen: dict[tuple[str, int, str], str] = {}  # (group, host, port) -> demand
        for s in fleet_commands(doc, engine):
            for c in s.commands:
                port = c.value("--port")
                if port is None or not c.hosts:
                    continue
                key = (s.group, c.hosts[0], port)
                assert key not in seen, f"{engine}: port {port} on host {key[1]} of {key[0]} used by {seen[key]} and {s.demand}"
                seen[key] = s.demand


def test_planner_export_takes_a_fleet_plan(fleet_json: str, tmp_path: Path) -> None:
    f = tmp_path / "fleet.json"
    f.write_text(fleet_json)
    res = CliRunner().invoke(app, ["export", str(f), "--engine", "trtllm"])
    assert res.exit_code == 0, res.output
    assert "$MODEL_CHAT_70B" in res.output and "$MODEL_ASSISTANT_8B" in res.output
    res = CliRunner().invoke(app, ["export", str(f), "--engine", "vllm", "--json"])
    assert res.exit_code == 0, res.output
    assert {s["demand"] for s in strict_load(res.output)["sets"]} == {"chat-70b", "assistant-8b"}


def test_hostile_names_in_a_fleet_plan_stay_inside_comments_and_variables(fleet_json: str, tmp_path: Path) -> None:
    """Demand and group names come from a file: a newline must not start a shell
    line, and placeholders keep only [A-Z0-9_]."""
    data = json.loads(fleet_json)
    evil = "x\nrm -rf ~ #"
    old = data["workloads"][0]["name"]
    data["workloads"][0]["name"] = evil
    for r in data["replicas"]:
        if r["demand"] == old:
            r["demand"] = evil
    f = tmp_path / "evil.json"
    f.write_text(json.dumps(data))
    res = CliRunner().invoke(app, ["export", str(f), "--engine", "trtllm"])
    assert res.exit_code == 0, res.output
    assert not any(line.startswith("rm ") for line in res.output.splitlines())
    assert "$MODEL_X_RM_RF" in res.output


def test_a_fleet_plan_from_before_1_1_is_refused_in_one_line(fleet_json: str, tmp_path: Path) -> None:
    old = json.loads(fleet_json)
    old["schema_version"] = "1.0"
    for w in old["workloads"]:
        for k in ("traffic", "precision", "slo"):
            w.pop(k)
    f = tmp_path / "old.json"
    f.write_text(json.dumps(old))
    res = CliRunner().invoke(app, ["export", str(f), "--engine", "vllm"])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and "schema 1.0" in lines[0] and "re-run planner fleet" in lines[0]
    assert "kv_len" not in lines[0]


def test_strict_load_really_refuses_infinity() -> None:
    with pytest.raises(AssertionError):
        strict_load('{"bound": -Infinity}')
    assert math.isnan(json.loads("NaN"))  # what the default reader would have let through
