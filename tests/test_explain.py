"""`explain`: the seeds of design/cost-model.md, checked against datasheet
arithmetic and published parameter counts rather than the program's output.

H100 SXM: 989 dense BF16 TFLOP/s, 3.35 TB/s HBM3, 80 GB (NVIDIA datasheet).
Llama-3.1-70B: 70.6B parameters. DeepSeek-V3/R1: 671B total, 37B active.
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from planner import api
from planner.inputs import units
from planner.analysis.explain import explain
from planner.cli.main import app

runner = CliRunner()
H100_BALANCE = 989e12 / 3.35e12  # 295 sequences: bf16 weights, 2 FLOP and 2 bytes per parameter


@pytest.fixture(scope="module")
def llama_h100():
    return explain("llama-3.1-70b", "hgx-h100")


def test_balance_batch_of_a_dense_model_on_h100_is_about_300(llama_h100):
    assert llama_h100.seed("balance_batch").value == pytest.approx(H100_BALANCE, rel=0.01)


def test_balance_batch_scales_with_total_over_active_for_moe():
    # same weight precision as the dense case, so only the sparsity differs
    e = explain("deepseek-v3", "hgx-h100", api.Query(weight_dtype="bf16"))
    assert e.seed("balance_batch").value == pytest.approx(H100_BALANCE * 671 / 37, rel=0.03)
    # fp8 weights: twice the FLOP/s, half the bytes per parameter -> the same balance batch
    e8 = explain("deepseek-v3", "hgx-h100", api.Query(weight_dtype="fp8"))
    assert e8.seed("balance_batch").value == pytest.approx(e.seed("balance_batch").value * (1979 / 989) / 2, rel=1e-6)


def test_latency_floor_is_weights_over_the_domains_hbm_bandwidth(llama_h100):
    floor_ms = 70.6e9 * 2 / (8 * 3.35e12) * 1e3  # 5.27 ms
    assert llama_h100.seed("latency_floor").value == pytest.approx(floor_ms, rel=0.02)
    # a 72-GPU rack at 8 TB/s per GPU: 9x the GPUs, 2.4x the bandwidth each
    rack = explain("llama-3.1-70b", "gb200-nvl72").seed("latency_floor").value
    assert rack == pytest.approx(llama_h100.seed("latency_floor").value * (8 * 3.35) / (72 * 8.0), rel=0.01)


def test_batching_is_the_first_lever(llama_h100):
    s = llama_h100.seed("batch1_vs_best")
    assert s.detail["best_batch"] >= 16
    assert s.value > 10  # cost per token ~ 1/B while weight reads bind


def test_kv_crossover_is_weight_bytes_over_kv_bytes_of_the_batch(llama_h100):
    # a GQA model whose TP degree <= n_kv_heads shards weights and KV alike, so per
    # GPU the crossover is (layer weight bytes) / (batch x KV bytes per token)
    w = api.load("llama-3.1-70b", "hgx-h100", api.Query())[0]
    s = llama_h100.seed("kv_crossover")
    layer_weights = (w.model.total_params - w.model.embedding_params) * 2
    expect = layer_weights / (s.detail["batch"] * w.kv_bytes_per_token())
    assert s.value == pytest.approx(expect, rel=0.03)


def test_kv_crossover_doubles_when_the_kv_cache_halves():
    a = explain("llama-3.1-70b", "hgx-h100", api.Query(kv_dtype="bf16")).seed("kv_crossover")
    b = explain("llama-3.1-70b", "hgx-h100", api.Query(kv_dtype="fp8")).seed("kv_crossover")
    per_batch = lambda s: s.value * s.detail["batch"]  # noqa: E731  (the crossover scales as 1/batch)
    assert per_batch(b) == pytest.approx(2 * per_batch(a), rel=0.03)


def test_prefill_is_compute_bound_and_decode_memory_bound(llama_h100):
    s = llama_h100.seed("prefill_vs_decode")
    assert s.detail["prefill_compute_over_memory"] > 1 > s.detail["decode_compute_over_memory"]
    assert s.value > 1  # an output token costs more than an input token


def test_largest_ep_group_is_bounded_by_the_scale_up_domain():
    assert explain("deepseek-r1", "hgx-h100").seed("max_ep_in_domain").value == 8
    rack = explain("deepseek-r1", "gb200-nvl72").seed("max_ep_in_domain").value
    assert 8 < rack <= 72
    assert explain("llama-3.1-8b", "hgx-h100").seed("max_ep_in_domain").value is None  # dense


def test_pipeline_stages_follow_weight_bytes_and_usable_hbm():
    e = explain("deepseek-r1", "hgx-h100")  # fp8: 671 GB of weights
    topo = api.load("deepseek-r1", "hgx-h100", api.Query())[1]
    eff = topo.efficiency
    usable_node = 8 * (80 * 2**30 * eff.memory_usable_fraction - eff.runtime_reserve_bytes)  # 80 GiB of HBM3 per H100
    assert e.seed("pipeline_stages").value == math.ceil(671e9 / usable_node) == 2
    assert e.domains == 2 and "scaled from 1 to 2 nodes" in e.note  # evaluated where the weights fit
    assert explain("deepseek-r1", "gb200-nvl72").seed("pipeline_stages").value == 1


def test_cli_text_json_and_svg_plot(tmp_path):
    svg = tmp_path / "e.svg"
    r = runner.invoke(app, ["explain", "--workload", "llama-3.1-70b", "--topology", "hgx-h100", "--plot", str(svg)])
    assert r.exit_code == 0, r.output
    for title in ("Balance batch", "Latency floor", "KV crossover", "Prefill vs decode", "Largest EP group", "Pipeline stages",
                  "Long-context crossover", "Price multiplier", "Break-even hold times"):
        assert title in r.output
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text[:2000] and len(text) > 10_000
    r = runner.invoke(app, ["explain", "--workload", "deepseek-r1", "--topology", "gb200-nvl72", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["kind"] == "explain" and len(d["seeds"]) == 10
    assert all(s["takeaway"] for s in d["seeds"])


def test_units_of_the_floor_are_milliseconds(llama_h100):
    s = llama_h100.seed("latency_floor")
    assert s.unit == "ms" and s.detail["calibrated_ms"] > s.value  # achieved HBM < peak
    assert s.detail["weight_gb"] == pytest.approx(70.6e9 * 2 / units.GB, rel=0.01)


def test_context_panel_draws_cost_flat_then_linear_in_context(llama_h100):
    """The --plot context panel shows decode $/token = compute x (1 + L / L*): twice the
    compute-only cost at the crossover, three times at twice the crossover."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from planner.analysis.report import context_panel

    seed = llama_h100.seed("long_context_crossover")
    fig, ax = plt.subplots()
    x, y = context_panel(ax, seed)
    plt.close(fig)
    at = dict(zip(x, y))
    L = round(seed.value)
    assert at[L] == pytest.approx(2.0, rel=1e-3)
    assert at[round(2 * seed.value)] / at[L] == pytest.approx(1.5, rel=1e-3)
    assert all(b > a for a, b in zip(y, y[1:]))  # never cheaper with more context


def test_balance_batch_of_dequantised_experts_uses_the_bf16_peak_and_the_weight_only_fraction():
    """gpt-oss-120b's MXFP4 experts on H100 (no FP4 tensor cores) compute in BF16: the
    datasheet balance batch uses the BF16 peak, half the FP8 one, and the calibrated one
    the weight-only fraction the cost model uses (docs/cost-model.md)."""
    from planner.inputs.topology import build_topology

    h100 = build_topology("hgx-h100")
    s = explain("gpt-oss-120b", "hgx-h100").seed("balance_batch")
    acc, eff = h100.accelerator, h100.efficiency
    assert s.detail["compute_dtype"] == "bf16"
    assert s.detail["peak_tflops"] * 1e12 == pytest.approx(acc.peak_flops["bf16"], rel=1e-9)
    ratio = s.detail["calibrated"] / s.value  # achieved compute over achieved bandwidth, relative to peak over peak
    assert ratio == pytest.approx(eff.flops_fraction["weight_only"] / eff.hbm_fraction, rel=1e-9)
