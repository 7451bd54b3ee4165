"""Which layouts a serving engine can launch (``planner plan --engine``).

The exporter (:mod:`planner.plan.export`) refuses a plan an engine cannot
express; these are the same limits read on a layout (tp, dp_attn, ep, pp and the
GPUs per host) before the search, so that a plan asked for one engine exports
for it. Each limit's wording and source live in ``planner/engine_flags.yaml``
under ``<engine>.limits``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

ENGINES = ("vllm", "sglang", "trtllm")
_ACTIVE: ContextVar[Optional[str]] = ContextVar("planner_engine", default=None)


def check(engine: Optional[str]) -> None:
    """One line for an engine name this planner does not know (None: any engine)."""
    if engine is not None and engine not in ENGINES:
        from ..inputs.errors import InputError, one_line

        raise InputError(f"--engine must be one of {', '.join(ENGINES)} (got {one_line(str(engine), 40)!r})")


def refusal(engine: str, tp: int, dp: int, ep: int, pp: int, gpus_per_host: int, chunks: int = 1) -> Optional[str]:
    """The ``limits`` key of ``engine`` this layout breaks, or None when the engine launches it.
    ``chunks``: the pieces the replica is placed in (one per scale-up domain it spans)."""
    stage = tp * dp
    gpus = stage * pp
    if gpus > gpus_per_host and (gpus // chunks) % gpus_per_host:
        return "uneven_hosts"  # pieces of part hosts can share a host: every node must run the same number of ranks
    if engine in ("vllm", "sglang") and 1 < ep < stage:
        return "partial_expert_parallel"  # experts either all TP or all EP over the stage
    if engine == "vllm" and dp > 1 and (tp * pp > gpus_per_host or (pp > 1 and stage * pp > gpus_per_host)):
        return "dp_rank_across_hosts"  # a DP rank's TP x PP GPUs stay inside one node
    if engine == "sglang" and dp > 1 and pp > 1:
        return "dp_attention_with_pp"
    if engine == "trtllm" and dp > 1 and tp > 1:
        return "attention_tp_and_dp"
    if engine == "trtllm" and ep > 1 and stage // ep > 1 and (stage > gpus_per_host or gpus_per_host % stage):
        return "expert_tp_strided"  # expert TP ranks strided by ep reach every node of the stage
    return None


@contextmanager
def only(engine: Optional[str]) -> Iterator[None]:
    """Within the block, the layouts enumerated are those ``engine`` launches (None: all)."""
    token = _ACTIVE.set(engine)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> Optional[str]:
    return _ACTIVE.get()


def with_active_engine(topo):
    """``topo`` with the measured kernel costs of the engine the block asks for
    (hardware/engines.yaml; unchanged outside ``only`` or for None)."""
    engine = active()
    if engine is None:
        return topo
    from dataclasses import replace

    from ..inputs.engines import with_engine

    return replace(topo, efficiency=with_engine(topo.efficiency, engine, topo.accelerator.name))
