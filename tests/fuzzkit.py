"""Generated hostile inputs for the whole CLI, and the judge of each outcome.

Shared by tests/test_fuzz_cli.py (a bounded run in CI, driven by hypothesis)
and benchmarks/fuzz.py (a long run that prints the outcome table).

A case is one command line plus the files it reads: command-line flags with
out-of-range, non-finite, mistyped and unknown values, and mutated files of
every kind the planner reads (workload YAML, topology YAML, Hugging Face
config.json, fleet inventory and demands, plan JSON, measurements). Each case
says whether it must be refused: a value outside its physical range, a boolean
or a string where a number belongs, an unknown key in a schema'd file, an
unknown flag. Outcomes:

    ok          exit 0 with output, or exit 2/3/4 with exactly one 'error:' line
                (4: the --time-limit, which covers the whole command, came first)
    crash       an exception escaped, or an exit code other than 0/2/3/4
    hang        no answer within the time budget
    silent      exit 0 for a case that must be refused
    multiline   an error of more (or fewer) than one 'error:' line
"""

from __future__ import annotations

import copy
import json
import math
import random
import signal
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ("ok", "crash", "hang", "silent", "multiline")

# --------------------------------------------------------------------------- values

# (text on the command line, definitely out of range for a positive quantity)
BAD_POSITIVE = ["0", "-1", "-0.5", "nan", "inf", "-inf", "1e308", "9223372036854775808", "abc", "", "true", "0x10", "1_000e999"]
BAD_INT = ["0", "-1", "1.5", "abc", "", "9223372036854775808", "1e3", "true", str(2**70)]
GOOD_INT = ["1", "2", "8"]
GOOD_FLOAT = ["1", "50", "2.5"]

# flags of each command: name -> (bad values, good values)
POS_FLOAT = (BAD_POSITIVE, GOOD_FLOAT)
POS_INT = (BAD_INT, GOOD_INT)
COMMON = {
    "--isl": POS_INT, "--osl": POS_INT, "--kv-len": (BAD_INT, ["4096"]),
    "--ttft-ms": POS_FLOAT, "--tpot-ms": POS_FLOAT, "--price-per-gpu-hour": POS_FLOAT,
    "--weight-dtype": (["fp3", "", "FP8 ", "bf16\n"], ["fp8", "bf16"]),
    "--kv-dtype": (["fp3", "int4", ""], ["fp8"]),
    "--nodes": (BAD_INT + ["100000"], ["1", "2"]),
    "--unavailable": (["x", "-1", "8,x", "99999999", "1" * 5000, "1e2", "1,,x"], ["1", "0,1"]),
}
FLAGS = {
    "plan": {**COMMON, "--gpus": (BAD_INT, ["4"]), "--demand-tps": POS_FLOAT, "--time-limit": (BAD_POSITIVE + ["86401"], ["1"]),
             "--objective": (["demand", "speed", ""], ["throughput"]), "--mode": (["both", ""], ["agg", "disagg"]),
             "--engine": (["", "tgi", "vllm;id", "VLLM", "sglang\n"], ["vllm", "sglang", "trtllm"])},
    "evaluate": {**COMMON, "--tp": POS_INT, "--pp": POS_INT, "--ep": POS_INT, "--dp-attn": POS_INT, "--batch": POS_INT,
                 "--engine": (["", "tgi", "trt llm"], ["sglang"])},
    "explain": dict(COMMON),
    "compare": {k: v for k, v in COMMON.items() if k not in ("--nodes", "--unavailable")} | {"--gpus": (BAD_INT, ["16"]), "--time-limit": (BAD_POSITIVE, ["1"])},
    "export": {"--engine": (["", "tgi", "vllm;id"], ["vllm", "sglang", "trtllm"]), "--gpus-per-host": (BAD_INT, ["8"]),
               "--model": (["-x", "--trust-remote-code", "a\nb"], ["m", "{m,--x}", "${IFS}x", "$(id)"])},
    "fleet": {"--time-limit": (BAD_POSITIVE + ["86401"], ["2"]), "--workers": (BAD_INT + ["257"], ["1"]),
              "--engine": (["", "tgi", "$(id)"], ["vllm", "trtllm"])},
    "validate": {},
}
BASE = {  # a fast, valid command line for each command
    "plan": ["plan", "-w", "llama-3.1-8b", "-t", "hgx-h100", "--time-limit", "1"],
    "evaluate": ["evaluate", "-w", "llama-3.1-8b", "-t", "hgx-h100"],
    "explain": ["explain", "-w", "llama-3.1-8b", "-t", "hgx-h100"],
    "compare": ["compare", "-w", "llama-3.1-8b", "--topologies", "hgx-h100", "--time-limit", "1"],
    "export": ["export", "{plan}", "--engine", "vllm"],
    "fleet": ["fleet", "--inventory", "{inventory}", "--demands", "{demands}", "--time-limit", "2"],
    "validate": ["validate", "--measurements", "{measurements}"],
}

