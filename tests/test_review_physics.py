"""Physics found wrong in review, each pinned by a number from outside the program
(a datasheet, nvidia-smi, the model's parameter count) or by an invariant.

* HBM capacity "GB" on datasheets is binary: an H100 "80 GB" holds 80 GiB.
* The heaviest pipeline stage of an MoE whose dense layers lead is all MoE layers.
* On a mesh or torus a collective only has the links inside its group.
* With attention-DP a request's prompt runs on one rank, never spread over all.
* At one price per GPU-hour, equal GPU counts cost exactly the same to the solver.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner import api
from planner.physics.candidates import Layouts, pinned_layout
from planner.physics.costmodel import evaluate, prefill_pass_s, step_terms, weight_bytes_per_gpu
from planner.inputs.errors import InfeasibleError
from planner.search.blocks import integers, upper_bounds
from planner.search.loop import solve
from planner.search.problem import AGG, DECODE, PREFILL, Option, Problem, classes_of
from planner.inputs.topology import build_topology, scale_up_group_bw
from planner.inputs.query import load_workload

MIB = 2**20


def layout(tp=1, dp=1, ep=1, pp=1, chunks=1, stage_domains=1, cross_hops=0):
    return Layouts.from_rows([dict(tp=tp, dp=dp, ep=ep, pp=pp, chunks=chunks, stage_domains=stage_domains, cross_hops=cross_hops)])


# --------------------------------------------------------------------------- HBM capacity


@pytest.mark.parametrize(
    "topology,reported_bytes",
    [
        ("hgx-h100", 81_559 * MIB),  # nvidia-smi "81559MiB" on an H100 SXM5 80 GB
        ("mi300x-8", 205_822_885_888),  # rocm-smi VRAM total of an MI300X "192 GB"
    ],
)
def test_hbm_capacity_is_what_the_driver_reports_not_decimal_gigabytes(topology, reported_bytes):
    """Datasheet HBM "GB" are GiB (stacks of 16/24 GiB); read as 1e9 bytes they
    understate capacity by 7% and reject layouts that fit."""
    acc = build_topology(topology).accelerator
    assert acc.hbm_bytes == pytest.approx(reported_bytes, rel=0.01)


# --------------------------------------------------------------------------- pipeline stages of an MoE


def test_heaviest_pipeline_stage_of_deepseek_is_all_moe_layers():
    """DeepSeek-V3's 3 dense layers lead; with PP8 (8 layers a stage) the heaviest
    stage holds 8 MoE layers and one vocabulary matrix, not an average layer mix."""
    w = load_workload("deepseek-v3")
    m = w.model
    wb = 1.0 + 32 / 8 / (128 * 128)  # FP8 with one FP32 scale per 128x128 block, as the checkpoint ships
    dense_layer = m.attn_params_per_layer + m.dense_mlp_params
    moe_layer = (m.total_params - m.embedding_params - m.n_dense_layers * dense_layer) / m.n_moe_layers
    expect = 8 * moe_layer * wb + m.vocab_size * m.d_model * 2.0  # the LM head stays BF16
    got = weight_bytes_per_gpu(w, layout(pp=8))[0]
    assert got == pytest.approx(expect, rel=0.01)  # norms and routers are the 1%


def test_a_token_still_passes_every_moe_layer_once_whatever_the_pipeline():
    """The bottleneck stage is the all-MoE one, but the whole model (TPOT's layer
    sum) counts 3 dense and 58 MoE layers once, at any pipeline depth."""
    w = load_workload("deepseek-v3")
    topo = build_topology("hgx-h100", n_domains=4)
    B = np.array([64.0])
    s1 = step_terms(w, topo, layout(tp=8, ep=8), B, B * 0, 2048.0)
    s4 = step_terms(w, topo, layout(tp=8, ep=8, pp=4, chunks=4, cross_hops=3), B, B * 0, 2048.0)
    assert s4.layers_s[0] == pytest.approx(s1.layers_s[0], rel=1e-9)
    # 16 MoE layers (ceil 61/4) cost more than a quarter of 3 dense + 58 MoE
    assert s4.roofline_s[0] > s1.roofline_s[0] * 16 / 61 * 1.0001


# --------------------------------------------------------------------------- links of a group


def test_tp_allreduce_on_a_full_mesh_has_only_the_groups_links():
    """MI300X: 7 Infinity Fabric links of 64 GB/s per direction (448 GB/s per GPU).
    A TP group of t GPUs has t-1 of them; through NVSwitch an H100 has all 450 GB/s
    for any group. Ring all-reduce: 2(t-1)/t * bytes / bandwidth + latency floor."""
    w = load_workload("llama-3.1-8b")
    T = np.array([8192.0])
    size = 8192 * w.model.d_model * 2.0  # bf16 activations of the chunk
    for name, bw_of in (("mi300x-8", lambda t: (t - 1) * 448e9 / 7), ("hgx-h100", lambda t: 450e9)):
        topo = build_topology(name)
        eff = topo.efficiency
        for t in (2, 4, 8):
            s = step_terms(w, topo, layout(tp=t), T * 0, T, 0.0, prefill=True)
            per_ar = 2 * (t - 1) / t * size / (bw_of(t) * eff.scale_up_bw_fraction) + eff.allreduce_latency_s
            assert s.tp_comm_s[0] == pytest.approx(2 * w.model.n_layers * per_ar, rel=1e-9), (name, t)


def test_a_torus_sub_ring_has_two_links_per_chip():
    """TPU v5p cube 4x4x4, 6 ICI links of 100 GB/s per direction: 2 neighbours are
    one link, a ring of 4 with wrap-around two, a 4x4 plane four, the cube all six."""
    tpu = build_topology("tpu-v5p-pod")
    got = scale_up_group_bw(tpu, np.array([2, 4, 16, 64]))
    assert got == pytest.approx([100e9, 200e9, 400e9, 600e9], rel=1e-9)


# --------------------------------------------------------------------------- prefill with attention-DP


def test_a_prompt_runs_on_one_attention_dp_rank():
    """DeepSeek-V3 on one GB200 rack as DP72/EP72, an 8k prompt: its attention runs
    on the one GPU that owns the request, so the prefill pass cannot beat that GPU
    doing the prompt's attention projections (2 FLOPs per parameter per token, FP8
    peak 5 PFLOP/s) and its causal attention core (2·heads·(192 + 128) FLOPs per
    query-key pair, un-absorbed MLA, BF16 peak 2.5 PFLOP/s) -- not 1/72 of it."""
    w, topo = api.load("deepseek-v3", "gb200-nvl72", api.Query(isl=8192))
    m = w.model
    proj = 2 * w.isl * m.attn_params_per_layer * m.n_layers / 5000e12
    core = w.isl * (w.isl / 2) * 2 * m.n_heads * (192 + 128) * m.n_layers / 2500e12
    L = pinned_layout(w, topo, tp=1, pp=1, dp=72, ep=72)
    assert prefill_pass_s(w, topo, L)[0] > proj + core
    ev = evaluate(w, topo, L, np.array([72.0 * 16]))
    assert ev.ttft_s[0] > proj + core


def test_activation_workspace_is_a_whole_chunk_on_every_dp_rank():
    """Each attention-DP rank runs its own engine with the chunked-prefill budget,
    so its workspace does not shrink as the ranks multiply."""
    w, topo = api.load("deepseek-v3", "gb200-nvl72", api.Query())
    one = evaluate(w, topo, layout(tp=8, ep=8), np.array([8.0]))
    wide = evaluate(w, topo, layout(dp=8, ep=8), np.array([8.0]))
    assert wide.activation_bytes[0] == pytest.approx(one.activation_bytes[0])


# --------------------------------------------------------------------------- dollars in integers


def test_equal_dollars_serve_the_most_tokens():
    """Demand 50,000 tok/s from 1-GPU replicas (4,371 tok/s) or 2-GPU ones (8,526):
    both need 12 GPUs at $2.99/GPU-hour, so the answer is the one with more tokens,
    12 x 4,371 = 52,452 (a 2-GPU replica must not look a nano-dollar cheaper)."""
    usd = 2.99 / 3600
    p = Problem((Option(AGG, 1, 1, 4371.0, usd), Option(AGG, 2, 1, 8526.0, 2 * usd)), classes_of((8, 8, 8, 8)), "demand", (50000.0,))
    sol = solve(p)
    assert sol.replicas == (12, 0)
    pool = Problem((Option(PREFILL, 1, 1, 0.0, usd, rps=1.0), Option(PREFILL, 2, 1, 0.0, 2 * usd, rps=2.0),
                    Option(DECODE, 8, 1, 100.0, 8 * usd, rps=1.0)), classes_of((8, 8)))
    s = integers(pool, upper_bounds(pool))
    assert s.usd[1] == 2 * s.usd[0] and s.usd[2] == 8 * s.usd[0]


def test_a_demand_above_the_budgets_ceiling_names_the_budget():
    """2 H100s at 1,979 TFLOP/s FP8 peak cannot exceed 2 x 1979e12 / (2 x 8.03e9)
    ~ 246k tok/s of Llama-3.1-8B: the message counts the 2 GPUs and says --gpus."""
    with pytest.raises(InfeasibleError) as exc:
        api.plan("llama-3.1-8b", "hgx-h100", max_gpus=2, demand_tps=300_000, mode="agg")
    msg = str(exc.value)
    assert "of 2 GPUs" in msg and "--gpus" in msg
    ceiling = float(msg.split("exceeds ")[1].split(",")[0])
    assert ceiling == pytest.approx(2 * 1979e12 / (2 * 8.03e9), rel=0.03)


# --------------------------------------------------------------------------- flags that exist


def test_a_pod_topology_is_counted_with_a_flag_the_cli_has():
    """tpu-v5p-pod counts pods; there is no --pods, so every hint names --racks."""
    from typer.testing import CliRunner

    from planner.cli.main import app

    runner = CliRunner()
    wrong = runner.invoke(app, ["plan", "--workload", "llama-3.1-8b", "--topology", "tpu-v5p-pod", "--nodes", "2"])
    assert wrong.exit_code == 2 and "use --racks" in wrong.output and "--pods" not in wrong.output
    short = runner.invoke(app, ["evaluate", "--workload", "llama-3.1-405b", "--topology", "tpu-v5p-pod", "--tp", "64", "--pp", "2"])
    assert short.exit_code == 2 and "add --racks" in short.output
    ok = runner.invoke(app, ["plan", "--workload", "llama-3.1-8b", "--topology", "tpu-v5p-pod", "--racks", "2", "--mode", "agg", "--json"])
    assert ok.exit_code == 0, ok.output
