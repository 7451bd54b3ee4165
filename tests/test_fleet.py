"""Fleet planning: the CP-SAT model against exhaustive search, placement
invariants (no GPU twice, failed GPUs never used, every demand met), the
largest satisfiable fraction with its binding resource, and the files."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli.main import app
from planner.inputs.errors import InputError
from planner.plan.fleet import check, load_inventory, plan_fleet
from planner.search.blocks import integers, upper_bounds
from planner.search.loop import solve
from planner.search.oracle import exhaustive
from planner.search.packing import add_packing, classes_of, place
from planner.search.problem import AGG, Budget, DomainClass, Option, Problem

# --------------------------------------------------------------------------- model vs oracle


def _random_fleet(seed: int) -> Problem:
    """Two hardware groups (8-GPU nodes, 12-GPU domains), two workloads, a few
    options each with one- and two-piece replicas, some GPUs failed."""
    rnd = random.Random(seed)
    classes = []
    for g, (size, n) in enumerate(((8, 2), (12, 1))):
        free = [size - rnd.choice([0, 0, 1, 3]) for _ in range(n)]
        classes += [DomainClass(g, f, tuple(j for j, x in enumerate(free) if x == f)) for f in sorted(set(free))]
    options = []
    for w in range(2):
        for g in range(2):
            for gpus, chunks in rnd.sample([(2, 1), (4, 1), (6, 1), (8, 2), (12, 2)], 2):
                per_gpu = rnd.uniform(800, 1200) * (1.3 if g == 1 else 1.0)
                options.append(Option(AGG, gpus, chunks, per_gpu * gpus, gpus * (2.0 if g == 0 else 3.0) / 3600, workload=w, group=g))
    demand = tuple(rnd.uniform(3000, 9000) for _ in range(2))
    return Problem(tuple(options), tuple(classes), "demand", demand, partial=True, rel_gap=0.0, budget=Budget(work=20.0, wall_s=120.0))


@pytest.mark.parametrize("seed", range(6))
def test_fleet_optimum_equals_exhaustive_search(seed):
    p = _random_fleet(seed)
    best = exhaustive(p)
    sol = solve(p)
    if best is None:
        assert sol.status not in ("optimal", "feasible")
        return
    assert sol.status == "optimal"
    assert sol.key == best[0]
    s = integers(p, upper_bounds(p))
    for w, d in enumerate(s.demand):  # every demand met
        assert sum(s.tps[k] * sol.replicas[k] for k, o in enumerate(p.options) if o.workload == w) >= d
    for c in p.classes:  # no domain over-filled
        for j in c.domains:
            used = sum(o.piece * sol.pieces[k].get(j, 0) for k, o in enumerate(p.options) if o.group == c.group)
            assert used <= c.capacity


def test_arc_flow_packing_never_overfills_a_domain():
    from ortools.sat.python import cp_model

    free = (12, 12, 7, 7, 7)
    pieces = [5, 4, 3]
    m = cp_model.CpModel()
    pk = add_packing(m, classes_of(free), pieces, [10, 10, 10])
    m.Maximize(sum(p * pk.placed(k) for k, p in enumerate(pieces)))
    s = cp_model.CpSolver()
    assert s.Solve(m) == cp_model.OPTIMAL
    per = place(pk, s.Value)
    for j, f in enumerate(free):
        assert sum(p * per[k].get(j, 0) for k, p in enumerate(pieces)) <= f
    assert s.ObjectiveValue() == sum(free)  # 12 = 4+4+4 or 5+4+3, 7 = 4+3: nothing idle


# --------------------------------------------------------------------------- the API on real workloads


def _write(tmp_path, inventory: dict, demands: dict):
    inv, dem = tmp_path / "inventory.yaml", tmp_path / "demands.yaml"
    inv.write_text(yaml.safe_dump(inventory))
    dem.write_text(yaml.safe_dump(demands))
    return inv, dem


INVENTORY = {
    "name": "test",
    "groups": [
        {"name": "h100", "topology": "hgx-h100", "count": 4, "unavailable_gpus": [1, 2, 9], "unavailable_domains": [3]},
        {"name": "b200", "topology": "hgx-b200", "count": 2, "unavailable_gpus": [0]},
    ],
}


def test_fleet_plan_meets_every_demand_without_reusing_or_touching_failed_gpus(tmp_path):
    demands = {"demands": [
        {"name": "small", "workload": "llama-3.1-8b", "output_tokens_per_s": 20000},
        {"name": "big", "workload": "llama-3.1-70b", "output_tokens_per_s": 4000, "groups": ["h100"]},
    ]}
    f = plan_fleet(*_write(tmp_path, INVENTORY, demands), time_limit_s=10)
    assert f.status in ("optimal", "feasible")
    assert check(f) == []
    down = {g["name"]: set(g["unavailable_gpu_ids"]) for g in f.groups}
    assert {d * 8 + k for d in [3] for k in range(8)} <= down["h100"]
    for r in f.replicas:
        assert not set(r["gpu_ids"]) & down[r["group"]]
        if r["demand"] == "big":
            assert r["group"] == "h100"
    for w in f.workloads:
        assert w["served_output_tokens_per_s"] >= w["demand_output_tokens_per_s"]
    assert f.gap <= 1e-3


def test_impossible_demand_reports_largest_fraction_and_the_binding_group(tmp_path):
    demands = {"demands": [{"name": "huge", "workload": "llama-3.1-70b", "output_tokens_per_s": 5e7}]}
    f = plan_fleet(*_write(tmp_path, INVENTORY, demands), time_limit_s=10)
    assert f.status.startswith("partial")
    assert 0 < f.fraction_met < 1 and f.fraction_met <= f.fraction_bound
    assert any(b.startswith("gpus: h100") for b in f.binding) and any(b.startswith("gpus: b200") for b in f.binding)
    assert check(f) == []
    served = f.workloads[0]["served_output_tokens_per_s"] / 5e7
    assert f.fraction_met <= served <= f.fraction_bound + 1e-6


def test_slo_impossible_demand_is_named(tmp_path):
    demands = {"demands": [
        {"name": "ok", "workload": "llama-3.1-8b", "output_tokens_per_s": 1000},
        {"name": "too-fast", "workload": "llama-3.1-70b", "output_tokens_per_s": 1000, "tpot_ms": 0.5},
    ]}
    f = plan_fleet(*_write(tmp_path, INVENTORY, demands), time_limit_s=10)
    assert f.status == "partial"
    assert any(b.startswith("slo: too-fast") and "tpot" in b for b in f.binding)
    assert f.workloads[0]["served_output_tokens_per_s"] >= 1000  # the servable demand is still planned


def test_identical_domains_collapse_into_classes(tmp_path):
    """The model's size depends on how many *kinds* of domain there are, not on
    how many: 4 and 4,000 healthy nodes give the same number of classes."""
    demands = {"demands": [{"name": "small", "workload": "llama-3.1-8b", "output_tokens_per_s": 20000}]}
    small = plan_fleet(*_write(tmp_path, {"name": "a", "groups": [{"name": "n", "topology": "hgx-h100", "count": 4}]}, demands))
    big = plan_fleet(*_write(tmp_path, {"name": "b", "groups": [{"name": "n", "topology": "hgx-h100", "count": 4000}]}, demands))
    assert small.model["classes"] == big.model["classes"] == 1
    assert big.usd_per_hour == pytest.approx(small.usd_per_hour)


# --------------------------------------------------------------------------- files and CLI


def test_inventory_file_errors_name_the_field(tmp_path):
    bad = tmp_path / "inv.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "groups": [{"name": "a", "topology": "hgx-h100", "cout": 2}]}))
    with pytest.raises(InputError, match=r"inv.yaml: unknown field '[^']*cout'; did you mean 'count'"):
        load_inventory(bad)
    bad.write_text(yaml.safe_dump({"name": "x", "groups": [{"name": "a", "topology": "hgx-h100", "count": 2, "price_usd_per_gpu_hour": 1.0}]}))
    with pytest.raises(InputError, match="price_source"):
        load_inventory(bad)


def test_unknown_group_in_demands_is_an_input_error(tmp_path):
    demands = {"demands": [{"name": "d", "workload": "llama-3.1-8b", "output_tokens_per_s": 10, "groups": ["nope"]}]}
    with pytest.raises(InputError, match="unknown group 'nope'"):
        plan_fleet(*_write(tmp_path, INVENTORY, demands))


def test_cli_fleet_on_the_shipped_examples():
    r = CliRunner().invoke(app, ["fleet", "--inventory", "examples/inventory.yaml", "--demands", "examples/demands.yaml", "--json", "--time-limit", "20"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["status"] in ("optimal", "feasible") and d["fraction_met"] == 1.0
    assert len({g for rep in d["replicas"] for g in ((rep["group"], x) for x in rep["gpu_ids"])}) == sum(len(rep["gpu_ids"]) for rep in d["replicas"])


def test_cli_fleet_exits_3_with_one_line_when_demand_cannot_be_met(tmp_path):
    inv, dem = _write(tmp_path, INVENTORY, {"demands": [{"name": "huge", "workload": "llama-3.1-8b", "output_tokens_per_s": 1e9}]})
    r = CliRunner().invoke(app, ["fleet", "--inventory", str(inv), "--demands", str(dem), "--json", "--time-limit", "5"])
    assert r.exit_code == 3
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("error: demand: at most") and "binding: gpus" in last


@pytest.mark.parametrize("seed", range(6))
def test_lp_relaxation_bounds_the_exhaustive_optimum_and_its_rounded_plan_is_feasible(seed):
    """The LP relaxation (GLOP over the model's linear rows) never promises a
    cost below the true optimum; the plan rounded from it is a whole plan that
    costs no less than the optimum (it is feasible, so it cannot beat it)."""
    from planner.search.blocks import build
    from planner.search.rounding import lp_plan

    p = _random_fleet(seed)
    best = exhaustive(p)
    ub = upper_bounds(p)
    ints = integers(p, ub)
    mdl = build(p, ints, ub)
    bound, vals = lp_plan(p, ints, ub, mdl, mdl.usd, "min")
    if best is None:
        return
    assert bound != "infeasible" and bound <= best[0]
    if vals is not None:
        counts = [vals[v.Index()] for v in mdl.r]
        assert sum(c * n for c, n in zip(ints.usd, counts)) >= best[0]
        for w, d in enumerate(ints.demand):
            assert sum(ints.tps[k] * counts[k] for k, o in enumerate(p.options) if o.workload == w) >= d


def test_identical_groups_are_one_kind_for_the_solver_and_replicas_never_cross_groups(tmp_path):
    """Three identical sites of 3 HGX H100 nodes are one kind in the model (its
    size does not grow with the sites: two such sites give the same model);
    placement after is per site, so no replica spans two sites, and splitting 9
    nodes into three sites never makes the plan cheaper than one site of 9 (the
    merged model is a relaxation). One site of 9 admits layouts wider than 3 nodes,
    so it may rate more options, never fewer."""
    demands = {"demands": [{"name": "big", "workload": "llama-3.1-405b", "output_tokens_per_s": 600}]}  # two-node replicas
    sites = {"name": "s", "groups": [{"name": f"site{k}", "topology": "hgx-h100", "count": 3} for k in range(3)]}
    two = {"name": "t", "groups": [{"name": f"site{k}", "topology": "hgx-h100", "count": 3} for k in range(2)]}
    one = {"name": "o", "groups": [{"name": "site", "topology": "hgx-h100", "count": 9}]}
    split = plan_fleet(*_write(tmp_path, sites, demands), time_limit_s=10)
    fewer = plan_fleet(*_write(tmp_path, two, demands), time_limit_s=10)
    whole = plan_fleet(*_write(tmp_path, one, demands), time_limit_s=10)
    assert split.model["classes"] == fewer.model["classes"] == whole.model["classes"] == 1
    assert split.model["options"] == fewer.model["options"] <= whole.model["options"]
    assert check(split) == [] and split.status in ("optimal", "feasible")
    for r in split.replicas:
        assert all(0 <= g < 3 * 8 for g in r["gpu_ids"]) and all(0 <= d < 3 for d in r["domains"]), r
    assert split.usd_per_hour >= whole.usd_per_hour - 1e-6
    assert split.workloads[0]["served_output_tokens_per_s"] >= 600


def test_a_piece_that_fits_on_one_host_is_placed_on_one_host(tmp_path):
    """Within a domain any free GPUs would do for the solver, but engines launch
    one process set per host: the example fleet's NVL72 racks (4-GPU hosts, three
    failed GPUs) used to get pieces straddling hosts, refused by every engine.
    Each piece (a replica's GPUs in one domain) of at most a host's GPUs sits on
    one host, and a larger one on whole hosts where the domain has them."""
    from pathlib import Path

    ex = Path(__file__).resolve().parent.parent / "examples"
    f = plan_fleet(ex / "inventory.yaml", ex / "demands.yaml", time_limit_s=60)
    per_host = {g["name"]: g["gpus_per_host"] for g in f.groups}
    size = {g["name"]: g["domain_size"] for g in f.groups}
    assert check(f) == []
    for r in f.replicas:
        h, n = per_host[r["group"]], size[r["group"]]
        for d in r["domains"]:
            piece = [g for g in r["gpu_ids"] if g // n == d]
            hosts = {g // h for g in piece}
            assert len(hosts) == -(-len(piece) // h), (r["id"], piece)