# values a mutation puts into a file: (value, out of range for every numeric field of the planner?)
NASTY = [
    (True, True), (False, True), (-1, True), (-0.5, True), (math.inf, True), (-math.inf, True), (math.nan, True),
    (1e308, True), (2**63, True), (10**40, True), ("x", True), ([], True), ({}, True), ([1, 2], True),
    (0, False), (None, False), (1, False), (0.5, False), ("", False), ("1e3", False), (7, False),
]


@dataclass
class Case:
    kind: str  # flags:<command> or file:<kind>
    args: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content, written next to each other
    must_refuse: bool = False
    note: str = ""


# --------------------------------------------------------------------------- base documents


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@lru_cache(maxsize=1)
def base_docs() -> dict[str, Any]:
    """One valid document of each kind, small enough that a valid case runs fast."""
    from planner import api
    from planner.inputs.datafiles import data_dir

    measurements = _yaml(ROOT / "tests" / "data" / "measurements.yaml")
    keep = [r for r in measurements["records"] if r.get("id") == "VLLM-NIGHTLY-H200-MIXTRAL-LAT-BS8"] or measurements["records"][:1]
    return {
        "workload": [_yaml(data_dir("workloads") / f"{n}.yaml") for n in ("llama-3.1-8b", "mixtral-8x7b", "deepseek-v3")],
        "topology": [_yaml(data_dir("topologies") / f"{n}.yaml") for n in ("hgx-h100", "gb200-nvl72")],
        "config": [json.loads(p.read_text()) for p in sorted((ROOT / "tests" / "data" / "hf").glob("*/config.json"))],
        "inventory": [{"name": "fuzz", "groups": [{"name": "h100", "topology": "hgx-h100", "count": 2, "unavailable_gpus": [3]}]}],
        "demands": [{"name": "fuzz", "demands": [{"name": "small", "workload": "llama-3.1-8b", "output_tokens_per_s": 2000.0}]}],
        "plan": [api.evaluate("llama-3.1-8b", "hgx-h100", api.Query(), tp=2).to_dict(),
                 api.evaluate("llama-3.1-70b", "hgx-h100", api.Query(domains=2), tp=8, pp=2).to_dict()],
        "measurements": [{"records": keep}],
    }


FILE_KINDS = ("workload", "topology", "config", "inventory", "demands", "plan", "measurements")
SCHEMAD = {"workload", "topology", "inventory", "demands"}  # pydantic, extra keys forbidden
# keys the loaders read from files that are not pydantic-validated
READ_CONFIG_KEYS = {"num_hidden_layers", "hidden_size", "vocab_size", "num_attention_heads", "num_key_value_heads",
                    "intermediate_size", "head_dim", "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size",
                    "num_local_experts", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"}
# keys an architecture's importer does not read (Qwen3-MoE: every layer is MoE; DeepSeek-V3: MLA)
UNREAD_CONFIG_KEYS = {"Qwen3MoeForCausalLM": {"intermediate_size"}, "DeepseekV3ForCausalLM": {"num_key_value_heads"}}  # MLA: no KV heads
READ_PLAN_KEYS = {"tp", "ep", "pp", "dp_attn", "batch", "concurrency", "kv_len", "isl", "gpus_per_host"}


def _paths(node: Any, prefix: tuple = ()):
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,), value
        yield from _paths(value, prefix + (key,))


