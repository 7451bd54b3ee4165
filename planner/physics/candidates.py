"""Enumerate legal parallel layouts of one replica, as arrays.

A replica has ``pp`` pipeline stages of ``S = tp * dp`` GPUs each. Attention
runs tensor-parallel over ``tp`` and data-parallel over ``dp``; an MoE layer
runs expert-parallel over ``ep`` with ``S / ep``-way tensor parallelism
inside each expert. Legality is arithmetic (divisibility, fit in a scale-up
domain); whether a layout is any good is the cost model's business.

Placement units ("chunks"): a replica is split into ``chunks`` equal pieces,
each inside one scale-up domain and each in a different domain. A replica that
fits a domain is one chunk; a pipeline longer than a domain puts whole stages
in each chunk; an expert-parallel stage wider than a domain is split across
domains, its TP groups kept whole.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from ..inputs.topology import Topology
from ..inputs.workload import Workload
from .engine_limits import active, refusal

PP_CHOICES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)


@dataclass(frozen=True)
class Layouts:
    tp: np.ndarray
    dp: np.ndarray
    ep: np.ndarray
    pp: np.ndarray
    chunks: np.ndarray  # placement pieces per replica, each in its own domain
    stage_domains: np.ndarray  # domains one stage spans (>1 only for wide EP)
    cross_hops: np.ndarray  # pipeline hops that leave a domain

    def __len__(self) -> int:
        return len(self.tp)

    # Derived columns are computed once per Layouts (read-only): callers index them
    # per option in loops, and recomputing the whole column on every access made
    # option picking quadratic in the number of layouts.
    @cached_property
    def stage_gpus(self) -> np.ndarray:
        return _frozen(self.tp * self.dp)

    @cached_property
    def gpus(self) -> np.ndarray:
        return _frozen(self.stage_gpus * self.pp)

    @cached_property
    def chunk_gpus(self) -> np.ndarray:
        return _frozen(self.gpus // self.chunks)

    @cached_property
    def moe_tp(self) -> np.ndarray:
        return _frozen(self.stage_gpus // self.ep)

    def take(self, idx) -> "Layouts":
        return Layouts(**{f.name: np.atleast_1d(getattr(self, f.name)[idx]) for f in fields(self)})

    def row(self, i: int) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)[i]) for f in fields(self)}

    @staticmethod
    def from_rows(rows: list[dict[str, int]]) -> "Layouts":
        return Layouts(**{f.name: np.array([r[f.name] for r in rows], dtype=np.int64) for f in fields(Layouts)})


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _powers_of_two(limit: int) -> list[int]:
    out, v = [], 1
    while v <= limit:
        out.append(v)
        v *= 2
    return out


def stage_sizes(domain: int, limit: int) -> list[int]:
    """Stage widths worth trying: powers of two, divisors and multiples of the
    domain, and multiples of 8 (the common node size)."""
    sizes = set(_powers_of_two(limit))
    sizes |= {s for s in range(1, domain + 1) if domain % s == 0}
    sizes |= set(range(domain, limit + 1, domain))
    sizes |= set(range(8, min(limit, 4 * domain) + 1, 8))
    return sorted(s for s in sizes if s <= limit)


def placement(stage: int, tp: int, moe_tp: int, pp: int, domain: int) -> tuple[int, int, int] | None:
    """(chunks, stage_domains, cross_hops) for a layout, or None if it cannot be placed."""
    if stage <= domain:
        for k in range(1, pp + 1):  # fewest domains: k pieces of pp/k whole stages
            if pp % k == 0 and (pp // k) * stage <= domain:
                return k, 1, k - 1
        return None
    for parts in range(-(-stage // domain), stage + 1):  # a wide stage split over domains
        piece = stage // parts
        if stage % parts == 0 and piece <= domain and piece % tp == 0 and piece % moe_tp == 0:
            return parts * pp, parts, pp - 1
    return None


def host_aligned(piece: int, host: int, domain: int) -> bool:
    """A piece must be whole hosts or fit inside one host, so that every replica
    maps onto engine processes host by host (a 5-GPU piece on 4-GPU trays
    would straddle two trays unevenly)."""
    return domain <= host or piece % host == 0 or host % piece == 0


def enumerate_layouts(w: Workload, topo: Topology, max_gpus: int | None = None) -> Layouts:
    m = w.model
    domain = topo.domain_size
    limit = min(max_gpus or topo.n_available, topo.n_available)
    engine = active()
    rows: list[dict[str, int]] = []
    tps = [t for t in _powers_of_two(domain) if m.n_heads % t == 0]
    for stage in stage_sizes(domain, limit):
        for tp in tps:
            if stage % tp:
                continue
            dp = stage // tp
            if not m.is_moe and dp > 1:
                continue  # a dense model gains nothing from attention-DP inside a replica
            eps = [1]
            if m.is_moe:
                eps = [e for e in range(1, stage + 1) if stage % e == 0 and e <= m.n_routed_experts]
                # expert TP groups stay inside a domain and are powers of two
                eps = [e for e in eps if (stage // e) <= domain and (stage // e) & (stage // e - 1) == 0]
            for ep in eps:
                for pp in PP_CHOICES:
                    if pp > m.n_layers or stage * pp > limit:
                        continue
                    placed = placement(stage, tp, stage // ep, pp, domain)
                    if placed is None:
                        continue
                    chunks, sd, hops = placed
                    if not host_aligned(stage * pp // chunks, topo.gpus_per_host, domain):
                        continue
                    if engine is not None and refusal(engine, tp, dp, ep, pp, topo.gpus_per_host, chunks):
                        continue  # the engine asked for cannot launch it (planner plan --engine)
                    rows.append(dict(tp=tp, dp=dp, ep=ep, pp=pp, chunks=chunks, stage_domains=sd, cross_hops=hops))
    if not rows:
        return Layouts.from_rows([])
    return Layouts.from_rows(rows)


def pinned_layout(w: Workload, topo: Topology, tp: int, pp: int, dp: int, ep: int) -> Layouts:
    """One user-chosen layout, with its placement derived the same way."""
    from ..inputs.errors import InputError

    m = w.model
    for flag, v in (("--tp", tp), ("--pp", pp), ("--dp-attn", dp), ("--ep", ep)):
        if v < 1:
            raise InputError(f"{flag} must be at least 1 (got {v})")
    stage = tp * dp
    if m.n_heads % tp:
        raise InputError(f"--tp {tp} does not divide the model's {m.n_heads} attention heads")
    if tp > topo.domain_size:
        raise InputError(f"--tp {tp} exceeds the {topo.domain_size}-GPU scale-up domain of {topo.name}")
    if not m.is_moe and ep != 1:
        raise InputError(f"--ep {ep} given for a dense model; expert parallelism needs an MoE workload")
    if stage % ep:
        raise InputError(f"--ep {ep} does not divide the stage of tp*dp_attn = {stage} GPUs")
    if m.is_moe and ep > m.n_routed_experts:
        raise InputError(f"--ep {ep} exceeds the model's {m.n_routed_experts} routed experts")
    if pp > m.n_layers:
        raise InputError(f"--pp {pp} exceeds the model's {m.n_layers} layers")
    if stage * pp > topo.n_available:
        raise InputError(
            f"layout needs {stage * pp} GPUs but {topo.name} has {topo.n_available} available: add {topo.domain_flag}"
        )
    placed = placement(stage, tp, stage // ep, pp, topo.domain_size)
    if placed is None:
        raise InputError(
            f"layout tp={tp} dp_attn={dp} ep={ep} pp={pp} cannot be placed on {topo.domain_size}-GPU domains "
            "without splitting a tensor-parallel group"
        )
    chunks, sd, hops = placed
    return Layouts.from_rows([dict(tp=tp, dp=dp, ep=ep, pp=pp, chunks=chunks, stage_domains=sd, cross_hops=hops)])
