"""GEMM rates of the cost model: the achieved FLOP/s of each weight component's
GEMMs by format and accelerator, and what grouped expert GEMMs lose to padding at
small occupancy (docs/cost-model.md, section 2). Pure functions over numpy arrays."""

from __future__ import annotations

import numpy as np

from ..inputs import formats
from ..inputs.topology import Topology
from ..inputs.workload import Workload


K_BLOCK = 128  # elements of the reduction one FP8 block scale covers (128x128 weight blocks)


def _b(x) -> np.ndarray:
    """``x`` as a float64 array (costmodel imports it from here)."""
    return np.asarray(x, dtype=np.float64)


def experts_touched_fraction(n_experts: int, k: int, tokens: np.ndarray) -> np.ndarray:
    """Expected fraction of routed experts one MoE layer reads for ``tokens`` tokens:
    1 - (1 - k/E)^tokens (uniform routing)."""
    if n_experts == 0:
        return np.zeros_like(_b(tokens))
    return 1.0 - np.power(1.0 - k / n_experts, _b(tokens))


def grouped_gemm_efficiency(tokens_per_expert, half_tokens: float, min_tile: float = 0.0, max_tile: float = 0.0) -> np.ndarray:
    """Share of a dense GEMM's achieved FLOP/s a grouped expert GEMM reaches when each
    busy expert on a GPU gets ``tokens_per_expert`` rows: m / (m + h_eff). Each expert's
    tile is padded and set up whatever its row count, a cost worth ``h`` rows at the
    largest row tile (``max_tile``; ``moe_half_tokens`` is fitted, its prior DeepGEMM's
    128-row grouped kernels). Kernels size the row tile to the rows they get, down to
    ``min_tile`` (hardware/efficiency.yaml: 16 in vLLM's tuned Triton MoE configs and
    TensorRT-LLM's Hopper CUTLASS tiles), so the padding shrinks with the tile:

        h_eff = h * clip(m, min_tile, max_tile) / max_tile

    The rate falls at small occupancy and approaches the dense rate when experts are
    full; a few tokens per expert pay a 16-row tile, not a 128-row one, and hide under
    the weight read. ``max_tile`` 0 keeps the full padding at every m; ``min_tile`` 0
    sets no lower limit."""
    m = _b(tokens_per_expert)
    h = half_tokens * (np.clip(m, min_tile, max_tile) / max_tile if max_tile > 0 else 1.0)
    return np.where(m > 0, m / np.maximum(m + h, 1e-12), 1.0)


def gemm_rate(w: Workload, topo: Topology, component: str, prefill: bool = False) -> float:
    """Achieved FLOP/s of one weight component's GEMMs: the peak of the precision its
    format computes in on this accelerator, times the measured fraction for that
    precision. Two paths have their own, lower, fraction: block-scaled FP8 where the
    tensor cores cannot apply the block scales themselves (``Accelerator.block_scaled_mma``),
    and weight-only GEMMs, whose narrow weights (MXFP4 or INT4 without FP4/INT4 tensor
    cores, FP8 without FP8 ones) are dequantised to 16 bits inside the main loop
    (``weight_only``: the conversion competes with the MMA for issue slots)."""
    return format_rate(topo, formats.get(getattr(w.weights, component)), prefill)


def format_rate(topo: Topology, fmt: formats.Format, prefill: bool = False) -> float:
    """Achieved FLOP/s of GEMMs on weights of one format (gemm_rate's rule)."""
    acc, eff = topo.accelerator, topo.efficiency
    cd = fmt.compute_dtype(acc.peak_flops)
    if fmt.scales_promoted_on(acc.peak_flops, acc.block_scaled_mma):
        key = "fp8_block"
    else:
        key = "weight_only" if fmt.weight_only_on(acc.peak_flops) else cd
    table = eff.prefill_flops_fraction if prefill else eff.flops_fraction
    return acc.peak_flops[cd] * table.get(key, eff.flops_eff(cd, prefill))


# Dense GEMM launches per layer and component, each by its reduction width k on one GPU
# of a tensor-parallel group of tp (vLLM and SGLang DeepSeek-V2/V3, Llama and Qwen model
# code): MLA runs the fused q_a + kv_a projection (k = d_model; without a q LoRA, q_proj
# and kv_a apart), q_b (k = q_lora_rank) and the row-parallel o_proj (k = heads x v_head
# / tp); kv_b is absorbed into the attention's batched matmuls. GQA runs the fused qkv
# (k = d_model) and o_proj (k = heads x head_dim / tp). An MLP or a layer's shared
# experts run the fused gate_up (k = d_model) and the row-parallel down (k = width / tp).
def launch_widths(m, component: str, tp) -> list:
    """The reduction width k of each dense GEMM launch of ``component`` on one GPU."""
    tp = _b(tp)
    if component == "attention" and m.attention == "mla":
        q = [_b(m.d_model), _b(m.q_lora_rank)] if m.q_lora_rank else [_b(m.d_model), _b(m.d_model)]
        return q + [m.n_heads * m.v_head_dim / tp]
    if component == "attention":
        return [_b(m.d_model), m.n_heads * m.head_dim / tp]
    if component == "dense_ffn":
        return [_b(m.d_model), m.d_ff / tp]
    return [_b(m.d_model), m.n_shared_experts * m.expert_d_ff / tp]  # shared_experts


def engine_gemm_extra_s(w: Workload, topo: Topology, tp) -> tuple[np.ndarray, np.ndarray]:
    """Time one dense-MLP layer and one MoE layer spend in the engine's block-scaled
    FP8 GEMMs beyond the reference kernels, on the components whose format promotes
    its block scales on this accelerator's CUDA cores: per launch
    ``block_fp8_gemm_extra_s`` plus ``block_fp8_gemm_extra_s_per_kblock`` per
    128-wide block of its reduction (hardware/engines.yaml). Independent of the row
    count: the measured difference is flat from 1 to 256 rows and grows with k
    (planner/analysis/engine_gemms.py)."""
    acc, eff = topo.accelerator, topo.efficiency
    zero = np.zeros_like(_b(tp))
    if eff.block_fp8_gemm_extra_s == 0.0 and eff.block_fp8_gemm_extra_s_per_kblock == 0.0:
        return zero, zero
    m = w.model

    def extra(component: str) -> np.ndarray:
        if not formats.get(getattr(w.weights, component)).scales_promoted_on(acc.peak_flops, acc.block_scaled_mma):
            return zero
        return sum(eff.block_fp8_gemm_extra_s + eff.block_fp8_gemm_extra_s_per_kblock * k / K_BLOCK
                   for k in launch_widths(m, component, tp))

    attn = extra("attention")
    moe = attn + (extra("shared_experts") if m.n_shared_experts else zero)
    return attn + extra("dense_ffn"), moe
