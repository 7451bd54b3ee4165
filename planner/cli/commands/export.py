"""``planner export``: engine launch commands for a plan JSON, a thin shell over
:func:`planner.plan.export.launch_commands` (reading the file, printing text or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer


def read_plan(path: str | Path) -> dict:
    """A plan JSON file; one-line InputError naming the file otherwise."""
    from ...inputs.datafiles import read_json

    return read_json(Path(path), top="a plan object")[0]


def render_text(plan: dict, engine: str, commands: list, gph: int) -> str:
    from ...plan.export import engine_table

    inputs = plan.get("inputs") or {}
    workload = (inputs.get("workload") or {}).get("name", "?")
    topology = (inputs.get("topology") or {}).get("name", "?")
    weights = (inputs.get("precision") or {}).get("weights", "?")
    replicas = len({c.replica for c in commands if c.replica is not None})
    lines = [
        f"# {engine_table()[engine]['engine']} launch commands for {workload} on {topology}: {replicas} replicas",
        f"# export MODEL=<checkpoint with the plan's {weights} weights> and HOST_<n>=<address of topology host n>:",
        *[f"#   HOST_{h}: GPU ids {h * gph}-{(h + 1) * gph - 1}" for h in sorted({h for c in commands for h in c.hosts})],
    ]
    for c in commands:
        if c.role == "router":
            where = "router (any machine that reaches the servers)"
        else:
            node = f", node {c.node_rank} of {c.nnodes}" if c.node_rank is not None and c.nnodes > 1 else ""
            where = f"replica {c.replica} ({c.role}){node}, host{'s' * (len(c.hosts) > 1)} {','.join(map(str, c.hosts))}, GPU ids {','.join(map(str, c.gpu_ids))}"
        lines += ["", f"# {where}", c.shell()]
    return "\n".join(lines)


def to_json(plan: dict, engine: str, commands: list, gph: int) -> str:
    out: dict[str, Any] = {
        "engine": engine,
        "plan_schema_version": plan.get("schema_version"),
        "gpus_per_host": gph,
        "placeholders": {"MODEL": "checkpoint path or Hugging Face id", "HOST_<n>": "address of topology host n"},
        "commands": [c.to_dict() for c in commands],
    }
    return json.dumps(out, indent=2)


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
            plan_replicas(data)  # a malformed plan is named before its topology is looked up
            gph = host_size(data, gpus_per_host)
            commands = launch_commands(data, name, model=model, gpus_per_host_override=gph)
            typer.echo(to_json(data, name, commands, gph) if as_json else render_text(data, name, commands, gph))
        except PlannerError as exc:
            _fail(exc)
