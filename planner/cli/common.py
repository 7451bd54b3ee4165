"""What the ``planner`` command and its sub-commands share: the common options,
the query built from them, error exit and ``--out`` writing. Imports nothing heavy."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..inputs.errors import PlannerError, one_line

DEFAULT_WORKLOAD = "deepseek-v3"
DEFAULT_TOPOLOGY = "gb200-nvl72"

# ---- shared options (typer reads the defaults as option declarations)
W = typer.Option(DEFAULT_WORKLOAD, "--workload", "-w", help="Shipped workload name, a workload YAML, a Hugging Face config.json or model folder, or a model id (Qwen/Qwen2.5-72B-Instruct).")
DL = typer.Option(False, "--allow-download", help="Fetch config.json of a model id that is neither shipped nor in the Hugging Face cache (needs huggingface_hub).")
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
CACHED = typer.Option(None, "--cached-prefix", help="Prompt tokens (of --isl) already in the prefix cache: no prefill compute, still read and held.")
HIT = typer.Option(None, "--prefix-hit-rate", help="Share of input tokens served from the prefix cache (a fleet average; instead of --cached-prefix).")
HOLD = typer.Option(None, "--prefix-hold-s", help="Seconds a cached prefix waits for its next use (chooses the KV tier that holds it).")
SPEC = typer.Option(None, "--speculative", help="Speculative decoding: mtp (the model's MTP heads, sourced acceptance), ngram, or none.")
DRAFT = typer.Option(None, "--draft-tokens", help="Draft tokens proposed per verification step (default: the model's MTP heads).")
ACCEPT = typer.Option(None, "--acceptance-rate", help="Share of draft tokens accepted, per token (default for mtp: the model's sourced figure).")
JSON = typer.Option(False, "--json", help="Print the plan as JSON.")
ENGINE = typer.Option(None, "--engine", "-e", help="Plan for this engine (vllm, sglang, trtllm): only layouts it launches, so the plan exports for it, priced with its measured kernel costs (hardware/engines.yaml).")
OUT = typer.Option(None, "--out", "-o", help="Also write the JSON plan to this file.")


def _fail(exc: PlannerError) -> None:
    typer.echo(f"error: {one_line(exc)}", err=True)
    raise typer.Exit(exc.exit_code)


def workload_arg(ref: str, allow_download: bool):
    """What the API gets for ``--workload``: the text itself (resolved offline by
    the loader), or, with ``--allow-download``, the workload loaded with the Hub
    as a last resort."""
    if not allow_download:
        return ref
    from ..inputs.query import load_workload

    return load_workload(ref, allow_download=True)


def _ids(text: Optional[str]) -> tuple[int, ...]:
    if not text:
        return ()
    from ..inputs.errors import InputError
    from ..inputs.ranges import GPU_ID

    parts = [x.strip() for x in text.split(",") if x.strip()]
    if len(parts) > 100_000:
        raise InputError(f"--unavailable lists {len(parts):,} GPU ids; give at most 100,000")
    try:
        return tuple(GPU_ID.check("--unavailable", int(x)) for x in parts)
    except ValueError:
        raise InputError(f"--unavailable expects comma-separated GPU ids (got {one_line(text, 60)!r})") from None


def _query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price, unavailable):
    from ..api import Query
    from ..inputs.errors import InputError
    from ..inputs.ranges import DOMAINS

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


def with_prefix(q, cached_prefix, prefix_hit_rate, prefix_hold_s):
    """The query with the prefix-cache options set."""
    from dataclasses import replace

    return replace(q, cached_prefix=cached_prefix, prefix_hit_rate=prefix_hit_rate, prefix_hold_s=prefix_hold_s)


def with_speculative(q, speculative, draft_tokens, acceptance_rate):
    """The query with the speculative-decoding options set."""
    from dataclasses import replace

    return replace(q, speculative=speculative, draft_tokens=draft_tokens, acceptance_rate=acceptance_rate)


def _check_unit(topology: str, flag_unit: str) -> None:
    from ..inputs.datafiles import read_yaml, resolve
    from ..inputs.errors import InputError
    from ..inputs.topology import domain_flag

    unit = read_yaml(resolve("topologies", topology)).data.get("domain_unit", "node")
    if unit in ("node", "server") and flag_unit == "rack" or unit in ("rack", "pod") and flag_unit == "node":
        raise InputError(f"{topology} counts {unit}s: use {domain_flag(unit)} instead of --{flag_unit}s")


def write_out(out: Optional[Path], text: str, flag: str = "--out") -> None:
    """Write ``--out`` files atomically (inputs.safeio.atomic_write): a failed or
    interrupted write leaves the previous file whole; errors name the flag."""
    if out is None:
        return
    from ..inputs.safeio import atomic_write

    atomic_write(out, text + "\n", flag)


def time_limit(seconds: float):
    """The deadline of a command's ``--time-limit``, counted from the start of the
    process (start-up and imports count; planner.search.deadline): a context
    manager around the whole command, printing included."""
    from ..inputs.ranges import TIME_LIMIT_S
    from ..search import deadline

    TIME_LIMIT_S.check("--time-limit", seconds)
    return deadline.limit(seconds, from_process_start=True)


def timed_out(rows: list[tuple[str, str]], what: str) -> None:
    """After the output of a command with several parts (compare's topologies):
    exit 4 with one line if the deadline left any part without a plan."""
    from ..inputs.errors import TimeLimitError

    late = [(name, err) for name, err in rows if err.startswith("time limit:")]
    if late:
        names = ", ".join(name for name, _ in late)
        raise TimeLimitError(f"{late[0][1]} (no plan for {len(late)} of {len(rows)} {what}: {one_line(names, 120)})")
