"""Unit conversions at the edges. Inside the planner everything is SI:
bytes, seconds, FLOP/s, bytes/s."""

from __future__ import annotations

GB = 1e9  # bytes (decimal: bandwidths, weights and memory terms as the planner reports them)
GIB = 2.0**30  # bytes: HBM capacity "GB" on datasheets is binary (H100 "80 GB" = 80 GiB, 81,559 MiB in nvidia-smi)
TB = 1e12
TFLOPS = 1e12
GBIT = 1e9 / 8  # bytes per gigabit
US = 1e-6
MS = 1e-3

# Bytes per element of each numeric format the planner knows. These are
# definitions of the formats, not measured values. FP4 counts 4 bits per
# element; block-scale overhead is not modelled.
DTYPE_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}

# From widest to narrowest: a weight format that the accelerator cannot compute
# in is computed in the next wider format it supports.
DTYPE_WIDENING = ["fp4", "fp8", "bf16", "fp32"]


def dtype_bytes(name: str) -> float:
    try:
        return DTYPE_BYTES[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; expected one of {', '.join(DTYPE_BYTES)}") from None
