"""Where a cached prefix should live while it waits for its next use.

A prefix of ``b`` bytes of KV that will be reused after ``t`` seconds can

* stay in HBM:           cost = b * t * p_hbm
* wait in a slower tier: cost = b * t * p_tier + b / bw_tier * g   (hold, then restore)
* be dropped and recomputed when it comes back: cost = R            (a prefill of its tokens)

``p`` is the tier's price per byte-second ($/GB-hour / 3.6e12), ``bw_tier`` the
bytes/s one GPU restores from it, ``g`` the $/s of that GPU: a restore keeps
the GPU's share of the sequence waiting for ``b / bw`` seconds, charged at the
GPU's price (an upper bound: a restore overlapped with other work costs less).
Each option is a line in ``t``: restore cost is the intercept, holding price
the slope. The cheapest option for each hold time is the lower envelope of
those lines; its corners are the break-even hold times.

Pure functions on floats, SI units (bytes, seconds, US dollars).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..inputs.kv_tiers import Tier, usd_per_byte_s  # noqa: F401  (re-exported)

RECOMPUTE = "recompute"


@dataclass(frozen=True)
class Option:
    """A line cost(t) = restore_usd + hold_usd_per_s * t for ``nbytes`` bytes."""

    name: str
    restore_usd: float
    hold_usd_per_s: float

    def cost_usd(self, hold_s: float) -> float:
        return self.restore_usd + self.hold_usd_per_s * hold_s


@dataclass(frozen=True)
class BreakEven:
    """Past ``hold_s`` seconds, ``to`` is cheaper than ``frm``."""

    frm: str
    to: str
    hold_s: float


def hbm_tier(hbm_bytes: float, gpu_usd_per_hour: float) -> Tier:
    """HBM priced at its share of the GPU: the GPU-hour divided by the bytes it
    holds (what a byte of HBM costs to keep busy with a waiting prefix)."""
    return Tier("hbm", "hbm", hbm_bytes, float("inf"), gpu_usd_per_hour / 3600.0 / hbm_bytes, "GPU price / HBM capacity")


def restore_s(tier: Tier, nbytes: float) -> float:
    """Seconds to bring ``nbytes`` back into HBM (0 for HBM itself)."""
    return 0.0 if tier.read_bytes_per_s_per_gpu == float("inf") else nbytes / tier.read_bytes_per_s_per_gpu


def hold_option(tier: Tier, nbytes: float, gpu_usd_per_s: float) -> Option:
    return Option(tier.name, restore_s(tier, nbytes) * gpu_usd_per_s, nbytes * tier.usd_per_byte_s)


def options(tiers: list[Tier], nbytes: float, gpu_usd_per_s: float, recompute_usd: float | None) -> list[Option]:
    """Every way to keep (or not keep) ``nbytes``: one per tier that can hold them,
    and recompute when its cost is known."""
    out = [hold_option(t, nbytes, gpu_usd_per_s) for t in tiers if t.capacity_bytes_per_gpu >= nbytes]
    if recompute_usd is not None:
        out.append(Option(RECOMPUTE, recompute_usd, 0.0))
    return out


def cheapest(opts: list[Option], hold_s: float) -> Option:
    """The cheapest option at this hold time (ties: the earlier in the list)."""
    return min(opts, key=lambda o: o.cost_usd(hold_s))


def break_evens(opts: list[Option]) -> list[BreakEven]:
    """Corners of the lower envelope as the hold time grows from 0: at each, the
    cheapest option hands over to one with a cheaper holding price."""
    if not opts:
        return []
    cur = min(opts, key=lambda o: (o.restore_usd, o.hold_usd_per_s))
    t, out = 0.0, []
    while True:
        nxt = None
        for o in opts:
            if o.hold_usd_per_s >= cur.hold_usd_per_s:
                continue
            x = (o.restore_usd - cur.restore_usd) / (cur.hold_usd_per_s - o.hold_usd_per_s)
            x = max(x, t)
            if nxt is None or x < nxt[0] or (x == nxt[0] and o.hold_usd_per_s < nxt[1].hold_usd_per_s):
                nxt = (x, o)
        if nxt is None:
            return out
        t, o = nxt
        out.append(BreakEven(cur.name, o.name, t))
        cur = o


def spill(tiers: list[Tier], nbytes: float, held_bytes_per_gpu: float, gpu_usd_per_s: float, hold_s: float,
          recompute_usd: float | None) -> Option:
    """The cheapest option at ``hold_s`` among tiers with room for every prefix
    waiting at once (``held_bytes_per_gpu``, by Little's law: arrival rate x hold
    time x bytes), falling back to recompute when none has room."""
    roomy = [t for t in tiers if t.capacity_bytes_per_gpu >= max(nbytes, held_bytes_per_gpu)]
    opts = options(roomy, nbytes, gpu_usd_per_s, recompute_usd)
    if not opts:
        return Option(RECOMPUTE, float("inf"), 0.0)
    return cheapest(opts, hold_s)
