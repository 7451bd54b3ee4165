"""The ``planner`` command: a thin typer shell over :mod:`planner.api`.

Exit codes: 0 success, 2 bad input (one line naming the file/field/flag),
3 nothing feasible (one line naming the binding constraint).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Optional

from . import lazy_imports

lazy_imports.install()  # before anything can import ortools or pydantic: the CLI never uses their pandas or plugin helpers
# A command is one short process that makes few reference cycles; at the default
# threshold (a collection every 700 allocations) the collector took 10-13 % of a
# plan's wall time, mostly walking the objects that imports create.
gc.set_threshold(100_000, 50, 100)

import typer  # noqa: E402

from ..inputs.errors import InputError, PlannerError, one_line  # noqa: E402
from .common import (  # noqa: F401  (shared with the sub-commands)
    DEFAULT_TOPOLOGY, DEFAULT_WORKLOAD, DL, DOWN, ISL, JSON, KD, KVL, NODES, OSL, OUT, PRICE, RACKS, T, TPOT, TTFT, W, WD,
    _fail, _query, workload_arg, write_out,
)
from .common import ACCEPT, CACHED, DRAFT, ENGINE, HIT, HOLD, SPEC, with_prefix, with_speculative
from .common import time_limit as time_limit_of
from .usage import OneLineGroup

app = typer.Typer(
    cls=OneLineGroup,
    add_completion=False,
    no_args_is_help=False,
    help="Plan LLM inference deployments on GPU racks: parallel layout, batch, replicas and placement at least cost per token.",
)


def _emit(plan, as_json: bool, out: Optional[Path]) -> None:
    """Print (and write) a plan. The typed document is built once; its JSON (the
    bytes of ``plan.to_json()``) only when it is printed or written."""
    doc = plan.document()
    if as_json or out is not None:
        from ..plan.document import dump, strict_dumps

        text = strict_dumps(dump(doc))
        write_out(out, text)
        if as_json:
            typer.echo(text)
            return
    from .console import console
    from .render import render_plan

    render_plan(doc, console())
    if out is not None:
        typer.echo(f"plan written to {out}")


@app.command()
def plan(
    workload: str = W, topology: str = T, isl: Optional[int] = ISL, osl: Optional[int] = OSL, kv_len: Optional[int] = KVL,
    weight_dtype: Optional[str] = WD, kv_dtype: Optional[str] = KD, ttft_ms: Optional[float] = TTFT, tpot_ms: Optional[float] = TPOT,
    nodes: Optional[int] = NODES, racks: Optional[int] = RACKS, price_per_gpu_hour: Optional[float] = PRICE,
    unavailable: Optional[str] = DOWN,
    cached_prefix: Optional[int] = CACHED, prefix_hit_rate: Optional[float] = HIT, prefix_hold_s: Optional[float] = HOLD,
    speculative: Optional[str] = SPEC, draft_tokens: Optional[int] = DRAFT, acceptance_rate: Optional[float] = ACCEPT,
    gpus: Optional[int] = typer.Option(None, "--gpus", help="Use at most this many GPUs."),
    demand_tps: Optional[float] = typer.Option(None, "--demand-tps", help="Serve this many output tokens/s at least cost."),
    objective: str = typer.Option("cost", "--objective", help="cost: least $/output token on the GPUs used; throughput: most tokens/s from the inventory."),
    time_limit: float = typer.Option(10.0, "--time-limit", help="Time limit for the whole command (s): past it, the best plan found with its gap, or exit 4."),
    mode: str = typer.Option("auto", "--mode", help="agg: prefill and decode share replicas; disagg: separate prefill and decode pools; auto: the cheaper."),
    engine: Optional[str] = ENGINE,
    as_json: bool = JSON, out: Optional[Path] = OUT, allow_download: bool = DL,
) -> None:
    """Choose layouts, batch sizes, replica counts and GPU placement at least cost per token."""
    from .. import api
    from ..physics import engine_limits

    try:
        q = _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price_per_gpu_hour, unavailable)
        q = with_speculative(with_prefix(q, cached_prefix, prefix_hit_rate, prefix_hold_s), speculative, draft_tokens, acceptance_rate)
        if objective not in ("cost", "throughput"):
            raise InputError(f"--objective must be cost or throughput (got {one_line(objective, 40)!r}); to serve a rate at least cost give --demand-tps")
        engine_limits.check(engine)  # before a model is read or downloaded
        with time_limit_of(time_limit):
            p = api.plan(workload_arg(workload, allow_download), topology, q, objective=objective, demand_tps=demand_tps, max_gpus=gpus, time_limit_s=time_limit, mode=mode, engine=engine)
            _emit(p, as_json, out)
    except PlannerError as exc:
        _fail(exc)


@app.command()
def evaluate(
    workload: str = W, topology: str = T, isl: Optional[int] = ISL, osl: Optional[int] = OSL, kv_len: Optional[int] = KVL,
    weight_dtype: Optional[str] = WD, kv_dtype: Optional[str] = KD, ttft_ms: Optional[float] = TTFT, tpot_ms: Optional[float] = TPOT,
    nodes: Optional[int] = NODES, racks: Optional[int] = RACKS, price_per_gpu_hour: Optional[float] = PRICE,
    unavailable: Optional[str] = DOWN,
    cached_prefix: Optional[int] = CACHED, prefix_hit_rate: Optional[float] = HIT, prefix_hold_s: Optional[float] = HOLD,
    speculative: Optional[str] = SPEC, draft_tokens: Optional[int] = DRAFT, acceptance_rate: Optional[float] = ACCEPT,
    tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree of attention."),
    pp: int = typer.Option(1, "--pp", help="Pipeline stages."),
    dp_attn: int = typer.Option(1, "--dp-attn", help="Data-parallel attention ranks per stage (MoE)."),
    ep: int = typer.Option(1, "--ep", help="Expert-parallel degree (MoE)."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Decode micro-batch (sequences); default: the largest within the limits."),
    engine: Optional[str] = typer.Option(None, "--engine", "-e", help="Also say whether this engine (vllm, sglang, trtllm) can launch the layout, and price its measured kernel costs (hardware/engines.yaml)."),
    as_json: bool = JSON, out: Optional[Path] = OUT, allow_download: bool = DL,
) -> None:
    """Evaluate one pinned layout; says which limit it violates, if any."""
    from .. import api
    from ..physics import engine_limits

    try:
        q = _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price_per_gpu_hour, unavailable)
        q = with_speculative(with_prefix(q, cached_prefix, prefix_hit_rate, prefix_hold_s), speculative, draft_tokens, acceptance_rate)
        engine_limits.check(engine)
        p = api.evaluate(workload_arg(workload, allow_download), topology, q, tp=tp, pp=pp, dp_attn=dp_attn, ep=ep, batch=batch, engine=engine)
        _emit(p, as_json, out)
    except PlannerError as exc:
        _fail(exc)


# Commands that live in their own modules (planner/cli/commands/*.py); each module
# exposes ``register(app)`` and imports nothing heavy at module level.
_COMMAND_MODULES = ("listing", "compare", "fidelity", "fleet", "export", "sweep")


def _register_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"planner.cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"planner.cli.commands.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    """Run the app without the interrupt handling of the console script
    (planner.cli.entry:main, which installs it before these imports)."""
    app()


if __name__ == "__main__":
    main()
