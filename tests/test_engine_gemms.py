"""An engine's kernels in the cost model: vLLM's block-scaled FP8 GEMMs, measured
against SGLang's on the same shapes (tests/data/engine_gemm_times.csv,
planner/analysis/engine_gemms.py), priced per launch where the GPU applies the
block scales on CUDA cores, and nowhere else."""

from __future__ import annotations

import statistics

import pytest
import yaml

from planner import api
from planner.analysis import engine_gemms as eg
from planner.analysis import fidelity
from planner.inputs.datafiles import resolve
from planner.inputs.engines import engine_kernels, with_engine
from planner.physics.candidates import pinned_layout
from planner.physics.costmodel import step_terms

US = 1e-6


def _shipped() -> tuple[float, float]:
    """vLLM's shipped (per launch, per k block) extra, us."""
    eff = yaml.safe_load(resolve("hardware", "engines").read_text())["vllm"]["efficiency"]
    return eff["block_fp8_gemm_extra_us"], eff["block_fp8_gemm_extra_us_per_kblock"]


def _launches_us(widths) -> float:
    """Hand arithmetic: the shipped extra of launches with these reduction widths."""
    a, b = _shipped()
    return sum(a + b * k / 128 for k in widths)


def test_the_shipped_extra_is_the_one_the_kernel_table_implies():
    assert _shipped() == pytest.approx(eg.fit_extra_us(), abs=1e-4)


def test_the_line_through_the_k_medians_fits_each_within_half_a_microsecond():
    """The difference grows with the reduction width (4.3 us at k = 256, 13.4 at 7,168):
    a + b k/128 reproduces every measured k's median within 0.5 us."""
    a, b = eg.fit_extra_us()
    meds = eg.k_medians_us()
    assert meds[7168] > 2.5 * meds[256]
    for k, med in meds.items():
        assert abs(a + b * k / 128 - med) < 0.5, k


def test_the_extra_is_flat_in_the_rows():
    """From 1 to 256 rows the median difference stays within 1 us of its overall
    median: a cost per launch (and k block), not a slower rate per row."""
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
    topo = api.replace(topo, efficiency=with_engine(topo.efficiency, engine, topo.accelerator.name))
    L = pinned_layout(w, topo, tp, 1, 1, 1)
    return float(step_terms(w, topo, L, batch, 0.0, 1000.0).stage_s[0])


# DeepSeek-R1 at TP8: MLA's fused q_a + kv_a (k 7,168), q_b (1,536), o_proj (128 x 128 / 8);
# the shared expert's gate_up (7,168) and down (2,048 / 8); the first three layers' dense
# MLP gate_up (7,168) and down (18,432 / 8)
DSR1_TP8_MOE = [7168, 1536, 2048, 7168, 256]
DSR1_TP8_DENSE = [7168, 1536, 2048, 7168, 2304]


def _dsr1_tp8_extra_s() -> float:
    return (3 * _launches_us(DSR1_TP8_DENSE) + 58 * _launches_us(DSR1_TP8_MOE)) * US


def test_deepseek_on_hopper_pays_five_launches_a_layer_by_their_widths():
    extra = _step_s("deepseek-r1", "hgx-h200", 8, "vllm") - _step_s("deepseek-r1", "hgx-h200", 8, None)
    assert extra == pytest.approx(_dsr1_tp8_extra_s(), rel=1e-9)


def test_the_extra_does_not_grow_with_the_batch():
    at = {b: _step_s("deepseek-r1", "hgx-h200", 8, "vllm", b) - _step_s("deepseek-r1", "hgx-h200", 8, None, b) for b in (1.0, 64.0)}
    assert at[1.0] == pytest.approx(at[64.0], rel=1e-9)


