"""Listing commands (topologies, workloads, support): JSON valid against the
published schemas, CSV and tables carrying the same rows, nothing truncated when
stdout is not a terminal."""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli import schema_export
from planner.cli.main import app
from planner.inputs.datafiles import shipped_names
from planner.inputs.query import load_workload

RUN = CliRunner()


def _ok(args: list[str]) -> str:
    r = RUN.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("kind", ["topologies", "workloads"])
def test_listing_json_validates_against_its_published_schema(kind: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = json.loads(_ok([kind, "--json"]))
    jsonschema.validate(doc, yaml.safe_load(schema_export.path_for(kind).read_text()))
    assert [row["name"] for row in doc[kind]] == shipped_names(kind)
    assert json.loads(_ok([kind, "--format", "json"])) == doc


@pytest.mark.parametrize("kind", ["topologies", "workloads"])
def test_csv_carries_the_json_rows(kind: str) -> None:
    rows = list(csv.DictReader(io.StringIO(_ok([kind, "--format", "csv"]))))
    doc = json.loads(_ok([kind, "--json"]))[kind]
    assert [r["name"] for r in rows] == [d["name"] for d in doc]
    assert [r["description"] for r in rows] == [d["description"] for d in doc]


def test_estimated_hardware_is_marked_in_json_and_table() -> None:
    rows = {r["name"]: r for r in json.loads(_ok(["topologies", "--json"]))["topologies"]}
    assert rows["vr200-nvl144"]["accelerator_estimated"] and rows["vr200-nvl144"]["price_estimated"]
    assert not rows["hgx-h100"]["accelerator_estimated"] and not rows["hgx-h100"]["price_estimated"]
    table = _ok(["topologies"])
    line = next(ln for ln in table.splitlines() if ln.startswith("vr200-nvl144"))
    assert "vr200*" in line and "11.50*" in line
    h100 = next(ln for ln in table.splitlines() if ln.startswith("hgx-h100"))
    assert "*" not in h100


def test_table_rows_are_whole_off_a_terminal() -> None:
    """A pipe or file gets every description whole, however long."""
    table = _ok(["topologies"])
    for row in json.loads(_ok(["topologies", "--json"]))["topologies"]:
        assert row["description"] in table
    assert "…" not in table


def test_every_listed_model_id_names_its_workload() -> None:
    for row in json.loads(_ok(["workloads", "--json"]))["workloads"]:
        assert row["model_ids"], row["name"]
        for model_id in row["model_ids"]:
            assert load_workload(model_id).model == load_workload(row["name"]).model


def test_json_and_format_csv_together_is_one_line_error() -> None:
    r = RUN.invoke(app, ["topologies", "--json", "--format", "csv"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--json" in r.output
    r = RUN.invoke(app, ["workloads", "--format", "xml"])
    assert r.exit_code == 2 and "table, json or csv" in r.output


def test_support_engines_follow_the_gpu_vendor() -> None:
    doc = json.loads(_ok(["support", "--models", "llama-3.1-70b,deepseek-v3",
                          "--topologies", "hgx-h100,mi300x-8,tpu-v5p-pod", "--json"]))
    engines = {(r["model"], r["topology"]): set(r["engines"]) for r in doc["rows"]}
    assert engines[("llama-3.1-70b", "hgx-h100")] == {"vllm", "sglang", "trtllm"}
    assert engines[("llama-3.1-70b", "mi300x-8")] == {"vllm", "sglang"}  # TensorRT-LLM is NVIDIA-only
    assert engines[("deepseek-v3", "tpu-v5p-pod")] == {"vllm"}


def test_support_counts_the_fewest_gpus_that_hold_the_weights() -> None:
    """Physics: min_gpus GPUs hold the weights and one fewer would not; FP8 weights
    need no more GPUs than BF16 weights of the same model; more HBM, fewer GPUs."""
    from planner.inputs.topology import build_topology

    doc = json.loads(_ok(["support", "--models", "meta-llama/Llama-3.1-405B-Instruct,meta-llama/Llama-3.1-405B-Instruct-FP8",
                          "--topologies", "hgx-h100,hgx-h200", "--format", "json"]))
    need = {(r["model"], r["topology"]): r for r in doc["rows"]}
    for (model, topo), row in need.items():
        t = build_topology(topo)
        usable = t.accelerator.hbm_bytes * t.efficiency.memory_usable_fraction - t.efficiency.runtime_reserve_bytes
        weights = load_workload(model).weight_bytes
        assert row["min_gpus"] * usable >= weights > (row["min_gpus"] - 1) * usable
        assert row["min_domains"] == -(-row["min_gpus"] // 8)
    bf16, fp8 = "meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.1-405B-Instruct-FP8"
    assert need[(fp8, "hgx-h100")]["min_gpus"] < need[(bf16, "hgx-h100")]["min_gpus"]
    assert need[(bf16, "hgx-h200")]["min_gpus"] < need[(bf16, "hgx-h100")]["min_gpus"]


def test_support_table_covers_every_shipped_model_and_topology() -> None:
    out = _ok(["support"])
    for name in shipped_names("workloads") + shipped_names("topologies") + ["zai-org/GLM-4.5-Air", "Qwen/Qwen2.5-72B-Instruct"]:
        assert name in out