def _must_refuse_value(kind: str, path: tuple, old: Any, bad: bool) -> bool:
    """Replacing the number ``old`` at ``path`` by a value that no range admits."""
    if not bad or isinstance(old, bool) or not isinstance(old, (int, float)):
        return False
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    if kind in SCHEMAD:
        return True
    if kind == "config":
        return len(path) == 1 and key in READ_CONFIG_KEYS
    if kind == "plan":
        in_replica = path[0] == "replicas" and ((len(path) == 3 and key in ("batch", "concurrency"))
                                                or (len(path) == 4 and path[2] == "layout" and key in ("tp", "ep", "pp", "dp_attn")))
        return in_replica or path in (("inputs", "traffic", "kv_len"), ("inputs", "traffic", "isl"))
    if kind == "measurements":
        return "planner" in path
    return False


def mutate_doc(rng: random.Random, kind: str, doc: Any) -> tuple[Any, bool, str]:
    """A structural mutation: replace a value, delete a key, add a key."""
    doc = copy.deepcopy(doc)
    where = list(_paths(doc))
    op = rng.choice(["replace", "replace", "replace", "delete", "add"])
    if not where:
        return doc, False, "empty"
    path, old = rng.choice(where)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if op == "replace":
        value, bad = rng.choice(NASTY)
        parent[path[-1]] = value
        refuse = _must_refuse_value(kind, path, old, bad)
        archs = doc.get("architectures") if isinstance(doc, dict) else None
        arch = str(archs[0]) if isinstance(archs, list) and archs else ""
        if kind == "config" and path[-1] in UNREAD_CONFIG_KEYS.get(arch, ()):
            refuse = False
        return doc, refuse, f"{'.'.join(map(str, path))} = {value!r}"
    if op == "delete":
        del parent[path[-1]]
        return doc, False, f"del {'.'.join(map(str, path))}"
    if isinstance(old, dict):
        target, owner = old, path
    elif isinstance(parent, dict):
        target, owner = parent, path[:-1]
    else:
        target, owner = doc, ()
    if not isinstance(target, dict):
        return doc, False, "add: no mapping"
    target["zz_unknown_key"] = 1
    # a planner block of a measurement record is schema'd; the record around it is not
    refuse = kind in SCHEMAD or (kind == "measurements" and "planner" in owner and owner[-1] != "metrics")
    return doc, refuse, f"add key under {'.'.join(map(str, owner)) or 'top'}"


def mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    """A textual mutation: truncate, splice bytes, nest deeply, or replace."""
    op = rng.choice(["truncate", "splice", "nest", "garbage", "dup"])
    if op == "truncate" and text:
        k = rng.randrange(len(text))
        return text[:k], f"truncate at {k}"
    if op == "splice" and text:
        k = rng.randrange(len(text))
        junk = rng.choice(["\x00", "\ufeff", "\t", "{", "]", ": :", "&a", "*a", "!!python/object:os.system", "'", "\n  - ", "\xff"])
        return text[:k] + junk + text[k:], f"splice {junk!r} at {k}"
    if op == "nest":
        n = rng.choice([65, 500, 10000])
        return rng.choice(["[", "{a: ", '{"a":']) * n + text, f"nest {n}"
    if op == "dup":
        return text + text, "duplicate"
    return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 200))), "garbage"


def _dump(kind: str, doc: Any) -> bytes:
    if kind in ("config", "plan"):
        return json.dumps(doc, allow_nan=True).encode()
    return yaml.safe_dump(doc, allow_unicode=True).encode()


def file_case(rng: random.Random, kind: str | None = None) -> Case:
    kind = kind or rng.choice(FILE_KINDS)
    doc = rng.choice(base_docs()[kind])
    must, note = False, ""
    for _ in range(rng.choice([1, 1, 2])):
        doc, refuse, what = mutate_doc(rng, kind, doc) if isinstance(doc, (dict, list)) else (doc, False, "")
        must, note = must or refuse, f"{note}; {what}".strip("; ")
        if refuse:  # a later mutation could delete the refused value
            break
    raw = _dump(kind, doc)
    if rng.random() < 0.25:
        text, what = mutate_text(rng, raw.decode("utf-8", "replace"))
        raw, must, note = text.encode("utf-8", "surrogatepass"), False, f"{note}; {what}"
    name = {"config": "config.json", "plan": "plan.json"}.get(kind, f"{kind}.yaml")
    files = {name: raw}
    if kind == "workload":
        args = rng.choice([["evaluate", "-w", name, "-t", "hgx-h100"], ["plan", "-w", name, "-t", "hgx-h100", "--time-limit", "1"]])
    elif kind == "topology":
        args = rng.choice([["evaluate", "-w", "llama-3.1-8b", "-t", name], ["explain", "-w", "llama-3.1-8b", "-t", name]])
    elif kind == "config":
        args = ["evaluate", "-w", name, "-t", "gb200-nvl72", "--tp", "8"]
    elif kind in ("inventory", "demands"):
        other = "demands" if kind == "inventory" else "inventory"
        files[f"{other}.yaml"] = _dump(other, base_docs()[other][0])
        args = ["fleet", "--inventory", "inventory.yaml", "--demands", "demands.yaml", "--time-limit", "2"]
    elif kind == "plan":
        args = ["export", name, "--engine", rng.choice(["vllm", "sglang", "trtllm"])]
    else:
        args = ["validate", "--measurements", name]
    return Case(f"file:{kind}", args, files, must, note)


