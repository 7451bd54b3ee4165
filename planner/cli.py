"""The ``planner`` command: a thin typer shell over :mod:`planner.api`.

Exit codes: 0 success, 2 bad input (one line naming the file/field/flag),
3 nothing feasible (one line naming the binding constraint).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import PlannerError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="Plan LLM inference deployments on GPU racks: parallel layout, batch, replicas and placement at least cost per token.",
)

DEFAULT_WORKLOAD = "deepseek-v3"
DEFAULT_TOPOLOGY = "gb200-nvl72"

# ---- shared options (typer reads the defaults as option declarations)
W = typer.Option(DEFAULT_WORKLOAD, "--workload", "-w", help="Shipped workload name, a workload YAML, or a Hugging Face config.json.")
T = typer.Option(DEFAULT_TOPOLOGY, "--topology", "-t", help="Shipped topology name or a topology YAML.")
ISL = typer.Option(None, "--isl", help="Input tokens per request.")
OSL = typer.Option(None, "--osl", help="Output tokens per request.")
KVL = typer.Option(None, "--kv-len", help="Context held per sequence (default isl+osl).")
WD = typer.Option(None, "--weight-dtype", help="Weight precision: bf16, fp8, fp4.")
KD = typer.Option(None, "--kv-dtype", help="KV-cache precision: bf16, fp8, fp4.")
TTFT = typer.Option(None, "--ttft-ms", help="Time-to-first-token SLO (ms).")
TPOT = typer.Option(None, "--tpot-ms", help="Time-per-output-token SLO (ms).")
NODES = typer.Option(None, "--nodes", help="Scale-up domains of a node-based topology (HGX, MI300X).")
RACKS = typer.Option(None, "--racks", help="Scale-up domains of a rack-scale topology (NVL72).")
PRICE = typer.Option(None, "--price-per-gpu-hour", help="Override the topology's $/GPU-hour.")
DOWN = typer.Option(None, "--unavailable", help="Comma-separated GPU ids that are failed or reserved.")
JSON = typer.Option(False, "--json", help="Print the plan as JSON.")
OUT = typer.Option(None, "--out", "-o", help="Also write the JSON plan to this file.")


def _fail(exc: PlannerError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


def _ids(text: Optional[str]) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        from .errors import InputError

        raise InputError(f"--unavailable expects comma-separated GPU ids (got {text!r})") from None


def _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price, unavailable):
    from .api import Query
    from .errors import InputError

    if nodes is not None and racks is not None:
        raise InputError("give --nodes or --racks, not both")
    count = nodes if nodes is not None else racks
    if count is not None:
        _check_unit(topology, "node" if nodes is not None else "rack")
    return Query(
        isl=isl, osl=osl, kv_len=kv_len, weight_dtype=weight_dtype, kv_dtype=kv_dtype, ttft_ms=ttft_ms, tpot_ms=tpot_ms,
        domains=count, price_per_gpu_hour=price, unavailable_gpus=_ids(unavailable),
    )


def _check_unit(topology: str, flag_unit: str) -> None:
    from .datafiles import read_yaml, resolve
    from .errors import InputError
    from .topology import domain_flag

    unit = read_yaml(resolve("topologies", topology)).data.get("domain_unit", "node")
    if unit in ("node", "server") and flag_unit == "rack" or unit in ("rack", "pod") and flag_unit == "node":
        raise InputError(f"{topology} counts {unit}s: use {domain_flag(unit)} instead of --{flag_unit}s")


def write_out(out: Optional[Path], text: str) -> None:
    """Write ``--out`` files; an unwritable path is an input error naming the flag."""
    if out is None:
        return
    try:
        out.write_text(text + "\n")
    except OSError as exc:
        from .errors import InputError

        raise InputError(f"--out {out}: cannot write ({exc.strerror})") from None


def _emit(plan, as_json: bool, out: Optional[Path]) -> None:
    text = plan.to_json()
    write_out(out, text)
    if as_json:
        typer.echo(text)
    else:
        from rich.console import Console

        from .render import render_plan

        render_plan(plan.to_dict(), Console())
        if out is not None:
            typer.echo(f"plan written to {out}")


@app.command()
def plan(
    workload: str = W, topology: str = T, isl: Optional[int] = ISL, osl: Optional[int] = OSL, kv_len: Optional[int] = KVL,
    weight_dtype: Optional[str] = WD, kv_dtype: Optional[str] = KD, ttft_ms: Optional[float] = TTFT, tpot_ms: Optional[float] = TPOT,
    nodes: Optional[int] = NODES, racks: Optional[int] = RACKS, price_per_gpu_hour: Optional[float] = PRICE,
    unavailable: Optional[str] = DOWN,
    gpus: Optional[int] = typer.Option(None, "--gpus", help="Use at most this many GPUs."),
    demand_tps: Optional[float] = typer.Option(None, "--demand-tps", help="Serve this many output tokens/s at least cost."),
    objective: str = typer.Option("cost", "--objective", help="cost: least $/output token on the GPUs used; throughput: most tokens/s from the inventory."),
    time_limit: float = typer.Option(10.0, "--time-limit", help="Solver time limit (s)."),
    mode: str = typer.Option("auto", "--mode", help="agg: prefill and decode share replicas; disagg: separate prefill and decode pools; auto: the cheaper."),
    as_json: bool = JSON, out: Optional[Path] = OUT,
) -> None:
    """Choose layouts, batch sizes, replica counts and GPU placement at least cost per token."""
    from . import api

    try:
        q = _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price_per_gpu_hour, unavailable)
        p = api.plan(workload, topology, q, objective=objective, demand_tps=demand_tps, max_gpus=gpus, time_limit_s=time_limit, mode=mode)
        _emit(p, as_json, out)
    except PlannerError as exc:
        _fail(exc)


@app.command()
def evaluate(
    workload: str = W, topology: str = T, isl: Optional[int] = ISL, osl: Optional[int] = OSL, kv_len: Optional[int] = KVL,
    weight_dtype: Optional[str] = WD, kv_dtype: Optional[str] = KD, ttft_ms: Optional[float] = TTFT, tpot_ms: Optional[float] = TPOT,
    nodes: Optional[int] = NODES, racks: Optional[int] = RACKS, price_per_gpu_hour: Optional[float] = PRICE,
    unavailable: Optional[str] = DOWN,
    tp: int = typer.Option(1, "--tp", help="Tensor-parallel degree of attention."),
    pp: int = typer.Option(1, "--pp", help="Pipeline stages."),
    dp_attn: int = typer.Option(1, "--dp-attn", help="Data-parallel attention ranks per stage (MoE)."),
    ep: int = typer.Option(1, "--ep", help="Expert-parallel degree (MoE)."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Decode micro-batch (sequences); default: the largest within the limits."),
    as_json: bool = JSON, out: Optional[Path] = OUT,
) -> None:
    """Evaluate one pinned layout; says which limit it violates, if any."""
    from . import api

    try:
        q = _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price_per_gpu_hour, unavailable)
        p = api.evaluate(workload, topology, q, tp=tp, pp=pp, dp_attn=dp_attn, ep=ep, batch=batch)
        _emit(p, as_json, out)
    except PlannerError as exc:
        _fail(exc)


@app.command()
def topologies() -> None:
    """List shipped topologies, one line each."""
    from .datafiles import read_yaml, resolve, shipped_names

    for name in shipped_names("topologies"):
        d = read_yaml(resolve("topologies", name)).data
        typer.echo(f"{name:22s} {d.get('description', '')}")


@app.command()
def workloads() -> None:
    """List shipped workloads, one line each."""
    from .datafiles import read_yaml, resolve, shipped_names

    for name in shipped_names("workloads"):
        d = read_yaml(resolve("workloads", name)).data
        typer.echo(f"{name:18s} {d.get('description', '')}")


# Commands that live in their own modules (planner/commands/*.py); each module
# exposes ``register(app)`` and imports nothing heavy at module level.
_COMMAND_MODULES = ("compare", "fidelity", "fleet", "export", "sweep")


def _register_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"planner.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"planner.commands.{name}":
                raise
            continue
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except PlannerError as exc:  # anything a command let through
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
