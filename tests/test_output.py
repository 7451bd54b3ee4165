"""What a user sees around the answers: nothing cut off a terminal, progress bars
only on a terminal and never with --json, and compare --demand-tps agreeing with
plan --demand-tps on every topology."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from planner import api
from planner.cli import console as console_mod
from planner.cli.main import app

RUN = CliRunner()


def _run(args: list[str]):
    r = RUN.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r


def test_plan_tables_are_whole_when_piped() -> None:
    """Off a terminal every header and cell is printed whole (issue: 'tok/s/…', 'bottl…')."""
    out = _run(["plan", "--workload", "llama-3.1-70b", "--topology", "hgx-h100", "--nodes", "2", "--mode", "agg"]).stdout
    assert "…" not in out
    header = next(ln for ln in out.splitlines() if "tok/s/GPU" in ln)
    assert "bottleneck" in header and "$/Mtok all-in" in header


@pytest.mark.parametrize("args", [
    ["explain", "--workload", "llama-3.1-8b", "--topology", "hgx-h100"],
    ["plan", "--workload", "deepseek-r1", "--topology", "mi300x-8"],
    ["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100,gb200-nvl72"],
])
def test_piped_lines_carry_no_padding_to_the_unbounded_width(args) -> None:
    """Off a terminal the console is as wide as any line may need; nothing may fill
    that width with spaces (explain's takeaways once printed 100,000-column lines)."""
    for line in _run(args).stdout.splitlines():
        assert len(line) < 2000, line[:120]


def test_no_progress_bar_off_a_terminal() -> None:
    r = _run(["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100"])
    assert r.stderr == ""


@pytest.mark.parametrize("args", [
    ["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100,hgx-h200"],
    ["frontier", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100"],
    ["validate", "--no-cross-validate"],  # the cross-validation of the shipped cases costs minutes of CPU
])
def test_progress_on_a_terminal_and_silent_with_json(monkeypatch, args) -> None:
    monkeypatch.setattr(console_mod, "is_terminal", lambda stream=None: True)
    shown = _run(args)
    assert args[0] in shown.stderr  # the bar names the command on stderr
    quiet = _run(args + ["--json"])
    assert quiet.stderr == ""
    json.loads(quiet.stdout)  # stdout is pure JSON


DEMAND = 20_000
TOPOS = "hgx-h100,hgx-b200,gb200-nvl72,vr200-nvl144"


@pytest.fixture(scope="module")
def demand_rows() -> list[dict]:
    r = RUN.invoke(app, ["compare", "--workload", "llama-3.1-8b", "--topologies", TOPOS, "--demand-tps", str(DEMAND), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["kind"] == "compare-demand" and doc["demand_tps"] == DEMAND
    return doc["rows"]


def test_compare_demand_agrees_with_plan_demand_on_each_topology(demand_rows) -> None:
    """The shortcut is plan --demand-tps on each topology at the domain count it reports."""
    for row in demand_rows:
        assert row["feasible"], row
        unit = "--racks" if row["domain_unit"] in ("rack", "pod") else "--nodes"
        r = _run(["plan", "--workload", "llama-3.1-8b", "--topology", row["topology"], unit, str(row["domains"]),
                  "--demand-tps", str(DEMAND), "--json"])  # both in their default mode (auto)
        m = json.loads(r.stdout)["metrics"]
        assert (m["gpus_used"], m["usd_per_hour"], m["usd_per_mtok_all_in"]) == (row["gpus_used"], row["usd_per_hour"], row["usd_per_mtok_all_in"])


def test_compare_demand_serves_the_demand_at_the_gpus_price(demand_rows) -> None:
    for row in demand_rows:
        assert row["output_tokens_per_s"] >= DEMAND
        assert row["usd_per_hour"] == pytest.approx(row["gpus_used"] * row["price_usd_per_gpu_hour"], rel=1e-3)
        assert row["domains_used"] <= row["domains"]
        assert row["gpus_used"] <= row["domains_used"] * row["gpus_per_domain"]
        assert "gpus" not in row["binding_constraints"]  # sized so the inventory does not bind


def test_compare_demand_marks_estimates_in_json_table_and_csv(demand_rows) -> None:
    est = {r["topology"]: r["estimated"] for r in demand_rows}
    assert est["vr200-nvl144"] == {"specs": True, "price": True}
    assert est["hgx-h100"] == {"specs": False, "price": False}
    table = _run(["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100,vr200-nvl144",
                  "--demand-tps", str(DEMAND)]).stdout
    assert "vr200-nvl144*" in table and "11.50*" in table and "hgx-h100*" not in table
    rows = list(csv.DictReader(io.StringIO(_run(["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100,vr200-nvl144",
                                                 "--demand-tps", str(DEMAND), "--format", "csv"]).stdout)))
    by = {r["topology"]: r for r in rows}
    assert by["vr200-nvl144"]["estimated.price"] == "True" and by["hgx-h100"]["estimated.specs"] == "False"


def test_compare_shows_the_price_it_used_and_marks_estimates() -> None:
    doc = json.loads(_run(["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100,vr200-nvl144", "--json"]).stdout)
    by = {r["topology"]: r for r in doc["rows"]}
    assert by["hgx-h100"]["price_usd_per_gpu_hour"] == 2.99 and by["vr200-nvl144"]["estimated"]["specs"]
    table = _run(["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100,vr200-nvl144"]).stdout
    assert "$/GPU-h" in table and "vr200-nvl144*" in table and "estimated" in table
    forced = json.loads(_run(["compare", "--workload", "llama-3.1-8b", "--topologies", "vr200-nvl144",
                              "--price-per-gpu-hour", "3", "--json"]).stdout)["rows"][0]
    assert forced["price_usd_per_gpu_hour"] == 3 and forced["estimated"] == {"specs": True, "price": False}


def test_demand_flag_errors_are_one_line() -> None:
    for extra in (["--gpus", "8"], ["--plot", "x.png"], ["--json", "--format", "csv"]):
        r = RUN.invoke(app, ["compare", "--workload", "llama-3.1-8b", "--topologies", "hgx-h100", "--demand-tps", "1000", *extra])
        assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
