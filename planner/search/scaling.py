"""One guarded way to turn rates and prices into the integers CP-SAT needs.

A scale is a power of ten picked from the data's range: large enough that the
smallest non-zero coefficient keeps ``RESOLUTION`` steps (1 ppm), small enough
that every total the model can form (coefficient x largest count, summed; for
a ratio objective the product of two totals) fits CP-SAT's 64-bit arithmetic.
Where no scale keeps at least ``MIN_RESOLUTION`` steps, the input is refused
with a one-line error naming the field, never a solver crash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..inputs.errors import InputError

INT_LIMIT = 2**60  # largest total handed to CP-SAT (its arithmetic is int64, with headroom for sums)
RESOLUTION = 1e6  # preferred steps in the smallest non-zero coefficient (1 ppm)
MIN_RESOLUTION = 1e3  # fewer steps would round a coefficient by more than 0.1 %: refuse instead


@dataclass(frozen=True)
class Family:
    """Coefficients of one kind (tokens/s, requests/s or $/s) and the largest
    count each can be multiplied by."""

    field: str  # the input behind the numbers, named in errors
    values: tuple[float, ...]
    counts: tuple[int, ...]
    reach: float = float("inf")  # the most any one plan can total (per-GPU best x GPUs), if smaller

    @property
    def smallest(self) -> float:
        return min((abs(v) for v in self.values if v), default=0.0)

    @property
    def total(self) -> float:
        return sum(abs(v) * max(c, 1) for v, c in zip(self.values, self.counts))


def _check_finite(f: Family) -> None:
    bad = [v for v in f.values if not math.isfinite(v) or v < 0]
    if bad:
        raise InputError(f"{f.field}: {bad[0]!r} is not a finite non-negative number")


def _preferred(f: Family) -> float:
    return 10.0 ** math.ceil(math.log10(RESOLUTION / f.smallest)) if f.smallest else 1.0


def _refuse(f: Family) -> InputError:
    return InputError(
        f"{f.field}: values from {f.smallest:.3g} to a total of {f.total:.3g} span more than the solver's "
        f"64-bit integers can hold at {MIN_RESOLUTION:g} steps of resolution; bring {f.field} into a physical range"
    )


def pick_scales(families: list[Family], product: bool = False) -> list[float]:
    """One power-of-ten scale per family. ``product``: the model multiplies the
    totals of the first two families (a ratio objective), so their product must fit."""
    for f in families:
        _check_finite(f)
    scales = [_preferred(f) for f in families]
    for k, f in enumerate(families):  # each total on its own
        while f.total * scales[k] > INT_LIMIT:
            scales[k] /= 10.0
            if f.smallest * scales[k] < MIN_RESOLUTION:
                raise _refuse(f)
    if product and len(families) >= 2:
        a, b = families[0], families[1]
        # the ratio objective's coefficients are u_i*T - t_i*U with T, U totals of one plan
        while (a.total * min(b.total, b.reach) + b.total * min(a.total, a.reach)) * scales[0] * scales[1] > INT_LIMIT:
            # take a digit from the family with the most resolution to spare
            k = 0 if a.smallest * scales[0] >= b.smallest * scales[1] else 1
            scales[k] /= 10.0
            if families[k].smallest * scales[k] < MIN_RESOLUTION:
                raise _refuse(families[k])
    return scales


def floor_int(x: float, scale: float) -> int:
    """Never promise more than the cost model says (rates supplied)."""
    return int(math.floor(x * scale + 1e-9))


def ceil_int(x: float, scale: float) -> int:
    """Never promise less than the cost model says (rates needed)."""
    return int(math.ceil(x * scale - 1e-9))


def price_int(usd_per_s: float, gpus: int, scale: float) -> int:
    """Dollars rounded per GPU, then multiplied: at one price per GPU-hour, equal
    GPU counts cost exactly equal integers (rounding a 2-GPU replica on its own
    can make it cheaper than two 1-GPU ones and flip a tie)."""
    g = max(gpus, 1)
    return int(round(usd_per_s / g * scale)) * g


def ratio_row(lhs_max: int, rhs: int, steps: int, field: str) -> tuple[int, int]:
    """Coefficients ``(a, b)`` of the row ``a * lhs >= b * x`` that says
    ``lhs / rhs >= x / steps`` (``x`` in 0..``steps``, a power of ten), with
    ``lhs`` at most ``lhs_max``. Exact, ``(steps, rhs)``, where that fits
    INT_LIMIT; otherwise both sides divided by the least power of ten that fits,
    ``rhs`` rounded up (the row never claims more than is served). Refuses,
    naming ``field``, where ``rhs`` would keep fewer than MIN_RESOLUTION steps."""
    div = 1
    while div <= steps:
        a, b = steps // div, -(-rhs // div)
        if a * lhs_max + b * steps <= INT_LIMIT:
            if div > 1 and b < MIN_RESOLUTION:
                break
            return a, b
        div *= 10
    raise InputError(
        f"{field}: a demand of {rhs:.3g} against a possible {lhs_max:.3g} spans more than the solver's 64-bit integers "
        f"can hold at {MIN_RESOLUTION:g} steps of resolution; bring {field} into a physical range"
    )
