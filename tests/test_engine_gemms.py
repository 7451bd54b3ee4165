"""An engine's kernels in the cost model: vLLM's block-scaled FP8 GEMMs, measured
against SGLang's on the same shapes (tests/data/engine_gemm_times.csv,
planner/analysis/engine_gemms.py), priced per launch where the GPU applies the
block scales on CUDA cores, and nowhere else."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import yaml

from planner import api
from planner.analysis import engine_gemms as eg
from planner.analysis import fidelity
from planner.inputs.datafiles import resolve
from planner.inputs.engines import with_engine
from planner.physics.candidates import pinned_layout
from planner.physics.costmodel import step_terms
from planner.physics.gemm import DENSE_LAUNCHES

US = 1e-6


def _shipped_extra_us() -> float:
    return yaml.safe_load(resolve("hardware", "engines").read_text())["vllm"]["block_fp8_gemm_extra_us"]


def test_the_shipped_extra_is_the_one_the_kernel_table_implies():
    assert _shipped_extra_us() == pytest.approx(eg.fit_extra_us(), abs=0.01)


def test_the_extra_is_a_per_launch_cost_flat_in_the_rows():
    """From 1 to 256 rows the median difference stays within 1 us of its overall
    median: a fixed cost per launch, not a slower rate."""
    overall = eg.median_delta_us("fp8_block")
    for m in (1, 4, 16, 64, 256):
        at_m = statistics.median(p.delta_us for p in eg.pairs() if p.m == m and eg.promotes_scales(p.system))
        assert abs(at_m - overall) < 1.0, m


def test_the_extra_belongs_to_the_block_scaled_path():
    """BF16 and per-tensor FP8 GEMMs on the same shapes take the same time in both
    engines (within 2 us); the block-scaled ones take 4-12 us more."""
    assert abs(eg.median_delta_us("bfloat16", promoted=None)) < 2.0
    assert abs(eg.median_delta_us("fp8", promoted=None)) < 2.0
    assert 4.0 < eg.median_delta_us("fp8_block") < 12.0


def test_on_block_scaled_mma_hardware_vllm_is_not_slower():
    """B200 applies the block scales in the MMA: vLLM's kernel is no slower there, so
    the planner charges nothing on Blackwell."""
    assert eg.median_delta_us("fp8_block", promoted=False) <= 0.0


def _step_s(workload: str, topology: str, tp: int, engine: str | None, batch: float = 4.0, **weights) -> float:
    w, topo = api.load(workload, topology, api.Query())
    if weights:
        from dataclasses import replace

        w = replace(w, weights=replace(w.weights, **weights))
    topo = api.replace(topo, efficiency=with_engine(topo.efficiency, engine))
    L = pinned_layout(w, topo, tp, 1, 1, 1)
    return float(step_terms(w, topo, L, batch, 0.0, 1000.0).stage_s[0])


def test_deepseek_on_hopper_pays_five_launches_a_layer():
    """DeepSeek-R1 (block-FP8 attention, dense MLP and shared expert) on H200: each of
    its 61 layers runs MLA's three projections and two MLP (or shared-expert) GEMMs."""
    extra = _step_s("deepseek-r1", "hgx-h200", 8, "vllm") - _step_s("deepseek-r1", "hgx-h200", 8, None)
    launches = DENSE_LAUNCHES["mla"] + DENSE_LAUNCHES["mlp"]
    assert extra == pytest.approx(61 * launches * _shipped_extra_us() * US, rel=1e-9)


def test_the_extra_does_not_grow_with_the_batch():
    at = {b: _step_s("deepseek-r1", "hgx-h200", 8, "vllm", b) - _step_s("deepseek-r1", "hgx-h200", 8, None, b) for b in (1.0, 64.0)}
    assert at[1.0] == pytest.approx(at[64.0], rel=1e-9)


def test_gqa_attention_without_shared_experts_pays_two_launches():
    """Qwen3-235B-A22B-FP8 (GQA, no shared expert, 128x128 block scales) on H100: the
    fused qkv and o_proj of each of its 94 layers."""
    fp8 = {"attention": "fp8_block128", "routed_experts": "fp8_block128"}
    extra = _step_s("qwen3-235b-a22b", "hgx-h100", 8, "vllm", **fp8) - _step_s("qwen3-235b-a22b", "hgx-h100", 8, None, **fp8)
    assert extra == pytest.approx(94 * DENSE_LAUNCHES["gqa"] * _shipped_extra_us() * US, rel=1e-9)


@pytest.mark.parametrize("workload, topology, tp, weights", [
    ("deepseek-r1", "hgx-b200", 8, {}),  # block scales in the MMA
    ("mixtral-8x7b", "hgx-h200", 2, {}),  # BF16 checkpoint
    ("deepseek-r1", "hgx-h200", 8, {"attention": "bf16", "dense_ffn": "bf16", "shared_experts": "bf16"}),  # only the routed experts in FP8
])
def test_nothing_is_charged_off_the_block_scaled_path_on_hopper(workload, topology, tp, weights):
    assert _step_s(workload, topology, tp, "vllm", **weights) == _step_s(workload, topology, tp, None, **weights)


@pytest.mark.parametrize("engine", ["sglang", "trtllm"])
def test_the_reference_engines_change_nothing(engine):
    assert _step_s("deepseek-r1", "hgx-h200", 8, engine) == _step_s("deepseek-r1", "hgx-h200", 8, None)


def test_planning_for_vllm_prices_its_kernels():
    """api.evaluate with --engine vllm: the same pinned layout's TPOT grows by the
    launches' extra; with SGLang it is the engine-free figure."""
    q = api.Query(isl=1000, osl=200)
    tpot = {e: api.evaluate("deepseek-r1", "hgx-h200", q, tp=8, batch=4, engine=e).to_dict()["metrics"]["tpot_ms"]
            for e in ("vllm", "sglang")}
    added_ms = 61 * (DENSE_LAUNCHES["mla"] + DENSE_LAUNCHES["mlp"]) * _shipped_extra_us() / 1000.0
    assert tpot["vllm"] - tpot["sglang"] == pytest.approx(added_ms, abs=0.05)


def test_a_records_stated_engine_reaches_the_prediction():
    cases, _ = fidelity.load_cases()
    (c,) = [c for c in cases if c.record_id == "GPUSTACK-H200-DSR1-VLLM"]
    assert c.spec.engine is not None and c.spec.engine.name == "vllm"
    named = fidelity.predict(c).predicted
    anonymous = fidelity.predict(fidelity.Case(c.record_id, c.measured, c.spec.model_copy(update={"engine": None}))).predicted
    step = 1.0 / anonymous + 61 * 5 * _shipped_extra_us() * US
    assert named == pytest.approx(1.0 / step, rel=1e-6)
    assert np.isfinite(named) and named < anonymous
