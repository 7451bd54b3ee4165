"""``planner export``: engine launch commands for a plan JSON, a thin shell over
:func:`planner.plan.export.launch_commands` (reading the file, printing text or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer


def read_plan(path: str | Path) -> dict:
    """A plan JSON file; one-line InputError naming the file otherwise."""
    from ...inputs.datafiles import read_json

    return read_json(Path(path), top="a plan object")[0]


def comment(text: object) -> str:
    """Text for a ``#`` comment line of the export: names from a plan or a Hub
    config may hold newlines or escapes, which would end the comment and run the
    rest as a command when the export is piped to a shell. Control and format
    characters become spaces (errors.one_line), so the comment stays one line."""
    from ...inputs.errors import one_line

    return one_line(text, 200)


def _weights(precision: dict) -> str:
    """The plan's weights as its header names them; a plan file is hostile input,
    so component formats that are not a str -> str mapping are not read."""
    from ...inputs.formats import weights_label

    formats = precision.get("weight_formats")
    if not (isinstance(formats, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in formats.items())):
        formats = None
    return weights_label(str(precision.get("weights", "?")), formats)


def render_text(plan: dict, engine: str, commands: list, gph: int) -> str:
    from ...plan.export import engine_table, section

    inputs = section(plan, "inputs")
    workload = comment(section(inputs, "workload", "inputs.").get("name", "?"))
    topology = comment(section(inputs, "topology", "inputs.").get("name", "?"))
    weights = comment(_weights(section(inputs, "precision", "inputs.")))
    replicas = len({c.replica for c in commands if c.replica is not None})
    lines = [
        f"# {engine_table()[engine]['engine']} launch commands for {workload} on {topology}: {replicas} replicas",
        f"# export MODEL=<checkpoint with the plan's {weights}> and HOST_<n>=<address of topology host n>:",
        *[f"#   HOST_{h}: GPU ids {h * gph}-{(h + 1) * gph - 1}" for h in sorted({h for c in commands for h in c.hosts})],
    ]
    for c in commands:
        if c.role == "router":
            where = "router (any machine that reaches the servers)"
        else:
            node = f", node {c.node_rank} of {c.nnodes}" if c.node_rank is not None and c.nnodes > 1 else ""
            where = f"replica {c.replica} ({c.role}){node}, host{'s' * (len(c.hosts) > 1)} {','.join(map(str, c.hosts))}, GPU ids {','.join(map(str, c.gpu_ids))}"
        lines += ["", f"# {comment(where)}", c.shell()]
    return "\n".join(lines)


def to_json(plan: dict, engine: str, commands: list, gph: int) -> str:
    out: dict[str, Any] = {
        "engine": engine,
        "plan_schema_version": plan.get("schema_version"),
        "gpus_per_host": gph,
        "placeholders": {"MODEL": "checkpoint path or Hugging Face id", "HOST_<n>": "address of topology host n"},
        "commands": [c.to_dict() for c in commands],
    }
    from ...inputs.jsonout import dumps

    return dumps(out, indent=2)


def fleet_text(sets: list, engine: str) -> str:
    from ...plan.export import engine_table

    lines = [f"# {engine_table()[engine]['engine']} launch commands for a fleet: {len(sets)} command sets (demand x group)",
             "# export MODEL_<demand>=<checkpoint of that demand's workload> and <GROUP>_HOST_<n>=<address of host n of that group>"]
    for s in sets:
        replicas = len({c.replica for c in s.commands if c.replica is not None})
        hosts = sorted({h for c in s.commands for h in c.hosts})
        lines += ["", f"# ===== {comment(f'demand {s.demand} ({s.workload}) on group {s.group} ({s.topology}): {replicas} replicas')}",
                  *[f"#   {s.host_prefix}HOST_{h}: group GPU ids {h * s.gpus_per_host}-{(h + 1) * s.gpus_per_host - 1}" for h in hosts]]
        for c in s.commands:
            on = ",".join(f"{s.host_prefix}HOST_{h}" for h in c.hosts)
            where = "router" if c.role == "router" else f"replica {c.replica} ({c.role}) on {on}, group GPU ids {','.join(map(str, c.gpu_ids))}"
            lines += ["", f"# {comment(where)}", c.shell()]
    return "\n".join(lines)


def fleet_json(doc, engine: str, sets: list) -> str:
    from ...plan.document import strict_dumps

    return strict_dumps({
        "engine": engine,
        "plan_schema_version": doc.schema_version,
        "kind": "fleet",
        "sets": [{"demand": s.demand, "workload": s.workload, "group": s.group, "topology": s.topology,
                  "gpus_per_host": s.gpus_per_host,
                  "placeholders": {"MODEL": "checkpoint path or Hugging Face id",
                                   f"{s.host_prefix}HOST_<n>": f"address of host n of group {s.group}"},
                  "commands": [c.to_dict() for c in s.commands]} for s in sets],
    })


def _export_fleet(data: dict, engine: str, model: str, gpus_per_host: Optional[int], as_json: bool) -> str:
    from ...plan.document import read_document
    from ...plan.export import ENGINES
    from ...plan.export_fleet import fleet_commands
    from ...inputs.errors import InputError

    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    doc = read_document(data)
    sets = fleet_commands(doc, engine, model=model, gpus_per_host_override=gpus_per_host)
    return fleet_json(doc, engine, sets) if as_json else fleet_text(sets, engine)


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        plan: Path = typer.Argument(..., help="Plan JSON from 'planner plan --out FILE' (or --json)."),
        engine: str = typer.Option(..., "--engine", "-e", help="Serving engine: vllm, sglang or trtllm."),
        model: str = typer.Option("$MODEL", "--model", help="Checkpoint path or Hugging Face id written into the commands."),
        gpus_per_host: Optional[int] = typer.Option(None, "--gpus-per-host", help="GPUs per host (default: from the plan's topology file)."),
        as_json: bool = typer.Option(False, "--json", help="Print the commands as structured JSON."),
    ) -> None:
        """Print the launch command(s) of every replica (and the router of a disaggregated plan)."""
        from ..common import _fail
        from ...inputs.errors import PlannerError
        from ...plan.export import gpus_per_host as host_size, launch_commands, plan_replicas

        try:
            data = read_plan(plan)
            name = engine.lower()
            if data.get("kind") == "fleet":
                typer.echo(_export_fleet(data, name, model, gpus_per_host, as_json))
                return
            plan_replicas(data)  # a malformed plan is named before its topology is looked up
            gph = host_size(data, gpus_per_host)
            commands = launch_commands(data, name, model=model, gpus_per_host_override=gph)
            typer.echo(to_json(data, name, commands, gph) if as_json else render_text(data, name, commands, gph))
        except PlannerError as exc:
            _fail(exc)
