"""The busiest expert-parallel GPU (planner/physics/expert_load.py) against
independent oracles: tabulated expected maxima of normal samples, and a seeded
Monte Carlo of routed copies over experts of unequal popularity. Also where
block-scaled FP8 pays for its scales (Hopper) and where the tensor cores apply them
(Blackwell). benchmarks/mutants.py breaks each term and checks these tests notice."""

from dataclasses import replace

import numpy as np
import pytest

from planner.inputs.query import load_workload
from planner.inputs.topology import build_topology
from planner.physics.costmodel import gemm_rate
from planner.physics.expert_load import busiest_group_factor, expected_max_normal

# E[max of n standard normals], n = 2, 4, 8, 16 (H. L. Harter, Biometrika 48, 1961, Table 1)
TABLE = {2: 1 / np.sqrt(np.pi), 4: 1.02938, 8: 1.42360, 16: 1.76599}


def test_expected_maximum_of_normals_matches_the_tables():
    assert float(expected_max_normal(1)) == 0.0
    for n, z in TABLE.items():
        assert float(expected_max_normal(n)) == pytest.approx(z, abs=2e-4)


def test_expected_maximum_over_an_array_is_the_scalar_value_at_each_entry():
    """The planner calls it on grids of candidates: each entry is its own group count."""
    counts = np.array([[1.0, 2.0, 8.0], [72.0, 2.0, 4.0]])
    z = expected_max_normal(counts)
    assert z.shape == counts.shape
    assert [float(v) for v in z.ravel()] == [float(expected_max_normal(int(c))) for c in counts.ravel()]
    assert z[0, 1] == z[1, 1] and z[0, 0] == 0.0 and z[0, 2] == pytest.approx(TABLE[8], abs=2e-4)


def _simulated_straggler(ep, n_experts, copies, cv, trials=400, seed=7):
    """Mean over trials of (copies on the busiest group) / (mean per group): expert
    popularities drawn with coefficient of variation cv (gamma), experts split into ep
    contiguous groups, the copies then routed by those popularities."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(trials):
        p = rng.gamma(1.0 / cv**2, size=n_experts) if cv > 0 else np.ones(n_experts)
        counts = rng.multinomial(copies, p / p.sum())
        groups = counts.reshape(ep, -1).sum(axis=1)
        out.append(groups.max() / (copies / ep))
    return float(np.mean(out))


@pytest.mark.parametrize("ep,n_experts,copies,cv", [
    (8, 256, 48000, 1.0),   # DeepSeek DEP8 at a large batch: popularity dominates
    (4, 128, 12000, 2.0),   # a skewed router, 32 experts per GPU
    (8, 256, 64, 0.0),      # batch 8: counting noise alone
    (2, 128, 3000, 1.5),
])
def test_straggler_matches_a_monte_carlo_of_routed_copies(ep, n_experts, copies, cv):
    sim = _simulated_straggler(ep, n_experts, copies, cv)
    model = float(busiest_group_factor(ep, n_experts, copies, cv))
    assert model - 1 == pytest.approx(sim - 1, rel=0.15)


def test_straggler_grows_with_groups_and_falls_with_experts_per_group_and_batch():
    cv, copies = 1.0, 1e6
    # the same 32 experts per GPU on more GPUs: the busiest of more draws is further out
    more_groups = [float(busiest_group_factor(ep, 32 * ep, copies, cv)) for ep in (2, 4, 8, 16)]
    assert more_groups == sorted(more_groups) and more_groups[0] < more_groups[-1]
    # the same 8 GPUs with more experts each: sums of more popularities vary less
    fuller = [float(busiest_group_factor(8, n * 8, copies, cv)) for n in (4, 16, 64)]
    assert fuller == sorted(fuller, reverse=True)
    # large batch: counting noise vanishes and the popularity term is left, by hand
    z8 = TABLE[8]
    assert float(busiest_group_factor(8, 256, 1e12, cv)) == pytest.approx(1 + z8 * cv / np.sqrt(32), rel=1e-4)
    # tensor-parallel experts (one group) share every load; a group can at most take it all
    assert float(busiest_group_factor(1, 256, 10.0, 5.0)) == 1.0
    assert float(busiest_group_factor(4, 256, 1.0, 50.0)) == 4.0


def test_block_scaled_fp8_pays_for_its_scales_only_without_block_scaled_tensor_cores():
    """DeepSeek-V3 attention weights (FP8, 128x128 FP32 block scales): Hopper promotes
    the partial sums on CUDA cores (the fp8_block fraction), Blackwell's block-scaled
    MMA applies the scales in the tensor core (the plain FP8 fraction)."""
    dsv3 = load_workload("deepseek-v3")
    assert dsv3.weights.attention == "fp8_block128"
    h100, b200 = build_topology("hgx-h100"), build_topology("hgx-b200")
    assert not h100.accelerator.block_scaled_mma and b200.accelerator.block_scaled_mma
    for topo, key in ((h100, "fp8_block"), (b200, "fp8")):
        eff = topo.efficiency
        assert eff.flops_fraction["fp8_block"] < eff.flops_fraction["fp8"]  # the premise
        assert gemm_rate(dsv3, topo, "attention") == pytest.approx(topo.accelerator.peak_flops["fp8"] * eff.flops_fraction[key])
    # a per-tensor FP8 checkpoint pays nothing for scales anywhere
    fp8 = replace(dsv3, weights=replace(dsv3.weights, attention="fp8"))
    assert gemm_rate(fp8, h100, "attention") == pytest.approx(h100.accelerator.peak_flops["fp8"] * h100.efficiency.flops_fraction["fp8"])
