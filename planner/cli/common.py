"""What the ``planner`` command and its sub-commands share: the common options,
the query built from them, error exit and ``--out`` writing. Imports nothing heavy."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..inputs.errors import PlannerError

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
        from ..inputs.errors import InputError

        raise InputError(f"--unavailable expects comma-separated GPU ids (got {text!r})") from None


def _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price, unavailable):
    from ..api import Query
    from ..inputs.errors import InputError

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
    from ..inputs.datafiles import read_yaml, resolve
    from ..inputs.errors import InputError
    from ..inputs.topology import domain_flag

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
        from ..inputs.errors import InputError

        raise InputError(f"--out {out}: cannot write ({exc.strerror})") from None
