"""The routed-expert physics against an independent oracle: fused-MoE op latencies
measured per GPU by aiconfigurator's kernel collector (tests/data/moe_kernel_times.csv:
TensorRT-LLM 1.3.0rc20, SGLang 0.5.14 and vLLM 0.24.0 on H100, H200 and B200, the
shipped MoE models' expert shapes in their checkpoint formats). The fitted constants
come from end-to-end serving records; only the per-copy cost is read off this table.

Ratios are measured / predicted, predicted = the cost model's routed-expert op
(physics/routed.py) + the op's fixed launch cost read off the same table at one token."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from planner.analysis import moe_kernels as K

DECODE = (16, 256)  # tokens per MoE op in decode steps of a few to a few hundred sequences


def _band(cs, lo, hi):
    return sorted(c.ratio for c in cs if lo <= c.tokens <= hi)


@pytest.fixture(scope="module")
def trtllm():
    return K.compare("trtllm")


def test_the_table_covers_every_shipped_moe_shape_on_three_gpus(trtllm):
    assert {c.shape for c in trtllm} == set(K.SHAPE)
    assert {c.gpu for c in trtllm} == set(K.TOPOLOGY)
    assert len(trtllm) > 2000


def test_decode_sized_moe_ops_match_tensorrt_llm_kernels(trtllm):
    """Weight reads at the HBM rate, the grouped GEMMs' padding and the activation passes:
    at 16-256 tokens the model is within 15% of the measured kernels at the median and
    80% of rows fall within 0.75-1.25x."""
    r = _band(trtllm, *DECODE)
    assert 0.85 <= statistics.median(r) <= 1.15
    assert r[len(r) // 10] >= 0.75 and r[9 * len(r) // 10] <= 1.25


@pytest.mark.parametrize("gpu", sorted(K.TOPOLOGY))
def test_each_gpu_matches_at_the_median(trtllm, gpu):
    """H100, H200 and B200 alike: the HBM rate and each format's GEMM rate carry over."""
    r = _band([c for c in trtllm if c.gpu == gpu], *DECODE)
    assert 0.8 <= statistics.median(r) <= 1.2


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_other_engines_kernels_agree_at_the_median(engine):
    """SGLang's and vLLM's fused MoE (Triton, FlashInfer, DeepGEMM backends) read the same
    weights: the same physics holds at the median, with wider tails (untuned shapes)."""
    r = _band(K.compare(engine), *DECODE)
    assert 0.85 <= statistics.median(r) <= 1.15


def test_the_ops_launch_floor_is_inside_the_per_moe_layer_cost(trtllm):
    """At one token the op is its fixed cost (routing, permute set-up, two GEMM launches):
    ~30 us, inside the planner's fixed cost of an MoE layer, which also carries the
    router GEMM, top-k and the exchange's set-up."""
    eff = K._topology("h200_sxm").efficiency
    fixed = statistics.median(c.fixed_s for c in trtllm if c.tokens == 4)
    assert 10e-6 <= fixed <= eff.moe_layer_overhead_s


def test_streaming_experts_at_a_third_of_hbm_fails_the_oracle(trtllm, monkeypatch):
    """The check has teeth: the pre-issue physics (expert weights at 0.366 of the HBM
    rate) reads the decode-sized ops ~2x too slow."""
    base = {g: K._topology(g) for g in K.TOPOLOGY}
    slow = {g: replace(t, efficiency=replace(t.efficiency, hbm_fraction=t.efficiency.hbm_fraction * 0.366)) for g, t in base.items()}
    monkeypatch.setattr(K, "_topology", lambda g: slow[g])
    assert statistics.median(_band(K.compare("trtllm"), *DECODE)) < 0.7


def test_the_shipped_per_copy_cost_is_the_one_the_kernels_imply():
    """moe_row_overhead_us is read off the kernels, not fitted to serving records: the
    shipped value scores within 0.002 (median |log ratio|) of the best per-copy cost
    on the 2 ns grid (the scores of neighbouring values differ by less than that)."""
    eff = K._topology("h200_sxm").efficiency
    best = K.fit_row_overhead()
    assert K.row_overhead_score(eff.moe_row_overhead_s) <= K.row_overhead_score(best) + 0.002


def test_the_tables_shapes_are_the_shipped_models():
    """Each row's expert shape is the shipped model it stands for (hidden, expert width,
    experts, top-k), so the oracle scores the planner's own models."""
    for r in K._rows():
        m = K._model(r["shape"])
        assert (int(r["hidden_size"]), int(r["inter_size"]), int(r["num_experts"]), int(r["topk"])) == (
            m.d_model, m.expert_d_ff, m.n_routed_experts, m.experts_per_token), r["shape"]