def test_row_parallel_widths_shrink_with_tensor_parallelism():
    """At TP1 the o_proj and down projections reduce over their whole width: the same
    five launches cost more than at TP8."""
    tp1 = _step_s("deepseek-r1", "hgx-h200", 1, "vllm") - _step_s("deepseek-r1", "hgx-h200", 1, None)
    wide = (3 * _launches_us([7168, 1536, 16384, 7168, 18432]) + 58 * _launches_us([7168, 1536, 16384, 7168, 2048])) * US
    assert tp1 == pytest.approx(wide, rel=1e-9) and tp1 > _dsr1_tp8_extra_s()


def test_gqa_attention_without_shared_experts_pays_two_launches():
    """Qwen3-235B-A22B-FP8 (GQA, no shared expert, 128x128 block scales) on H100: the
    fused qkv (k 4,096) and o_proj (64 x 128 / 8) of each of its 94 layers."""
    fp8 = {"attention": "fp8_block128", "routed_experts": "fp8_block128"}
    extra = _step_s("qwen3-235b-a22b", "hgx-h100", 8, "vllm", **fp8) - _step_s("qwen3-235b-a22b", "hgx-h100", 8, None, **fp8)
    assert extra == pytest.approx(94 * _launches_us([4096, 1024]) * US, rel=1e-9)


@pytest.mark.parametrize("workload, topology, tp, weights", [
    ("deepseek-r1", "hgx-b200", 8, {}),  # block scales in the MMA
    ("deepseek-r1", "mi355x-8", 8, {}),  # not measured there (hardware/engines.yaml accelerators)
    ("mixtral-8x7b", "hgx-h200", 2, {}),  # BF16 checkpoint
    ("deepseek-r1", "hgx-h200", 8, {"attention": "fp8", "dense_ffn": "fp8", "shared_experts": "fp8"}),  # per-tensor FP8 ...
    ("deepseek-r1", "hgx-h200", 8, {"attention": "bf16", "dense_ffn": "bf16", "shared_experts": "bf16"}),  # ... or BF16 dense parts
])
def test_nothing_is_charged_off_the_measured_block_scaled_path(workload, topology, tp, weights):
    assert _step_s(workload, topology, tp, "vllm", **weights) == _step_s(workload, topology, tp, None, **weights)


def test_h800_is_charged_as_h100():
    h800 = _step_s("deepseek-r1", "hgx-h800", 8, "vllm") - _step_s("deepseek-r1", "hgx-h800", 8, None)
    assert h800 == pytest.approx(_dsr1_tp8_extra_s(), rel=1e-9)


def test_every_accelerator_named_is_shipped():
    from planner.inputs.hardware import load_accelerator

    for engine in ("vllm", "sglang", "trtllm"):
        for name in engine_kernels(engine).accelerators:
            assert load_accelerator(name).name == name


@pytest.mark.parametrize("engine", ["sglang", "trtllm"])
def test_the_reference_engines_change_nothing(engine):
    assert _step_s("deepseek-r1", "hgx-h200", 8, engine) == _step_s("deepseek-r1", "hgx-h200", 8, None)


def test_planning_for_vllm_prices_its_kernels():
    """api.evaluate with --engine vllm: the same pinned layout's TPOT grows by the
    launches' extra; with SGLang it is the engine-free figure."""
    q = api.Query(isl=1000, osl=200)
    tpot = {e: api.evaluate("deepseek-r1", "hgx-h200", q, tp=8, batch=4, engine=e).to_dict()["metrics"]["tpot_ms"]
            for e in ("vllm", "sglang")}
    assert tpot["vllm"] - tpot["sglang"] == pytest.approx(_dsr1_tp8_extra_s() * 1e3, abs=0.05)


def test_a_records_stated_engine_reaches_the_prediction():
    cases, _ = fidelity.load_cases()
    (c,) = [c for c in cases if c.record_id == "GPUSTACK-H200-DSR1-VLLM"]
    assert c.spec.engine is not None and c.spec.engine.name == "vllm"
    named = fidelity.predict(c).predicted
    anonymous = fidelity.predict(fidelity.Case(c.record_id, c.measured, c.spec.model_copy(update={"engine": None}))).predicted
    assert named == pytest.approx(1.0 / (1.0 / anonymous + _dsr1_tp8_extra_s()), rel=1e-6)