def flag_case(rng: random.Random, command: str | None = None) -> Case:
    command = command or rng.choice(list(FLAGS))
    args = list(BASE[command])
    files: dict[str, bytes] = {}
    if command in ("export", "fleet", "validate"):
        docs = base_docs()
        files = {"plan.json": _dump("plan", docs["plan"][0]), "inventory.yaml": _dump("inventory", docs["inventory"][0]),
                 "demands.yaml": _dump("demands", docs["demands"][0]), "measurements.yaml": _dump("measurements", docs["measurements"][0])}
        args = [a.format(plan="plan.json", inventory="inventory.yaml", demands="demands.yaml", measurements="measurements.yaml") for a in args]
    must, notes = False, []
    table = FLAGS[command]
    for _ in range(rng.choice([1, 1, 2, 3])):
        roll = rng.random()
        if roll < 0.08 or not table:
            flag = rng.choice(["--bogus", "-z", "--json=3", "--isl=", "---", "--gpus-per-hots"])
            args.append(flag)
            must, notes = True, notes + [flag]
            continue
        unused = [f for f in table if f not in args and not any(a.startswith(f + "=") for a in args)]
        if not unused:  # a repeated flag: the last one counts, as in every CLI
            break
        flag = rng.choice(unused)
        bad, good = table[flag]
        if roll < 0.8:
            value = rng.choice(bad)
            must = True
        else:
            value = rng.choice(good)
        args += [flag, value] if rng.random() < 0.85 else [f"{flag}={value}"]
        notes.append(f"{flag} {value!r}")
    if rng.random() < 0.05:  # a missing value at the end
        args.append(rng.choice(list(table) or ["--measurements"]))
        must = True
    return Case(f"flags:{command}", args, files, must, ", ".join(notes))


def make_case(rng: random.Random) -> Case:
    return flag_case(rng) if rng.random() < 0.45 else file_case(rng)


# --------------------------------------------------------------------------- running and judging


class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang()


def run_case(case: Case, folder: Path, timeout_s: float = 60.0) -> tuple[str, str]:
    """Run one case in-process (typer's CliRunner) in ``folder``; its outcome and
    a one-line detail."""
    import os

    from typer.testing import CliRunner

    from planner.cli.main import app

    for name, raw in case.files.items():
        (folder / name).write_bytes(raw)
    cwd = os.getcwd()
    os.chdir(folder)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        result = CliRunner().invoke(app, case.args, catch_exceptions=True)
    except _Hang:
        return "hang", f"no answer in {timeout_s:g} s"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
    if isinstance(result.exception, _Hang):
        return "hang", f"no answer in {timeout_s:g} s"
    return judge(case, result.exit_code, result.stdout, result.stderr, result.exception)


def judge(case: Case, code: int, out: str, err: str, exc: BaseException | None) -> tuple[str, str]:
    if exc is not None and not isinstance(exc, SystemExit):
        return "crash", f"{type(exc).__name__}: {str(exc)[:200]}"
    if code not in (0, 2, 3, 4):
        return "crash", f"exit {code}: {err.strip()[-200:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 0:
        if case.must_refuse:
            return "silent", "exit 0"
        if "Traceback" in err:
            return "crash", "traceback on exit 0"
        return "ok", "exit 0"
    if len(lines) != 1 or not lines[0].startswith("error: ") or (code == 2 and out.strip()):
        return "multiline", f"exit {code}: {len(lines)} stderr lines, {len(out.splitlines())} stdout lines: {err.strip()[:200]!r}"
    return "ok", lines[0][:200]
