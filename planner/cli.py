"""The ``planner`` command: a thin typer shell over :mod:`planner.api`.

Exit codes: 0 success, 2 bad input (one line naming the file/field/flag),
3 nothing feasible (one line naming the binding constraint).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from .errors import PlannerError, one_line


def _is_usage_error(exc: BaseException) -> bool:
    """click's (or typer's vendored click's) own exceptions: usage errors, bad
    parameter values, missing options, aborts. Matched by module, since typer
    vendors click under a private name."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("click", "typer") and hasattr(exc, "format_message")


def usage_line(exc: BaseException) -> str:
    """click's usage errors (unknown option, bad value, missing option or command)
    as one line naming the command, the flag and where the fix is documented."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "planner"
    if type(exc).__name__ == "NoArgsIsHelpError":
        return f"{where}: give a command (plan, evaluate, compare, fleet, export, ...); see '{where} --help'"
    message = exc.format_message().rstrip(".")
    return one_line(f"{where}: {message[:1].lower()}{message[1:]}; see '{where} --help'")


class OneLineGroup(TyperGroup):
    """The ``planner`` group: every error a user can cause, including click's own
    usage errors, is printed as one ``error:`` line with exit 2 (PlannerError:
    its own code) instead of click/typer's multi-line usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name or "planner", complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except PlannerError as exc:
            typer.echo(f"error: {one_line(exc)}", err=True)
            code = exc.exit_code
        except Exception as exc:
            if _is_usage_error(exc):
                typer.echo(f"error: {usage_line(exc)}", err=True)
                code = int(getattr(exc, "exit_code", 2) or 2)
            elif type(exc).__name__ == "Abort" and (type(exc).__module__ or "").split(".")[0] in ("click", "typer"):
                typer.echo("error: aborted", err=True)
                code = 1
            else:
                raise
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=OneLineGroup,
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
    typer.echo(f"error: {one_line(exc)}", err=True)
    raise typer.Exit(exc.exit_code)


def _ids(text: Optional[str]) -> tuple[int, ...]:
    if not text:
        return ()
    from .errors import InputError
    from .ranges import GPU_ID

    parts = [x.strip() for x in text.split(",") if x.strip()]
    if len(parts) > 100_000:
        raise InputError(f"--unavailable lists {len(parts):,} GPU ids; give at most 100,000")
    try:
        return tuple(GPU_ID.check("--unavailable", int(x)) for x in parts)
    except ValueError:
        raise InputError(f"--unavailable expects comma-separated GPU ids (got {one_line(text, 60)!r})") from None


def _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price, unavailable):
    from .api import Query
    from .errors import InputError

    from .ranges import DOMAINS

    if nodes is not None and racks is not None:
        raise InputError("give --nodes or --racks, not both")
    DOMAINS.check("--nodes", nodes)
    DOMAINS.check("--racks", racks)
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


def write_out(out: Optional[Path], text: str, flag: str = "--out") -> None:
    """Write ``--out`` files atomically (planner.safeio.atomic_write): a failed or
    interrupted write leaves the previous file whole; errors name the flag."""
    if out is None:
        return
    from .safeio import atomic_write

    atomic_write(out, text + "\n", flag)


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
_COMMAND_MODULES = ("compare", "fidelity", "fleet", "export")


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
    from .entry import main as entry_main

    entry_main()


if __name__ == "__main__":
    main()
