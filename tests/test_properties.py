"""Properties that must hold for every valid workload and topology (hypothesis).

More HBM, a looser SLO or more GPUs can only add options, so the best cost per
token never rises; a price is a pure scale factor; a plan meets its own limits
when its layouts are evaluated one by one; the same question gets the same
answer. Workloads are drawn at random (dense or MoE, GQA, any precision the
shipped accelerators compute in); topologies are shipped ones at 1-3 domains.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import api
from planner.inputs.errors import InfeasibleError
from planner.inputs.topology import Topology, build_topology, with_price
from planner.inputs.workload import Workload, WorkloadFile, workload_from_spec

PROPS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
TOPOLOGIES = ["hgx-h100", "hgx-b200", "mi300x-8", "hgx-a100", "gb200-nvl72"]
REL = 1e-9  # float noise in a $/token that must not rise
DISPLAY = 2e-3  # plan metrics are rounded to 4 significant digits


@lru_cache(maxsize=None)
def topology(name: str, domains: int) -> Topology:
    return build_topology(name, n_domains=domains)


@st.composite
def workloads(draw) -> Workload:
    n_heads = draw(st.sampled_from([8, 16, 32, 64, 128]))
    head_dim = 128
    d_model = n_heads * head_dim
    model = {
        "n_layers": draw(st.integers(4, 128)),
        "d_model": d_model,
        "vocab_size": draw(st.sampled_from([32000, 128256])),
        "n_heads": n_heads,
        "n_kv_heads": draw(st.sampled_from([k for k in (1, 2, 4, 8) if n_heads % k == 0])),
        "head_dim": head_dim,
        "d_ff": d_model * draw(st.sampled_from([2, 3, 4])),
    }
    if draw(st.booleans()):
        experts = draw(st.sampled_from([8, 16, 64]))
        model["moe"] = {
            "n_routed_experts": experts,
            "experts_per_token": draw(st.sampled_from([k for k in (1, 2, 4, 8) if k <= experts])),
            "expert_d_ff": d_model // draw(st.sampled_from([1, 2, 4])),
            "n_shared_experts": draw(st.sampled_from([0, 1])),
        }
    spec = WorkloadFile.model_validate({
        "name": "random",
        "source": "hypothesis",
        "model": model,
        "precision": {"weights": draw(st.sampled_from(["bf16", "fp8"])), "kv_cache": draw(st.sampled_from(["bf16", "fp8"]))},
        "traffic": {"isl": draw(st.integers(64, 8192)), "osl": draw(st.integers(16, 2048))},
        "slo": {"ttft_ms": draw(st.floats(100, 10000)), "tpot_ms": draw(st.floats(3, 200))},
    })
    return workload_from_spec(spec)


def plan_or_none(w: Workload, topo: Topology, **kwargs):
    try:
        return api.plan(w, topo, mode="agg", **kwargs)
    except InfeasibleError:
        return None


def best_cost(w: Workload, topo: Topology) -> float:
    """The cost objective's value (unrounded), infinity when nothing is feasible."""
    p = plan_or_none(w, topo)
    return math.inf if p is None else float(p.solver["objective_value"])


def setting():
    return st.tuples(workloads(), st.sampled_from(TOPOLOGIES), st.integers(1, 2))


@PROPS
@given(case=setting(), more=st.sampled_from([1.25, 2.0, 4.0]))
def test_more_hbm_never_raises_the_best_cost(case, more):
    w, name, domains = case
    topo = topology(name, domains)
    acc = topo.accelerator
    bigger = replace(topo, accelerator=replace(acc, hbm_bytes=acc.hbm_bytes * more))
    assert best_cost(w, bigger) <= best_cost(w, topo) * (1 + REL)


@PROPS
@given(case=setting(), looser=st.sampled_from([1.2, 2.0, 5.0]), which=st.sampled_from(["tpot", "ttft", "both"]))
def test_a_looser_slo_never_raises_the_best_cost(case, looser, which):
    w, name, domains = case
    topo = topology(name, domains)
    loose = replace(
        w,
        tpot_s=w.tpot_s * (looser if which != "ttft" else 1.0),
        ttft_s=w.ttft_s * (looser if which != "tpot" else 1.0),
    )
    assert best_cost(w=loose, topo=topo) <= best_cost(w, topo) * (1 + REL)


