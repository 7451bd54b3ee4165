"""``planner topologies``, ``planner workloads`` and ``planner support``: what the
package ships and what works together, as a table, JSON or CSV
(``--format table|json|csv``; ``--json`` is ``--format json``). The JSON of the
first two validates against docs/schema/topologies.schema.json and
workloads.schema.json."""

from __future__ import annotations

from typing import Optional

import typer

FORMAT = typer.Option("table", "--format", "-f", help="Output format: table, json or csv.")
AS_JSON = typer.Option(False, "--json", help="Same as --format json.")
ENGINE_LETTERS = {"vllm": "V", "sglang": "S", "trtllm": "T"}


def register(app: typer.Typer) -> None:
    app.command()(topologies)
    app.command()(workloads)
    app.command()(support)


def _listing(kind: str, fmt: str, as_json: bool):
    """The shipped ``kind`` listing (topologies or workloads). Printed here as JSON or
    CSV (returns None), or returned for the caller's table."""
    from ...inputs import listing
    from ...inputs.errors import PlannerError
    from ..common import _fail

    try:
        fmt = listing.check_format(fmt, as_json)
        res = getattr(listing, kind)()
    except PlannerError as exc:
        _fail(exc)
    if fmt == "json":
        return typer.echo(res.model_dump_json(indent=2))
    if fmt == "csv":
        return typer.echo(listing.to_csv([listing.flat(r) for r in getattr(res, kind)]), nl=False)
    return res


def topologies(fmt: str = FORMAT, as_json: bool = AS_JSON) -> None:
    """List shipped topologies: GPU, size, price (estimates marked), description."""
    res = _listing("topologies", fmt, as_json)
    if res is None:
        return
    from rich.table import Table

    from ..console import console

    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("topology", "GPU", "GPUs", "count with", "$/GPU-h", "description"):
        t.add_column(col, justify="right" if col in ("GPUs", "$/GPU-h") else "left", no_wrap=col != "description")
    for r in res.topologies:
        t.add_row(r.name, r.accelerator + ("*" if r.accelerator_estimated else ""),
                  f"{r.domains}x{r.gpus_per_domain}", f"{r.domain_flag} ({r.domain_unit}s)",
                  f"{r.price_usd_per_gpu_hour:.2f}" + ("*" if r.price_estimated else ""), r.description)
    c = console()
    c.print(t)
    c.print("* estimated: unreleased hardware specs or a price that is not a quote")


def workloads(fmt: str = FORMAT, as_json: bool = AS_JSON) -> None:
    """List shipped workloads: size, precision, traffic, SLOs and the model ids that name them."""
    res = _listing("workloads", fmt, as_json)
    if res is None:
        return
    from rich.table import Table

    from ..console import console

    t = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("workload", "params B\ntotal/active", "weights\n/KV", "ISL/OSL", "TTFT/TPOT\nms", "model ids"):
        t.add_column(col, justify="left", no_wrap=col != "model ids")
    for r in res.workloads:
        active = "" if r.architecture == "dense" else f"/{r.active_params_b:.1f}"
        t.add_row(r.name, f"{r.total_params_b:.1f}{active}", f"{r.weight_dtype}/{r.kv_dtype}", f"{r.isl}/{r.osl}",
                  f"{r.ttft_ms:g}/{r.tpot_ms:g}", " ".join(r.model_ids))
    console().print(t)


def support(
    models: Optional[str] = typer.Option(None, "--models", "--workloads", help="Comma-separated workloads or model ids (default: every one shipped)."),
    topologies_: Optional[str] = typer.Option(None, "--topologies", help="Comma-separated topologies (default: every one shipped)."),
    fmt: str = FORMAT, as_json: bool = AS_JSON,
) -> None:
    """Which models, topologies and engines work together: per model and topology, the
    engines that run the model's architecture on that GPU vendor, and the fewest GPUs
    (and nodes or racks) that hold its weights."""
    from ...inputs import listing
    from ...inputs.datafiles import shipped_names
    from ...inputs.errors import PlannerError
    from ..common import _fail

    try:
        fmt = listing.check_format(fmt, as_json)
        names = _split(models, "--models") or listing.support_models()
        topos = _split(topologies_, "--topologies") or shipped_names("topologies")
        rows = listing.support_rows(names, topos)
    except PlannerError as exc:
        _fail(exc)
    if fmt == "json":
        import json

        return typer.echo(json.dumps({"kind": "support", "engines": {k: e["name"] for k, e in listing.engine_support()["engines"].items()},
                                      "rows": [r.model_dump() for r in rows]}, indent=2))
    if fmt == "csv":
        return typer.echo(listing.to_csv([listing.flat(r) for r in rows]), nl=False)
    _support_table(rows, names, topos)


def _split(text: Optional[str], flag: str) -> list[str]:
    from ...inputs.errors import InputError

    if text is None:
        return []
    names = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not names:
        raise InputError(f"{flag}: give comma-separated names")
    return names


def _support_table(rows, names: list[str], topos: list[str]) -> None:
    from rich.table import Table

    from ..console import console

    cell = {(r.model, r.topology): r for r in rows}
    t = Table(box=None, pad_edge=False, header_style="bold")
    t.add_column("model", no_wrap=True)
    t.add_column("arch", no_wrap=True)
    order = list(dict.fromkeys(r.topology for r in rows))
    for name in order:
        t.add_column(name, no_wrap=True)
    for m in names:
        first = cell[(m, order[0])]
        vals = []
        for topo in order:
            r = cell[(m, topo)]
            letters = "".join(ENGINE_LETTERS[e] for e in r.engines) or "-"
            vals.append(letters + (f" x{r.min_domains}" if r.min_domains > 1 else ""))
        t.add_row(m, first.architecture.removesuffix("ForCausalLM"), *vals)
    c = console()
    c.print(t)
    c.print("V vLLM, S SGLang, T TensorRT-LLM: engines that run the architecture on the GPU's vendor; "
            "xN: the weights alone need N nodes/racks (pipeline or expert parallel across them). "
            "planner support --json gives the numbers.")
