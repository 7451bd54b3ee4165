"""Long context: when KV reads, not weights, set the cost of a decode token.

At the balance batch B* the weight read of a step is paid for by B* tokens'
compute, so a token costs its compute time, ``t_c = 2 N_a / F`` (F: achieved
FLOP/s). Each decode token also reads its whole context's KV once:
``t_kv = L * k / W`` (k: KV bytes per token of context, W: achieved HBM bytes/s).
The two are equal at the crossover context

    L* = 2 N_a W / (F k)                                   [tokens]

Past it a token costs ``t_c * (1 + L / L*)``: linear in context. A long-context
price tier that keeps the margin of requests at context ``L0`` for requests up
to context ``L`` needs the multiplier

    m(L) = (1 + L / L*) / (1 + L0 / L*).

Pure functions on floats, SI units.
"""

from __future__ import annotations


def crossover_tokens(active_params: float, flops_per_s: float, hbm_bytes_per_s: float, kv_bytes_per_token: float) -> float:
    """Context length at which KV reads per decode token take as long as the
    token's share of the compute at the balance batch."""
    return 2.0 * active_params * hbm_bytes_per_s / (flops_per_s * kv_bytes_per_token)


def relative_cost(context: float, crossover: float) -> float:
    """Cost of a decode token at ``context`` in units of its compute-only cost."""
    return 1.0 + context / crossover


def price_multiplier(context: float, base_context: float, crossover: float) -> float:
    """Price multiplier a request at ``context`` needs to keep the margin of one
    at ``base_context``."""
    return relative_cost(context, crossover) / relative_cost(base_context, crossover)
