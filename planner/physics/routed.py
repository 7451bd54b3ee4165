"""The routed experts of one MoE layer on the busiest GPU: the work its fused MoE op
does (grouped GEMMs, expert weight reads, permutes and gathers, per-copy set-up).

Pure functions over numpy arrays; ``costmodel.step_terms`` adds the shared experts,
attention and communication around it, and ``tests/test_moe_kernels.py`` compares
``RoutedExperts.op_s`` with fused-MoE kernel times measured on H100, H200 and B200
(docs/cost-model.md section 2, docs/fidelity.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs.hardware import Efficiency
from .gemm import _b, grouped_gemm_efficiency


@dataclass(frozen=True)
class RoutedExperts:
    """One MoE layer's routed experts on the busiest GPU of the layer's S GPUs."""

    flops: np.ndarray  # grouped-GEMM FLOPs [FLOP]
    rate_flops_per_s: np.ndarray  # their achieved rate: the format's rate x m/(m + h_eff) [FLOP/s]
    weight_bytes: np.ndarray  # expert weights read: resident experts x the share touched [B]
    row_elems: np.ndarray  # d_model-wide elements each routed copy is permuted, quantised and gathered in
    hidden_elems: np.ndarray  # expert hidden activations (one pass of the intermediate width)
    copies: np.ndarray  # routed token copies this GPU's experts take (each GPU of an expert group does)

    def gemm_s(self, hbm_bytes_per_s: float) -> np.ndarray:
        """The grouped GEMMs: padded tiles run while the weights stream (max, not sum)."""
        return np.maximum(self.flops / self.rate_flops_per_s, self.weight_bytes / hbm_bytes_per_s)

    def op_s(self, eff: Efficiency, hbm_bytes_per_s: float, act_bytes: float) -> np.ndarray:
        """The fused MoE op beyond its fixed launch cost: GEMMs, activation passes and
        a fixed time per routed copy (``moe_row_overhead_s``)."""
        passes = (self.row_elems + eff.mlp_intermediate_passes * self.hidden_elems) * act_bytes / hbm_bytes_per_s
        return self.gemm_s(hbm_bytes_per_s) + passes + self.copies * eff.moe_row_overhead_s


def routed_experts(m, eff: Efficiency, gemm_rate_flops_per_s: float, bytes_per_param: float, tokens, gpus, ep, moe_tp,
                   imbalance, touched) -> RoutedExperts:
    """``tokens`` routed by the layer's ``gpus`` = ``ep`` expert groups x ``moe_tp``;
    ``touched``: the share of the routed experts that get a token; ``imbalance``: the
    busiest group's load over the mean (expert_load.py; 1 for an even router)."""
    T, S, ep, moe_tp, imb = _b(tokens), _b(gpus), _b(ep), _b(moe_tp), _b(imbalance)
    k = m.experts_per_token
    busy = m.n_routed_experts * _b(touched)
    # the busiest GPU's experts each get imb x the mean rows; their tiles are padded once
    per_expert = T * k / np.maximum(busy, 1e-12) * imb
    rate = gemm_rate_flops_per_s * grouped_gemm_efficiency(per_expert, eff.moe_half_tokens, eff.moe_min_tile_rows, eff.moe_max_tile_rows)
    resident = np.ceil(m.n_routed_experts / ep) * m.expert_params * bytes_per_param / moe_tp
    return RoutedExperts(
        flops=2 * T * k * imb / S * m.expert_params,
        rate_flops_per_s=rate,
        weight_bytes=resident * np.minimum(1.0, _b(touched) * imb),
        row_elems=T * k * imb / S * eff.moe_row_passes * m.d_model,
        hidden_elems=T * k * imb / S * m.expert_d_ff,
        copies=T * k * imb * moe_tp / S,
    )
