"""compare, compare --demand-tps and frontier plan topologies in parallel
processes; the answer must be the same bytes as planning them one by one."""

import json

from planner.analysis import analysis
from planner.analysis.demand import compare_demand
from planner.analysis.parallel import map_ordered
from planner.api import Query

TOPOLOGIES = ["hgx-h100", "hgx-h200", "mi300x-8"]


def _same(serial, parallel):
    assert json.dumps(serial, sort_keys=True) == json.dumps(parallel, sort_keys=True)


def _no_time(d):
    if isinstance(d, dict):
        return {k: _no_time(v) for k, v in d.items() if k != "wall_time_s"}
    if isinstance(d, list):
        return [_no_time(v) for v in d]
    return d


def test_compare_in_parallel_equals_serial():
    q = Query(tpot_ms=40)
    # agg: today's disaggregated solve stops on wall-clock time, so under load it is
    # not deterministic even serially (issue 10); the one-core solve loop fixes that
    rows = {w: analysis.compare("llama-3.1-70b", TOPOLOGIES, q, mode="agg", workers=w) for w in (1, 2)}
    _same(*([r.to_dict() for r in rows[w]] for w in (1, 2)))
    _same(*([_no_time(r.plan.to_dict()) for r in rows[w]] for w in (1, 2)))


def test_frontier_in_parallel_equals_serial():
    res = {w: analysis.frontier("llama-3.1-8b", TOPOLOGIES, workers=w) for w in (1, 2)}
    _same(*([r.to_dict() for r in res[w]] for w in (1, 2)))


def test_demand_compare_in_parallel_equals_serial():
    rows = {w: compare_demand("llama-3.1-8b", TOPOLOGIES[:2], None, 50_000.0, mode="agg", workers=w) for w in (1, 2)}
    _same(*([_no_time(r.to_dict()) for r in rows[w]] for w in (1, 2)))


def test_results_come_back_in_input_order_whatever_finishes_first():
    import time

    def slow_first(x):
        time.sleep(0.2 if x == 0 else 0.0)
        return x * x

    seen = []
    assert map_ordered(slow_first, list(range(5)), workers=2, on_done=lambda k, r: seen.append(k)) == [0, 1, 4, 9, 16]
    assert sorted(seen) == list(range(5))


def test_the_first_failing_job_in_input_order_raises():
    def fail(x):
        if x in (1, 3):
            raise ValueError(f"job {x}")
        return x

    for workers in (1, 2):
        try:
            map_ordered(fail, [0, 1, 2, 3], workers=workers)
        except ValueError as exc:
            assert str(exc) == "job 1"
        else:
            raise AssertionError("no error raised")


def test_a_job_whose_worker_dies_runs_again_in_a_fresh_worker(tmp_path):
    import os

    marker = tmp_path / "crashed-once"

    def crash_once(x):
        if x == 2 and not marker.exists():
            marker.write_text("")
            os._exit(134)  # what an abort inside the solver looks like from here
        return x + 1

    assert map_ordered(crash_once, [0, 1, 2, 3], workers=2) == [1, 2, 3, 4]
