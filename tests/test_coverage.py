"""A plan says what its figures were checked against: the published cases of its
model family on its accelerator, or that there are none, or that the pair is a
known blind spot."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.analysis import coverage_table, fidelity
from planner.cli.main import app
from planner.inputs.coverage import Cell, cells, coverage, family, family_of
from planner.inputs.datafiles import shipped_names
from planner.inputs.hf_import import load_hf_config
from planner.inputs.query import load_workload


def test_the_shipped_table_is_what_validate_reads_today() -> None:
    """Stale after a refit or a new record until `python -m planner.analysis.coverage_table` is re-run."""
    fresh = coverage_table.build(fidelity.validate())
    assert [asdict(c) for c in fresh] == [asdict(c) for c in cells()]


def test_the_table_accounts_for_every_case_once() -> None:
    report = fidelity.validate()
    table = cells()
    assert sum(c.cases for c in table) == len(report.scored)
    assert sum(c.outliers for c in table) == len(report.outliers)
    assert len({(c.family, c.accelerator) for c in table}) == len(table)


def test_a_time_metric_that_reads_slower_than_measured_is_pessimistic() -> None:
    """Optimism is about speed: a predicted TTFT twice the measured one is a speed ratio of 0.5."""
    cases, _ = fidelity.load_cases()
    ttft = next(c for c in cases if c.spec.mode == "ttft")
    rate = next(c for c in cases if c.spec.mode == "aggregated")
    assert coverage_table.speed_ratio(fidelity.Result(ttft, 2 * ttft.measured, 0, "", "")) == pytest.approx(0.5)
    assert coverage_table.speed_ratio(fidelity.Result(rate, 2 * rate.measured, 0, "", "")) == pytest.approx(2.0)


TABLE = (
    Cell("deepseek", "h200-sxm", 10, 0.155, 1.66, 0.023, modes=("aggregated", "latency")),
    Cell("deepseek", "mi300x", 0, None, None, None, 15, 1.76, 2.76, 0.999),
    Cell("llama", "h100-sxm", 20, 0.09, 1.3, -0.08),
    Cell("deepseek", "h100-sxm", 3, 0.055, 1.09, -0.055, modes=("prefill",)),
)


def test_the_family_on_its_accelerator_is_quoted_with_its_numbers() -> None:
    cov = coverage("deepseek", "h200-sxm", TABLE)
    assert (cov.scope, cov.cases, cov.median_abs_error, cov.worst_factor, cov.blind_spot) == ("deepseek on h200-sxm", 10, 0.155, 1.66, False)
    assert "10 published deepseek cases" in cov.note and "16%" in cov.note and "1.66x" in cov.note and "optimistic" in cov.note
    assert "(aggregated, latency)" in cov.note  # a prefill-only cell must not read as a check of decode


def test_declared_outliers_make_a_blind_spot_with_their_range() -> None:
    cov = coverage("deepseek", "mi300x", TABLE)
    assert cov.blind_spot and "1.8-2.8x" in cov.note and "optimistic" in cov.note


def test_other_families_or_nothing_are_said_as_such() -> None:
    other = coverage("mixtral", "h200-sxm", TABLE)
    assert other.scope == "h200-sxm (other families)" and other.cases == 10 and other.median_abs_error is None
    assert "no published mixtral cases on h200-sxm" in other.note
    beside_blind_spot = coverage("llama", "mi300x", TABLE)
    assert beside_blind_spot.blind_spot and "known blind spot" in beside_blind_spot.note
    nothing = coverage("llama", "tpu-v5p", TABLE)
    assert nothing.cases == 0 and not nothing.blind_spot and "no published measurements on tpu-v5p" in nothing.note
    cells_shown = [coverage(*a, TABLE).cell() for a in (("deepseek", "h200-sxm"), ("deepseek", "mi300x"), ("mixtral", "h200-sxm"), ("mixtral", "tpu-v5p"), ("llama", "mi300x"))]
    assert cells_shown == ["10 ±16%", "[red]blind spot[/]", "other models", "none", "[red]blind spot[/] (other models)"]
    assert coverage("deepseek", "h100-sxm", TABLE).cell() == "3 ±6% prefill"  # prefill-only cases do not check a decode plan


def test_the_family_is_the_architecture_not_the_name() -> None:
    """Kimi-K2 runs the DeepSeek-V3 architecture; a DeepSeek distillation into Llama is a Llama;
    a dense Qwen2.5 is not the Qwen3 MoE the published Qwen cases measured."""
    assert [family_of(n) for n in ("deepseek-r1", "deepseek-v3", "deepseek-r1-fp4", "kimi-k2", "gpt-oss-120b", "qwen3-235b-a22b",
                                   "llama-3.1-8b", "mixtral-8x7b")] == \
        ["deepseek", "deepseek", "deepseek", "deepseek", "gpt-oss", "qwen3-moe", "llama", "mixtral"]
    models = Path(__file__).resolve().parent.parent / "models"
    distill = load_hf_config(str(models / "meta-llama/Llama-3.3-70B-Instruct/config.json"), name="deepseek-ai/DeepSeek-R1-Distill-Llama-70B")
    assert family(distill) == "llama"
    assert family_of("Qwen/Qwen2.5-7B-Instruct") == "qwen2" and family_of("Qwen/Qwen3-30B-A3B") == "qwen3-moe"


def test_every_shipped_workload_names_its_family() -> None:
    assert [n for n in shipped_names("workloads") if family_of(n) == "unknown"] == []


def test_a_workload_file_of_its_own_has_no_family_and_says_so(tmp_path) -> None:
    """Its name proves nothing: a file called 'deepseek-lookalike' may hold any model."""
    src = Path(__file__).resolve().parent.parent / "workloads" / "deepseek-v3.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text(src.read_text().replace("name: deepseek-v3", "name: deepseek-lookalike", 1))
    w = load_workload(str(mine))
    assert w.name == "deepseek-lookalike" and family(w) == "unknown"
    same_name = tmp_path / "deepseek-v3.yaml"  # a shipped name on other bytes proves nothing either
    same_name.write_text(src.read_text().replace("n_layers: 61", "n_layers: 30", 1))
    assert load_workload(str(same_name)).name == "deepseek-v3" and family(load_workload(str(same_name))) == "unknown"
    cov = coverage(family(w), "h200-sxm", TABLE)
    assert cov.scope == "h200-sxm (other families)" and "names no architecture" in cov.note


def test_a_hostile_family_from_a_plan_file_never_reaches_the_note() -> None:
    cov = coverage("\x1b[2J$(curl evil)", "h200-sxm", TABLE)
    assert "curl" not in cov.note and "\x1b" not in cov.note and cov.scope == "h200-sxm (other families)"


def test_a_plan_on_a_blind_spot_says_so_in_its_header_and_document(tmp_path) -> None:
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "-w", "deepseek-r1", "-t", "mi300x-8", "--time-limit", "5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "known blind spot" in res.output
    doc = json.loads(out.read_text())["fidelity"]
    shipped = next(c for c in cells() if (c.family, c.accelerator) == ("deepseek", "mi300x"))
    assert doc["blind_spot"] is True and doc["optimism"] == shipped.outlier_optimism


def test_compare_marks_each_row_with_what_checked_it() -> None:
    res = CliRunner().invoke(app, ["compare", "-w", "deepseek-r1", "--topologies", "hgx-h200,mi300x-8", "--time-limit", "5", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["topology"]: r["fidelity"] for r in json.loads(res.output)["rows"]}
    h200 = next(c for c in cells() if (c.family, c.accelerator) == ("deepseek", "h200-sxm"))
    assert rows["hgx-h200"]["cases"] == h200.cases and rows["hgx-h200"]["blind_spot"] is False
    assert rows["mi300x-8"]["blind_spot"] is True



def test_a_fleet_says_per_group_what_checked_each_demand() -> None:
    examples = Path(__file__).resolve().parent.parent / "examples"
    res = CliRunner().invoke(app, ["fleet", "--inventory", str(examples / "inventory.yaml"), "--demands", str(examples / "demands.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    accelerator = {"gb200-nvl72": "gb200", "hgx-h100": "h100-sxm", "hgx-b200": "b200"}
    topo_of = {g["name"]: g["topology"] for g in doc["groups"]}
    for w in doc["workloads"]:
        groups = sorted({r["group"] for r in w["replicas"]})
        assert [f["group"] for f in w["fidelity"]] == groups
        for f in w["fidelity"]:
            assert f == {"group": f["group"], **coverage(family_of(w["workload"]), accelerator[topo_of[f["group"]]]).to_dict()}
