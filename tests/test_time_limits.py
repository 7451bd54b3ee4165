"""--time-limit covers the whole command: the deadline arithmetic and what a
command answers when the deadline passes, with a fake clock (no test here
depends on how fast the machine is).

The fake clock stands still unless a test moves it, so the deadline passes
exactly where the test says: during loading (no plan yet: exit 4, naming the
part that took the time), or just before the solve (the greedy plan, status
feasible with its gap, ``stopped_by: wall-clock limit``)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from planner import api
from planner.analysis import parallel
from planner.cli.main import app
from planner.inputs.errors import TimeLimitError
from planner.search import control, deadline
from planner.search.loop import solve
from planner.search.problem import AGG, Budget, Option, Problem, classes_of

EXAMPLES = ["--inventory", "examples/inventory.yaml", "--demands", "examples/demands.yaml"]


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(deadline, "_now", c)
    return c


def _advance_during(monkeypatch, module, name: str, clock: FakeClock, seconds: float) -> None:
    """Make ``module.name`` take ``seconds`` of fake time."""
    real = getattr(module, name)

    def slow(*args, **kwargs):
        out = real(*args, **kwargs)
        clock.t += seconds
        return out

    monkeypatch.setattr(module, name, slow)


# --------------------------------------------------------------------------- arithmetic


def test_the_deadline_is_start_plus_limit_minus_the_reserve(clock):
    for limit_s in (0.1, 1.0, 5.0, 60.0, 3600.0):
        reserve = deadline.reserve_s(limit_s)
        assert 0 < reserve <= min(deadline.RESERVE_MAX_S, limit_s / 2)  # the search always gets at least half
        with deadline.limit(limit_s) as scope:
            assert scope.deadline == pytest.approx(clock.t + limit_s - reserve)
            clock.t += 0.25 * limit_s
            assert deadline.remaining_s() == pytest.approx(0.75 * limit_s - reserve)
        clock.t += 1
    assert deadline.remaining_s() is None  # no command, no deadline


def test_the_reserve_grows_with_the_limit_up_to_its_cap():
    r = [deadline.reserve_s(t) for t in (1, 5, 60, 600, 86_400)]
    assert r == sorted(r) and r[-1] == deadline.RESERVE_MAX_S
    assert deadline.reserve_s(5) == pytest.approx(deadline.RESERVE_MIN_S + deadline.RESERVE_FRACTION * 5)


def test_a_large_plan_keeps_more_of_the_limit_for_its_assembly(clock):
    with deadline.limit(60) as scope:
        base = scope.deadline
        deadline.hold(2871)  # the 100k-GPU fleet's domains
        assert base - scope.deadline == pytest.approx(2871 * deadline.ASSEMBLY_S_PER_DOMAIN)
        deadline.hold(10)  # a smaller plan later in the same command keeps the larger hold
        assert base - scope.deadline == pytest.approx(2871 * deadline.ASSEMBLY_S_PER_DOMAIN)
        deadline.hold(10**9)
        assert scope.deadline == pytest.approx(scope.start + 30)  # the search keeps half the limit at least


def test_past_the_deadline_no_relaxation_starts_either(clock):
    from ortools.sat.python import cp_model

    from planner.search.relax import relax

    m = cp_model.CpModel()
    x = m.NewIntVar(0, 10, "x")
    m.Maximize(x)
    assert relax(m).status == "optimal"
    with deadline.limit(5):
        clock.t += 10
        assert relax(m).status == "unknown" and deadline.was_hit()


def test_a_nested_limit_keeps_the_outer_deadline(clock):
    with deadline.limit(10) as outer:
        clock.t += 3
        with deadline.limit(10) as inner:  # api.plan inside compare: the command's deadline stands
            assert inner is outer and deadline.remaining_s() == pytest.approx(7 - deadline.reserve_s(10))


def test_the_command_counts_from_the_process_start_and_names_start_up(clock, monkeypatch):
    monkeypatch.setattr(deadline, "_age_s", lambda: 0.6)  # the process started 0.6 s ago (from /proc)
    deadline.mark_process_start()
    with deadline.limit(1.0, from_process_start=True) as scope:
        assert scope.start == pytest.approx(clock.t - 0.6)
        assert deadline.largest_part() == (deadline.STARTUP, pytest.approx(0.6))
    with deadline.limit(1.0, from_process_start=True) as scope:  # a second command in this process: its own start
        assert scope.start == clock.t


def test_the_real_process_age_is_measured():
    assert 0 < deadline._age_s() < 24 * 3600  # this process started before the test, and not long ago


# --------------------------------------------------------------------------- the solve loop


def _problem() -> Problem:
    opts = (Option(AGG, 8, 1, 1000.0, 0.01), Option(AGG, 4, 1, 450.0, 0.005), Option(AGG, 2, 1, 260.0, 0.0025))
    return Problem(opts, classes_of([8, 8, 6]), "cost", rel_gap=0.0, budget=Budget(work=5.0, wall_s=60.0))


def test_past_the_deadline_no_solve_starts_and_the_greedy_plan_is_kept(clock):
    with deadline.limit(5):
        clock.t += 10
        sol = solve(_problem())
    assert sol.status == "feasible" and sol.stopped_by == control.WALL_LIMIT
    assert sol.gap is not None and sol.bound <= sol.objective
    assert sum(sol.replicas) > 0


def test_before_the_deadline_the_work_budget_decides(clock):
    with deadline.limit(5):
        sol = solve(_problem())
    assert sol.status == "optimal" and sol.stopped_by == "proof"


# --------------------------------------------------------------------------- commands


def test_a_deadline_passed_while_loading_is_exit_4_naming_the_part(clock, monkeypatch):
    _advance_during(monkeypatch, api, "load", clock, 100.0)
    with pytest.raises(TimeLimitError) as err:
        api.plan("llama-3.1-8b", "hgx-h100", mode="agg", time_limit_s=10)
    assert err.value.exit_code == 4
    assert str(err.value) == ("time limit: no plan within --time-limit 10 s: loading llama-3.1-8b and hgx-h100 "
                              "took 100.0 s of it; raise --time-limit")


def test_the_cli_says_it_in_one_line_with_exit_4(clock, monkeypatch):
    _advance_during(monkeypatch, api, "load", clock, 100.0)
    r = CliRunner().invoke(app, ["plan", "-w", "llama-3.1-8b", "-t", "hgx-h100", "--time-limit", "10", "--json"])
    assert r.exit_code == 4 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: time limit: no plan within --time-limit 10 s: loading")


def test_a_deadline_passed_before_the_solve_gives_the_best_plan_with_its_gap(clock, monkeypatch):
    exact = api.plan("llama-3.1-8b", "hgx-h100", api.Query(domains=4), mode="agg", time_limit_s=10)
    _advance_during(monkeypatch, api, "options", clock, 100.0)
    p = api.plan("llama-3.1-8b", "hgx-h100", api.Query(domains=4), mode="agg", time_limit_s=10)
    s = p.solver
    assert p.status == s["status"] == "feasible" and s["stopped_by"] == "wall-clock limit"
    assert s["gap"] is not None and s["bound"] <= s["objective_value"]
    assert exact.solver["stopped_by"] == "proof" and exact.solver["objective_value"] <= s["objective_value"]
    assert exact.solver["objective_value"] >= s["bound"] * (1 - 1e-9)  # the reported bound holds


def test_auto_keeps_the_first_mode_when_the_deadline_stops_the_second(clock, monkeypatch):
    from planner.plan import disagg_plan

    _advance_during(monkeypatch, disagg_plan, "enumerate_layouts", clock, 100.0)
    p = api.plan("llama-3.1-8b", "hgx-h100", api.Query(domains=2), mode="auto", time_limit_s=10)
    assert p.inputs["mode"] == "aggregated"
    assert p.status == "feasible" and p.solver["stopped_by"] == "wall-clock limit"  # not proven the cheaper mode
    assert p.solver["modes_compared"]["disaggregated"].startswith("time limit: no plan within --time-limit 10 s")


def test_a_fleet_past_its_deadline_before_the_solve_answers_with_the_greedy_plan(clock, monkeypatch):
    from planner.plan import fleet

    _advance_during(monkeypatch, fleet, "build_problem", clock, 1000.0)
    r = CliRunner().invoke(app, ["fleet", *EXAMPLES, "--time-limit", "60", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["status"] == "feasible" and d["model"]["stopped_by"] == "wall-clock limit" and d["gap"] is not None
    assert d["fraction_met"] == 1.0


def test_a_fleet_past_its_deadline_claims_a_capacity_only_when_proven(clock, monkeypatch, tmp_path):
    from planner.plan import fleet

    dem = tmp_path / "demands.yaml"
    dem.write_text("demands:\n  - {name: huge, workload: llama-3.1-8b, output_tokens_per_s: 1.0e+9}\n")
    _advance_during(monkeypatch, fleet, "build_problem", clock, 1000.0)
    r = CliRunner().invoke(app, ["fleet", "--inventory", "examples/inventory.yaml", "--demands", str(dem), "--time-limit", "60", "--json"])
    d = json.loads(r.stdout)
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and d["model"]["stopped_by"] == "wall-clock limit"
    if r.exit_code == 3:  # a capacity claim: only with its proof (the bound met, or a bound below every demand)
        assert "(proven)" in err[0] and d["fraction_bound"] < 1.0
        assert d["status"] == "partial-unproven" or d["fraction_met"] == d["fraction_bound"]
    else:
        assert r.exit_code == 4 and err[0].startswith("error: time limit:")


@pytest.mark.parametrize("status,bound,code,says", [
    ("partial", 0.4, 3, "error: demand: at most 40.0% of every demand can be served (proven)"),
    # the bound proves that not every demand can be met: a proven shortfall, exit 3, with the plan's own fraction
    ("partial-unproven", 0.9, 3, "error: demand: at most 90.0% of every demand can be served (proven); this plan serves "
                                 "40.0% of each (not proven best)"),
    # no proof that the demands cannot all be met: only the time limit can be blamed
    ("partial-unproven", 1.0, 4, "error: time limit: no plan meeting every demand (the best found serves 40.0% of each) "
                                 "within --time-limit 60 s"),
    ("unknown", 0.9, 4, "error: time limit: no plan within --time-limit 60 s"),
])
def test_the_fleet_exit_says_whether_the_capacity_is_proven(monkeypatch, status, bound, code, says):
    from dataclasses import replace

    from planner.plan import fleet

    real = fleet.plan_fleet
    monkeypatch.setattr(fleet, "plan_fleet", lambda *a, **k: replace(real(*a, **k), status=status, fraction_met=0.4, fraction_bound=bound))
    r = CliRunner().invoke(app, ["fleet", *EXAMPLES, "--time-limit", "60", "--json"])
    assert r.exit_code == code
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(says), err


def test_compare_rows_the_deadline_left_without_a_plan_say_so_and_exit_4(clock, monkeypatch):
    calls = {"n": 0}
    real = api._plan_agg

    def first_then_late(*args, **kwargs):  # the first topology is solved, then the clock runs out
        calls["n"] += 1
        if calls["n"] == 2:
            clock.t += 1000
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "_plan_agg", first_then_late)
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)  # in this process, where the fake clock is
    r = CliRunner().invoke(app, ["compare", "-w", "llama-3.1-8b", "--topologies", "hgx-h100,hgx-h200", "--mode", "agg",
                                 "--time-limit", "10", "--json"])
    assert r.exit_code == 4
    rows = json.loads(r.stdout)["rows"]
    assert rows[0]["feasible"] and rows[1]["error"].startswith("time limit: no plan within --time-limit 10 s")
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "no plan for 1 of 2 topologies: hgx-h200" in err[0]


@pytest.mark.parametrize("command", [["plan"], ["compare", "--topologies", "hgx-h100"], ["frontier", "-t", "hgx-h100"], ["fleet", *EXAMPLES]])
def test_a_start_up_longer_than_the_limit_ends_at_once_with_exit_4(clock, monkeypatch, command):
    monkeypatch.setattr(deadline, "_age_s", lambda: 5.0)  # the interpreter and imports took 5 s of a 1 s limit
    deadline.mark_process_start()
    r = CliRunner().invoke(app, [*command, "--time-limit", "1"])
    assert r.exit_code == 4 and r.stdout == ""
    assert r.stderr.strip() == ("error: time limit: no plan within --time-limit 1 s: start-up (Python and imports) "
                                "took 5.0 s of it; raise --time-limit")


def test_a_proven_shortfall_quotes_a_capacity_only_when_the_capacity_is_proven(clock, monkeypatch):
    """--demand-tps beyond what 8 H100s serve is proven infeasible; the capacity the
    message quotes comes from a second (throughput) solve, which the deadline may cut."""
    q = api.Query(domains=1)
    with pytest.raises(Exception) as proven:
        api.plan("llama-3.1-70b", "hgx-h100", q, mode="agg", demand_tps=20_000)
    most = api.plan("llama-3.1-70b", "hgx-h100", q, mode="agg", objective="throughput").solver["objective_value"]
    assert proven.value.exit_code == 3 and f"exceeds the {most:.0f} tokens/s that 8 available GPUs" in str(proven.value)
    calls = {"n": 0}
    real = api.solve

    def late_second(problem):  # the deadline passes between the demand solve and the throughput solve
        calls["n"] += 1
        if calls["n"] == 2:
            clock.t += 1000
        return real(problem)

    monkeypatch.setattr(api, "solve", late_second)
    with pytest.raises(Exception) as cut:
        api.plan("llama-3.1-70b", "hgx-h100", q, mode="agg", demand_tps=20_000)
    assert cut.value.exit_code == 3  # the shortfall itself is still proven
    assert "exceeds what 8 available GPUs of hgx-h100 can serve" in str(cut.value) and f"{most:.0f}" not in str(cut.value)
