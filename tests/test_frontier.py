"""`frontier`: Pareto sets over every layout x batch that fits memory.

The oracle is brute-force dominance: a point is on a frontier iff no other
point is at least as good on both axes and better on one.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from planner import api
from planner.analysis import analysis
from planner.analysis.frontier_csv import CSV_COLUMNS
from planner.cli.main import app
from planner.inputs.topology import build_topology
from planner.inputs.query import load_workload

runner = CliRunner()


def dominated_by_any(x, y, px, py) -> bool:
    """Does any (x, y) beat (px, py)? Both axes maximised."""
    return bool(np.any((x >= px) & (y >= py) & ((x > px) | (y > py))))


def brute_force_front(x, y) -> set[tuple[float, float]]:
    return {(a, b) for a, b in zip(x, y) if not dominated_by_any(x, y, a, b)}


@pytest.mark.parametrize("seed", range(5))
def test_pareto_mask_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 15, 300).astype(float)  # small integer range: many ties and duplicates
    y = rng.integers(0, 15, 300).astype(float)
    keep = analysis.pareto_mask(x, y)
    got = list(zip(x[keep], y[keep]))
    assert len(got) == len(set(got))  # duplicates kept once
    assert set(got) == brute_force_front(x, y)


@pytest.fixture(scope="module")
def mixtral_sweep():
    return analysis.sweep(load_workload("mixtral-8x7b"), build_topology("hgx-h100", 2))


def test_frontiers_of_a_real_sweep_are_true_pareto_sets(mixtral_sweep):
    s = mixtral_sweep
    assert len(s.batch) > 500  # many layouts x batches, not a toy
    thr, cost = analysis.frontiers(s)
    x, y = s.tokens_per_s_per_user, s.tps_per_gpu
    for i in thr:
        assert not dominated_by_any(x, y, x[i], y[i])
    assert {(x[i], y[i]) for i in thr} == brute_force_front(x, y)  # and nothing missing
    cx, cy = -s.tpot_s, -s.usd_per_mtok_all_in  # minimise both = maximise the negatives
    for i in cost:
        assert not dominated_by_any(cx, cy, cx[i], cy[i])
    assert {(cx[i], cy[i]) for i in cost} == brute_force_front(cx, cy)
    # along the frontier, more interactivity costs throughput per GPU (strictly)
    assert np.all(np.diff(x[thr]) > 0) and np.all(np.diff(y[thr]) < 0)


def test_every_sweep_point_fits_memory_when_evaluated_alone(mixtral_sweep):
    s = mixtral_sweep
    thr, _ = analysis.frontiers(s)
    for i in (thr[0], thr[len(thr) // 2], thr[-1]):
        row = s.row(int(i))
        p = api.evaluate("mixtral-8x7b", "hgx-h100", api.Query(domains=2),
                         tp=row["tp"], pp=row["pp"], dp_attn=row["dp_attn"], ep=row["ep"], batch=row["batch"])
        assert not any(v.startswith("memory") for v in p.violations), p.violations
        assert p.metrics["tpot_ms"] == pytest.approx(row["tpot_ms"], rel=1e-3)


def test_the_slo_plan_never_beats_the_unconstrained_frontier():
    # The frontier sweeps a superset of what the SLO allows, so the chosen plan
    # (aggregated, same GPUs) is on or below it: some frontier point is at least
    # as good on both axes (up to rounding).
    res = analysis.frontier("deepseek-r1", ["hgx-h200", "gb200-nvl72"])
    assert [r.sizing.topology for r in res] == ["hgx-h200", "gb200-nvl72"]
    for r in res:
        assert r.chosen is not None, r.chosen_error
        c = r.chosen
        assert any(p["tokens_per_s_per_user"] >= c["tokens_per_s_per_user"] * 0.999
                   and p["output_tokens_per_s_per_gpu"] >= c["output_tokens_per_s_per_gpu"] * 0.999 for p in r.throughput)
    # the rack reaches more throughput per GPU at every interactivity the H200 nodes reach
    h200, gb200 = res
    for p in h200.throughput:
        best = max((q["output_tokens_per_s_per_gpu"] for q in gb200.throughput
                    if q["tokens_per_s_per_user"] >= p["tokens_per_s_per_user"]), default=0.0)
        assert best >= p["output_tokens_per_s_per_gpu"]


def test_cli_csv_json_and_plot(tmp_path):
    png, out_csv = tmp_path / "f.png", tmp_path / "f.csv"
    args = ["frontier", "--workload", "mixtral-8x7b", "--topologies", "hgx-h100,gb200-nvl72"]
    r = runner.invoke(app, args + ["--json", "--csv", str(out_csv), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["kind"] == "frontier" and len(d["topologies"]) == 2
    n_points = sum(len(t["throughput_frontier"]) + len(t["cost_frontier"]) for t in d["topologies"])
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_points
    assert set(rows[0]) == set(CSV_COLUMNS)
    assert {r["frontier"] for r in rows} == {"throughput", "cost"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    r = runner.invoke(app, args)  # the table view
    assert r.exit_code == 0 and "throughput frontier" in r.output and "chosen plan" in r.output
