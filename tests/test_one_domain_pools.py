"""On one scale-up domain the split prefill/decode pools share that domain and
only pay the slower KV link, so they never beat the colocated pools: the planner
skips solving them there. Oracle: the same plan with both variants solved."""

import json

import pytest

from planner import api
from planner.plan import disagg_plan


def _doc(p) -> dict:
    d = json.loads(p.to_json())
    d["solver"].pop("wall_time_s", None)
    return d


@pytest.mark.parametrize("workload,topology", [("llama-3.1-70b", "rubin-ultra-nvl576"), ("deepseek-v3", "gb200-nvl72")])
def test_skipping_split_pools_on_one_domain_changes_nothing(monkeypatch, workload, topology):
    calls = []
    real = disagg_plan._solve_variant

    def counted(*a, **k):
        calls.append(a[3])  # scale_up: True = colocated
        return real(*a, **k)

    monkeypatch.setattr(disagg_plan, "_solve_variant", counted)
    fast = api.plan(workload, topology, mode="disagg")
    assert calls == [True]  # the split variant was never solved
    monkeypatch.setattr(disagg_plan, "_split_cannot_win", lambda topo, v: False)
    calls.clear()
    both = api.plan(workload, topology, mode="disagg")
    assert calls == [True, False]  # the oracle: both variants solved, the better one kept
    assert _doc(both) == _doc(fast)
