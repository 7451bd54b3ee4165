"""Expert-parallel dispatch and combine: the all-to-all pair of one MoE layer.

Each GPU of a stage owns ``Tr / tp`` tokens (the busiest attention-DP rank's share);
a token goes to every GPU of each expert group it routes to, ``ep (1 - (1 - 1/ep)^k)``
groups of ``moe_tp`` GPUs. ``ep = 1`` is the all-gather/reduce-scatter of
tensor-parallel experts; ``moe_tp = 1`` the all-to-all of pure expert parallelism.

Across scale-up domains a decode step's low-latency kernels send every routed copy
straight over the scale-out network. Prefill uses throughput kernels that cross the
network once per remote domain a token routes to and fan out inside it over the
scale-up links (DeepEP normal kernels: "NVLink and RDMA forwarding",
deepseek-ai/DeepEP docs/legacy.md), so a token's scale-out bytes count domains,
not GPUs: ``(n - 1)(1 - (1 - 1/n)^k)`` of the ``n`` domains of a stage.

An engine without an all-to-all for attention-DP experts (``moe_allgather``: TensorRT-LLM's
CUTLASS MoE, whose all-to-all needs more EP ranks than the experts a token routes to)
all-gathers every GPU's tokens to every GPU of the stage and reduce-scatters the expert
outputs: ``(S - 1)`` shares of ``Tr / tp`` tokens in each direction, wherever the tokens
route. Across domains a collective crosses the network once per remote domain, in decode
as in prefill.
"""

from __future__ import annotations

import numpy as np


def remote_domains_per_token(n_domains, k: int) -> np.ndarray:
    """Expected scale-up domains other than the sender's that a token's k routed
    experts fall in, experts spread evenly over the n domains of the stage."""
    n = np.asarray(n_domains, dtype=np.float64)
    return (n - 1) * (1 - np.power(1 - 1 / n, k))


def dispatch_combine_s(m, eff, bw: dict, shape: dict, prefill: bool) -> np.ndarray:
    """Seconds of one MoE layer's dispatch plus combine on the busiest sender.

    ``bw``: achieved ``a2a`` (inside a domain) and ``out`` (scale-out) bytes/s per GPU;
    ``shape``: arrays ``Tr, tp, ep, moe_tp, S, domains`` and the byte widths ``disp_b``
    (dispatch: the experts' GEMM precision, or the activations' where the engine
    quantises after the exchange) and ``ab`` (combine, activations)."""
    Tr, tp, ep, moe_tp, S, nd = (shape[k] for k in ("Tr", "tp", "ep", "moe_tp", "S", "domains"))
    k = m.experts_per_token
    # elements per direction, the remote domains a token reaches, the latency floor
    if eff.moe_allgather:  # every GPU receives the other S - 1 GPUs' tokens, routed or not
        vol, reach, floor = (Tr / tp) * m.d_model * (S - 1), nd - 1, eff.allgather_latency_s
    else:  # each token goes to the GPUs of the expert groups it routes to
        groups = ep * (1 - np.power(1 - 1 / ep, k))
        vol = (Tr / tp) * groups * moe_tp * m.d_model * (S - 1) / S
        reach, floor = remote_domains_per_token(nd, k), np.where(ep > 1, eff.alltoall_latency_s, eff.allgather_latency_s)
    direct = vol * (nd - 1) / nd  # of which leave the domain, one copy per remote GPU
    forwarded = np.minimum(direct, (Tr / tp) * m.d_model * reach)
    relayed = prefill or eff.moe_allgather  # a collective crosses to each remote domain once and fans out there
    out_el = forwarded if relayed else direct
    in_el = vol if relayed else vol - direct  # forwarding relays the remote copies over scale-up too
    a2a, out = np.maximum(bw["a2a"], 1.0), bw["out"]

    def one(width):
        inside = in_el * width / a2a + floor
        return np.where(nd > 1, np.maximum(in_el * width / a2a, out_el * width / out) + floor + eff.scale_out_latency_s, inside)

    return np.where(S > 1, one(shape["disp_b"]) + one(shape["ab"]), 0.0)
