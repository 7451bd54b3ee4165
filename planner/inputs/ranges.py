"""Physical ranges of every number the planner reads, declared once.

Each range is used two ways: as a pydantic type in the file schemas
(``TOKENS.type``) and as a check on a command-line flag (``TOKENS.check("--isl",
v)``), so a file field and its flag refuse the same values with the same words.
A boolean is never a number; NaN and infinity are never in range.

The bounds are limits of this program, not hardware facts: each is at least
100x beyond any real deployment (a 10M-token context, a 1M-wide model, $10,000
per GPU-hour), so a real input never meets one, while a typo or a hostile file
(1e308, 2**63, ``true``) is refused before it reaches arithmetic or the solver's
64-bit integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Optional

from pydantic import BeforeValidator, Field

from .errors import InputError


def _fmt(x: float) -> str:
    if isinstance(x, int):
        return f"{x:,}" if abs(x) < 10**30 else f"a {len(str(abs(x)))}-digit integer"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:g}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {str: "a string", list: "a list", dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Range:
    lo: float
    hi: float
    unit: str = ""
    integer: bool = False
    lo_open: bool = False  # lo itself is out of range (a rate or price must be > 0)

    def text(self) -> str:
        kind = "integer" if self.integer else "number"
        unit = f" {self.unit}" if self.unit else ""
        if (self.lo_open and self.lo == 0) or (self.integer and self.lo == 1):
            return f"a positive {kind} up to {_fmt(self.hi)}{unit}"
        lo = f"above {_fmt(self.lo)}" if self.lo_open else f"from {_fmt(self.lo)}"
        return f"{'an' if self.integer else 'a'} {kind} {lo} to {_fmt(self.hi)}{unit}"

    def problem(self, value: Any) -> Optional[str]:
        """Why ``value`` is out of this range, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be {self.text()}, not {_kind(value)}"
        if self.integer and isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return f"must be {self.text()}"
        if not math.isfinite(value) or value > self.hi or value < self.lo or (self.lo_open and value == self.lo):
            return f"must be {self.text()}"
        return None

    def check(self, flag: str, value: Any) -> Any:
        """A command-line value: returned if in range, else a one-line error naming the flag."""
        if value is None:
            return None
        why = self.problem(value)
        if why:
            shown = _fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else value
            raise InputError(f"{flag} {why} (got {shown})")
        return int(value) if self.integer else value

    def _validate(self, value: Any) -> Any:
        if isinstance(value, str) and not self.integer:  # YAML 1.1 reads 1e9 as a string
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"must be {self.text()}, not {_kind(value)}") from None
        why = self.problem(value)
        if why:
            raise ValueError(why)
        return int(value) if self.integer else float(value)

    @property
    def type(self) -> Any:
        """The pydantic type of a file field in this range (bounds also land in the
        published JSON schema)."""
        low = {"gt": self.lo} if self.lo_open else {"ge": self.lo}
        return Annotated[int if self.integer else float, Field(le=self.hi, **low), BeforeValidator(self._validate)]


def _int(lo: int, hi: int, unit: str = "") -> Range:
    return Range(lo, hi, unit, integer=True)


def _pos(hi: float, unit: str = "") -> Range:
    return Range(0.0, hi, unit, lo_open=True)


def _nonneg(hi: float, unit: str = "") -> Range:
    return Range(0.0, hi, unit)


# --------------------------------------------------------------------------- program limits

MAX_GPUS = 65536  # GPUs in one topology (graph and enumeration size)
MAX_FLEET_DOMAINS = 100_000  # scale-up domains in one inventory group

# --------------------------------------------------------------------------- traffic and SLOs
TOKENS = _int(1, 10_000_000, "tokens")  # isl, osl, kv_len, windows, chunks
SLO_MS = _pos(1e9, "ms")  # 11.6 days: the "no latency limit" of throughput-only measurements
DEMAND_TPS = _pos(1e12, "output tokens/s")
# --------------------------------------------------------------------------- money and solver
PRICE_USD_PER_GPU_HOUR = _pos(10_000.0, "$/GPU-hour")
TIME_LIMIT_S = _pos(86_400.0, "s")  # one day
HOLD_S = _pos(3.2e7, "s")  # about a year: how long a cached prefix may wait for reuse
WORKERS = _int(1, 256, "threads")
GPU_BUDGET = _int(1, 10_000_000, "GPUs")  # --gpus: may exceed a topology (then the topology binds)
DOMAINS = _int(1, MAX_GPUS, "domains")
FLEET_DOMAINS = _int(1, MAX_FLEET_DOMAINS, "domains")
GPU_ID = _int(0, 10_000_000 - 1)
PARALLEL = _int(1, MAX_GPUS)  # tp, ep, pp, dp_attn, gpus per host, GPUs per domain
BATCH = _int(1, 100_000_000, "sequences")
# --------------------------------------------------------------------------- model shape
LAYERS = _int(1, 10_000, "layers")
WIDTH = _int(1, 1_000_000)  # d_model, head_dim, ranks
FFN_WIDTH = _int(1, 10_000_000)  # d_ff, expert_d_ff
HEADS = _int(1, 100_000, "heads")
VOCAB = _int(1, 100_000_000, "tokens")
EXPERTS = _int(1, 100_000, "experts")
COUNT = _int(0, 100_000)  # shared experts, dense layers, window layers
PARAMS_B = _pos(1e6, "billion parameters")
# --------------------------------------------------------------------------- hardware
HBM_GB = _pos(1e5, "GB")
HBM_TB_PER_S = _pos(1e4, "TB/s")
TFLOPS = _pos(1e7, "TFLOP/s")
WATTS = _pos(1e6, "W")
LINK_GB_PER_S = _pos(1e6, "GB/s")
NIC_GBIT_PER_S = _pos(1e7, "Gbit/s")
LATENCY_US = _nonneg(1e7, "us")
FRACTION = Range(0.0, 1.0, lo_open=True)  # of a peak
FRACTION0 = _nonneg(1.0)  # may be 0 (no overlap)
SWITCHES = _int(1, 4096, "switches")
MEMORY_GB = _nonneg(1e5, "GB")
VARIATION = _nonneg(100.0)  # a coefficient of variation (std / mean)
PASSES = _nonneg(1e4)
MEASURED = _pos(1e15)  # a measured metric (tokens/s, ms, ...): positive, finite
TOKENS_F = _nonneg(1e7, "tokens")  # a token count fitted as a real number
FLEET_DOMAINS_ID = _int(0, MAX_FLEET_DOMAINS - 1)
