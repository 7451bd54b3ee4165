"""MI300X and MI325X GEMMs run at the clock their power limit allows under load,
not at the 2,100 MHz the datasheet peak assumes (AMD's max-achievable-FLOPs
measurement, topologies/mi300x-8.yaml and mi325x-8.yaml)."""

import numpy as np
import pytest

from planner.inputs.query import load_workload
from planner.inputs.topology import build_topology
from planner.physics.candidates import Layouts
from planner.physics.costmodel import step_terms

# AMD, "Measuring Max-Achievable FLOPs - Part 2", table 1 (TFLOP/s under a dense GEMM)
MEASURED_TFLOPS = {"mi300x-8": {"bf16": 708, "fp8": 1273}, "mi325x-8": {"bf16": 843, "fp8": 1519}}


def one_gpu():
    return Layouts.from_rows([dict(tp=1, dp=1, ep=1, pp=1, chunks=1, stage_domains=1, cross_hops=0)])


@pytest.mark.parametrize("name", sorted(MEASURED_TFLOPS))
def test_a_gfx942_gemm_runs_at_amds_measured_rate_not_the_peak(name) -> None:
    topo = build_topology(name)
    for dtype, tflops in MEASURED_TFLOPS[name].items():
        achieved = topo.efficiency.flops_eff(dtype) * topo.accelerator.peak_flops[dtype]
        assert achieved == pytest.approx(tflops * 1e12, rel=0.02)
        assert achieved < 0.7 * topo.accelerator.peak_flops[dtype]  # the clock, not the software, is most of the gap
    # block scales add work to an FP8 GEMM, never remove it
    assert topo.efficiency.flops_eff("fp8_block") < topo.efficiency.flops_eff("fp8")
    # a GEMM that dequantises 4-bit weights runs below the chip's own dense BF16 rate
    assert topo.efficiency.flops_eff("weight_only") < topo.efficiency.flops_eff("bf16")


def test_same_die_more_power_computes_faster_and_reads_no_faster_per_byte() -> None:
    """MI325X is the MI300X die at 1,000 W instead of 750 W: a compute-bound step is faster
    by the measured GEMM rate (1,519 / 1,273), a weight-bound one by the HBM bandwidth (6.0 / 5.3)."""
    w = load_workload("mixtral-8x7b")
    a, b = build_topology("mi300x-8"), build_topology("mi325x-8")
    big, small = np.array([4096.0]), np.array([1.0])
    ctx = np.array([512.0])
    ta, tb = step_terms(w, a, one_gpu(), big, ctx, 1.0), step_terms(w, b, one_gpu(), big, ctx, 1.0)
    assert ta.compute_s[0] / tb.compute_s[0] == pytest.approx(1519 / 1273, rel=0.03)
    sa, sb = step_terms(w, a, one_gpu(), small, ctx, 1.0), step_terms(w, b, one_gpu(), small, ctx, 1.0)
    assert sa.weights_s[0] / sb.weights_s[0] == pytest.approx(6.0 / 5.3, rel=0.01)
