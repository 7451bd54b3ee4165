"""The one planning problem every mode solves: options and domain classes.

An **option** is one way to run a replica: its role (aggregated, prefill or
decode), the workload it serves, the hardware group it runs on, its GPUs and
placement pieces (``chunks`` pieces of ``gpus // chunks`` GPUs, each inside
one scale-up domain), and its rates and cost per replica. A **domain class**
is ``len(domains)`` interchangeable scale-up domains of one group with the
same number of free GPUs.

* aggregated planning: one workload, one group, ``agg`` options;
* disaggregated planning: ``prefill`` and ``decode`` options of one workload,
  balanced (prefill requests/s >= decode requests/s), pairs that miss TTFT
  excluded;
* a fleet: several workloads on several groups, each workload in either mode,
  every workload's demand met.

The search sees these coefficients only, never a formula of the cost model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AGG, PREFILL, DECODE = "agg", "prefill", "decode"
ROLES = (AGG, PREFILL, DECODE)
OBJECTIVES = ("cost", "throughput", "demand")


@dataclass(frozen=True)
class Option:
    role: str  # agg | prefill | decode
    gpus: int  # GPUs per replica
    chunks: int  # placement pieces per replica, each inside one domain
    tps: float  # output tokens/s per replica (0 for prefill)
    usd_per_s: float  # dollars/s per replica
    rps: float = 0.0  # requests/s per replica: prefill supplies it, decode consumes it
    workload: int = 0
    group: int = 0

    @property
    def piece(self) -> int:
        return self.gpus // self.chunks


@dataclass(frozen=True)
class DomainClass:
    group: int
    capacity: int  # free GPUs in each domain of the class
    domains: tuple[int, ...]  # domain ids within the group

    @property
    def count(self) -> int:
        return len(self.domains)


@dataclass(frozen=True)
class Budget:
    """One budget for a whole solve, in CP-SAT deterministic work units (about a
    second of one core each on a quiet machine), split across the steps of the
    solve loop. The wall clock is a safety net: the command's deadline
    (planner.search.deadline) when a command set one, else ``wall_s`` from the
    start of the solve; the answer says when it fired."""

    work: float = 10.0
    wall_s: float = 25.0


@dataclass(frozen=True)
class Problem:
    options: tuple[Option, ...]
    classes: tuple[DomainClass, ...]
    objective: str = "cost"  # cost ($/token) | throughput (tokens/s) | demand (least $/s meeting demand)
    demand_tps: tuple[float, ...] = ()  # per workload (objective "demand")
    incompatible: frozenset[tuple[int, int]] = frozenset()  # (prefill, decode) option pairs that miss TTFT
    colocated: bool = False  # balance inside every domain (each class one domain, one-piece replicas)
    max_gpus: int | None = None
    budget: Budget = field(default_factory=Budget)
    rel_gap: float = 1e-3  # a step may stop once nothing beats its answer by more than this fraction
    names: tuple[str, str] = ("tokens/s", "price")  # input fields behind the rates and the dollars, for errors
    partial: bool = False  # demand: when not every demand can be met, plan the largest common fraction

    @property
    def n_workloads(self) -> int:
        return max((o.workload for o in self.options), default=-1) + 1


def classes_of(domain_free, group: int = 0) -> tuple[DomainClass, ...]:
    """Domains grouped by free GPUs, largest first (domains with none dropped)."""
    by: dict[int, list[int]] = {}
    for j, f in enumerate(domain_free):
        if f > 0:
            by.setdefault(int(f), []).append(j)
    return tuple(DomainClass(group, f, tuple(ids)) for f, ids in sorted(by.items(), reverse=True))


def singletons(domain_free, group: int = 0) -> tuple[DomainClass, ...]:
    """One class per domain (for per-domain constraints such as colocated balance)."""
    return tuple(DomainClass(group, int(f), (j,)) for j, f in enumerate(domain_free) if f > 0)


def free_after_unavailable(domain_size: int, n_domains: int, unavailable) -> tuple[int, ...]:
    """The unavailable-GPUs block's data side: free GPUs per domain once the
    listed GPU ids (domain ``d`` holds ``d*size .. d*size+size-1``) are out."""
    lost = [0] * n_domains
    for g in set(unavailable):
        lost[g // domain_size] += 1
    return tuple(domain_size - x for x in lost)


WORK_PER_SECOND = 1.0  # CP-SAT work units per second of --time-limit (a unit is about a second of one core)
WALL_SAFETY_FACTOR = 3.0  # the wall-clock safety net of a solve outside any command's deadline: this many times the limit ...
WALL_SAFETY_S = 30.0  # ... plus this much (inside a command the deadline of --time-limit is the net)


def budget_for(time_limit_s: float) -> Budget:
    """The work budget and, for a solve outside a command, the wall-clock safety
    net of a ``--time-limit``. Inside a command (planner.search.deadline) the
    net is the command's own deadline: start + limit - the reserve for output."""
    return Budget(work=time_limit_s * WORK_PER_SECOND, wall_s=time_limit_s * WALL_SAFETY_FACTOR + WALL_SAFETY_S)