@PROPS
@given(case=setting(), extra=st.integers(1, 2))
def test_more_gpus_never_raise_the_best_cost(case, extra):
    w, name, domains = case
    assert best_cost(w, topology(name, domains + extra)) <= best_cost(w, topology(name, domains)) * (1 + REL)


@PROPS
@given(case=setting(), factor=st.sampled_from([2.0, 0.5, 3.0, 1e15]))  # 1e15: past the solver's integer range
def test_scaling_the_price_scales_every_dollar_figure_and_changes_no_layout(case, factor):
    w, name, domains = case
    topo = topology(name, domains)
    base = plan_or_none(w, topo)
    scaled = plan_or_none(w, with_price(topo, topo.price_usd_per_gpu_hour * factor))
    assert (base is None) == (scaled is None)
    if base is None:
        return
    strip = lambda reps: [{k: r[k] for k in ("layout", "batch", "gpu_ids")} for r in reps]  # noqa: E731
    assert strip(scaled.replicas) == strip(base.replicas)
    for key in ("usd_per_mtok_output", "usd_per_mtok_input", "usd_per_mtok_all_in", "usd_per_hour"):
        if base.metrics[key]:
            assert scaled.metrics[key] / base.metrics[key] == pytest.approx(factor, rel=DISPLAY), key
    assert scaled.solver["objective_value"] / base.solver["objective_value"] == pytest.approx(factor, rel=1e-9)


@PROPS
@given(case=setting())
def test_every_replica_meets_its_limits_when_evaluated_on_its_own(case):
    w, name, domains = case
    topo = topology(name, domains)
    p = plan_or_none(w, topo)
    if p is None:
        return
    seen = set()
    for r in p.replicas:
        lay = r["layout"]
        key = (tuple(sorted(lay.items())), r["batch"])
        if key in seen:
            continue
        seen.add(key)
        ev = api.evaluate(w, topo, tp=lay["tp"], pp=lay["pp"], dp_attn=lay["dp_attn"], ep=lay["ep"], batch=r["batch"])
        assert ev.status == "ok", ev.violations
        assert ev.metrics["tpot_ms"] <= w.tpot_s * 1e3 * (1 + DISPLAY)
        assert ev.metrics["ttft_ms"] <= w.ttft_s * 1e3 * (1 + DISPLAY)
        assert ev.memory_per_gpu_gb["total"] <= ev.memory_per_gpu_gb["capacity"] * (1 + DISPLAY)
    assert p.metrics["gpus_used"] <= topo.n_available
    json.loads(p.to_json(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    ids = [g for r in p.replicas for g in r["gpu_ids"]]
    assert len(ids) == len(set(ids)) and not set(ids) & topo.unavailable


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=setting(), objective=st.sampled_from(["cost", "throughput"]))
def test_the_same_question_gets_the_same_json_apart_from_timing(case, objective):
    w, name, domains = case
    topo = topology(name, domains)

    def answer():
        try:
            d = json.loads(api.plan(w, topo, objective=objective, mode="agg").to_json())
        except InfeasibleError as exc:
            return str(exc)
        d["solver"].pop("wall_time_s")
        return d

    assert answer() == answer()


def test_default_mode_plan_is_deterministic():
    """auto mode runs several CP-SAT solves (pools, Dinkelbach, tie-break); each stops
    on optimality or on deterministic work, never on the wall clock, so repeated
    runs agree to the byte apart from timing."""

    def answer():
        d = json.loads(api.plan("deepseek-v3", "gb200-nvl72", api.Query(domains=2)).to_json())
        d["solver"].pop("wall_time_s")
        return json.dumps(d, sort_keys=True)

    first = answer()
    assert all(answer() == first for _ in range(2))
