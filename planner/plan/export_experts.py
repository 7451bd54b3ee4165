"""Redundant experts in exported launch commands.

The cost model gives every GPU of an expert-parallel group ``ceil(E / ep)``
expert slots (docs/cost-model.md, section 2), so when ``ep`` does not divide the
``E`` routed experts a replica holds ``R = ceil(E / ep) * ep - E`` redundant
copies: EP72 on DeepSeek-V3's 256 experts has 288 slots, 32 redundant. The
plan assumes those slots are used to even out expert load, so the launch
command must ask the engine for them (flags and sources in
planner/engine_flags.yaml, ``redundant_experts``):

* vLLM: ``--enable-eplb --eplb-config '{"num_redundant_experts": R}'``
* SGLang: ``--enable-eplb --ep-num-redundant-experts R``
* TensorRT-LLM: ``moe_config: {backend: WideEP, load_balancer: {num_slots: E + R}}``
  in the ``--config`` YAML.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..inputs.errors import InputError


def routed_experts(plan: dict) -> int:
    """Routed experts per MoE layer of the plan's workload (0 for a dense model),
    read from the workload the plan names (its path if it still exists, else its
    name: a shipped workload or a model id)."""
    from ..inputs.query import load_workload

    w = (plan.get("inputs") or {}).get("workload") or {}
    path, name = w.get("path"), w.get("name")
    ref = path if isinstance(path, str) and path and Path(path).is_file() else name
    if not isinstance(ref, str) or not ref:
        raise InputError("plan: inputs.workload names no workload (needed for the expert count)")
    try:
        return load_workload(ref).model.n_routed_experts
    except InputError as exc:
        raise InputError(f"plan: cannot read workload {ref!r} to count its experts ({exc})") from None


def redundant(experts: int, ep: int) -> int:
    """Redundant expert slots of an EP group of ``ep`` GPUs over ``experts`` experts."""
    if experts <= 0 or ep <= 1:
        return 0
    return math.ceil(experts / ep) * ep - experts


def engine_settings(engine: str, spec: dict, experts: int, ep: int) -> tuple[list[Any], dict[str, Any]]:
    """(extra arguments, extra config-file keys) that ask ``engine`` for the slots."""
    r = redundant(experts, ep)
    if not r:
        return [], {}
    f, keys = spec["flags"], spec.get("config_keys", {})
    if engine == "vllm":
        return [f["eplb"], f["eplb_config"], json.dumps({"num_redundant_experts": r}, separators=(",", ":"))], {}
    if engine == "sglang":
        return [f["eplb"], f["redundant_experts"], r], {}
    return [], {keys["moe"]: {"backend": spec["wide_ep_backend"], "load_balancer": {"num_slots": experts + r}}}
