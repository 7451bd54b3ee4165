"""Shell safety of ``planner export``, checked by a real shell.

Users pipe the export to ``bash``. Names inside a plan (workload, topology,
from a YAML ``name:`` or a Hub config's ``_name_or_path``) and the ``--model``
value are attacker-controlled. The property: for random names holding newlines,
``$``, braces, backquotes, quotes, semicolons and globs, running the export in
bash (PATH emptied, every engine program replaced by a function that records
its argv) runs exactly the intended commands with exactly the intended
arguments, and nothing else: no unknown command is attempted and no file other
than the intended option files appears. The same text also round-trips through
``shlex.split``.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import api
from planner.api import Query
from planner.cli.commands.export import render_text
from planner.inputs.errors import InputError
from planner.plan.export import ENGINES, engine_table, launch_commands

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

HOSTS = {f"HOST_{h}": f"10.0.0.{h + 1}" for h in range(16)}
MODEL_VALUE = "/models/the-checkpoint"

# characters that mean something to a shell, plus ordinary text
NASTY = st.lists(
    st.sampled_from(list("\n\r\t $`'\"\\{}(),;|&<>*?[]!#~=-_.:/%^@aZ09") + ["${IFS}", "$(touch X)", "`id`", "\u2028", "\x00", "\x1b[2J", "${HOST_0}", "$MODEL"]),
    max_size=20,
).map("".join)


def _shift(rep: dict, off: int, role: str, rid: int) -> dict:
    r = copy.deepcopy(rep)
    m = lambda ids: [g + off for g in ids]  # noqa: E731
    r.update(id=rid, role=role, gpu_ids=m(r["gpu_ids"]))
    for stage in r["stages"]:
        for k in ("gpu_ids", "ep_group"):
            stage[k] = m(stage[k])
        for k in ("tp_groups", "expert_tp_groups"):
            stage[k] = [m(g) for g in stage[k]]
    return r


@pytest.fixture(scope="module")
def plans() -> dict[str, dict]:
    """One plan per export shape: one node, several nodes (${HOST_n} placeholders),
    an options file (TensorRT-LLM), and pools with a router (here-document with
    placeholders)."""
    ev = lambda w, t, q=Query(), **kw: api.evaluate(w, t, q, **kw).to_dict()  # noqa: E731
    ep8 = ev("deepseek-v3", "gb200-nvl72", tp=1, dp_attn=8, ep=8)
    pools = copy.deepcopy(ep8)
    pre = pools["replicas"][0]
    pools["replicas"] = [_shift(pre, 0, "prefill", 0), _shift(pre, 8, "decode", 1)]
    pools["pools"] = {"prefill": {"replicas": 1}, "decode": {"replicas": 1}}
    return {
        "one-node": ev("llama-3.1-8b", "hgx-h100", tp=2),
        "two-nodes": ev("llama-3.1-70b", "hgx-h100", Query(domains=2), tp=8, pp=2),
        "ep8": ep8,
        "pools": pools,
    }


def _programs() -> set[str]:
    names = set()
    for spec in engine_table().values():
        if isinstance(spec, dict):
            for key in ("program", "router", "launcher", "launch_wrapper"):
                if isinstance(spec.get(key), list):
                    names.add(spec[key][0])
    return names


def _intended(cmd, model: str) -> list[list[str]]:
    """What the shell should run: the command's words, placeholders expanded."""
    def expand(word: str) -> str:
        if word in cmd.literal:
            return word
        word = re.sub(r"\$MODEL(?![A-Za-z0-9_])", MODEL_VALUE, word)
        for k, v in HOSTS.items():
            word = word.replace("${%s}" % k, v)
        return word

    runs = [["cat"] for _ in cmd.files]
    runs.append([expand(w) for w in (*cmd.launcher, *cmd.program, *cmd.args)])
    return runs


def _run_in_bash(text: str, tmp: Path) -> tuple[list[list[str]], list[str], set[str]]:
    """Run ``text`` in bash with no PATH; every program is a recording function.
    Returns the argv of each run, the commands that were not found, and the files
    created."""
    log = tmp / "argv.log"
    funcs = "\n".join(
        f"{name}() {{ printf '%s\\0' {shlex.quote(name)} \"$@\" >> {shlex.quote(str(log))}; printf '\\n' >> {shlex.quote(str(log))}; }}"
        for name in sorted(_programs() | {"cat"})
    )
    # cat must still write its here-document to the file: record, then copy stdin
    funcs += f"\ncat() {{ printf '%s\\0' cat >> {shlex.quote(str(log))}; printf '\\n' >> {shlex.quote(str(log))}; while IFS= read -r line || [ -n \"$line\" ]; do printf '%s\\n' \"$line\"; done; }}"
    prelude = "\n".join([
        "command_not_found_handle() { printf '%s\\n' \"$1\" >> " + shlex.quote(str(tmp / "unknown.log")) + "; return 127; }",
        funcs,
    ])
    env = {"PATH": "", "MODEL": MODEL_VALUE, "HOME": str(tmp), **HOSTS}
    work = tmp / "work"
    work.mkdir(parents=True)
    subprocess.run([BASH, "--noprofile", "--norc", "-c", prelude + "\n" + text], cwd=work, env=env, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    if log.exists():
        for record in log.read_bytes().split(b"\0\n"):
            if record:
                runs.append([a.decode() for a in record.split(b"\0")])
    unknown = (tmp / "unknown.log").read_text().split() if (tmp / "unknown.log").exists() else []
    files = {p.name for p in work.iterdir()}
    return runs, unknown, files


def _with_names(plan: dict, workload: str, topology: str) -> dict:
    p = copy.deepcopy(plan)
    p["inputs"]["workload"]["name"] = workload
    p["inputs"]["topology"]["name"] = topology
    return p


SHELL = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("engine", ENGINES)
@SHELL
@given(workload=NASTY, topology=NASTY, model=st.one_of(st.just("$MODEL"), NASTY), shape=st.sampled_from(["one-node", "two-nodes", "ep8", "pools"]))
def test_export_runs_exactly_the_intended_commands(plans, engine, workload, topology, model, shape, tmp_path_factory):
    plan = _with_names(plans[shape], workload, topology)
    try:
        commands = launch_commands(plan, engine, model=model, gpus_per_host_override=8)
    except InputError as exc:  # a model the export refuses, or a layout the engine cannot express
        assert "\n" not in str(exc)
        return
    text = render_text(plan, engine, commands, 8)
    tmp = tmp_path_factory.mktemp("sh")
    runs, unknown, files = _run_in_bash(text, tmp)
    expected = [run for c in commands for run in _intended(c, model)]
    assert unknown == [], f"the export tried to run {unknown!r}"
    assert runs == expected
    assert files == {name for c in commands for name, _ in c.files}
    # every command line is a comment or parses back to the command's words
    for c in commands:
        words = shlex.split(c.shell().splitlines()[-1])
        env = [f"{k}={v}" for k, v in c.env]
        assert words == env + [*c.launcher, *c.program, *c.args]


def test_a_newline_in_a_name_stays_inside_its_comment(plans):
    """The reproducer: a workload named 'x\\ntouch INJECTED #'."""
    plan = _with_names(plans["one-node"], "x\ntouch INJECTED #", "t\r\nrm -rf ~ #")
    for engine in ENGINES:
        text = render_text(plan, engine, launch_commands(plan, engine, gpus_per_host_override=8), 8)
        assert not any(line.startswith(("touch", "rm")) for line in text.splitlines())
        assert all(line.startswith("#") or not line.strip() or "INJECTED" not in line for line in text.splitlines())


@pytest.mark.parametrize("model", ["{m,--trust-remote-code}", "${IFS}--trust-remote-code", "$(touch X)", "a b*", "`id`"])
def test_a_model_cannot_smuggle_engine_arguments(plans, model, tmp_path):
    """The reproducers: braces and $ in --model used to be left unquoted."""
    plan = plans["one-node"]
    for engine in ENGINES:
        commands = launch_commands(plan, engine, model=model, gpus_per_host_override=8)
        words = shlex.split(commands[0].shell().splitlines()[-1])
        assert model in words and "--trust-remote-code" not in words
        runs, unknown, _ = _run_in_bash(render_text(plan, engine, commands, 8), tmp_path / engine)
        assert unknown == [] and any(model in run for run in runs)
        assert "--trust-remote-code" not in [a for run in runs for a in run]


@pytest.mark.parametrize("model", ["--trust-remote-code", "-x", "a\nb", "a\x1bb", "  "])
def test_a_model_that_is_an_option_or_holds_control_characters_is_refused(plans, model):
    with pytest.raises(InputError) as err:
        launch_commands(plans["one-node"], "vllm", model=model, gpus_per_host_override=8)
    assert "--model" in str(err.value) and "\n" not in str(err.value)


def test_a_hub_config_name_with_a_newline_is_harmless(tmp_path):
    """A config.json downloaded from the Hub names the workload (_name_or_path)."""
    cfg = json.loads((Path(__file__).parent / "data" / "hf" / "llama-3.1-70b" / "config.json").read_text())
    cfg["_name_or_path"] = "x\ntouch INJECTED #"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    plan = api.evaluate(str(path), "hgx-h100", Query(), tp=8).to_dict()
    for engine in ENGINES:
        text = render_text(plan, engine, launch_commands(plan, engine, gpus_per_host_override=8), 8)
        runs, unknown, files = _run_in_bash(text, tmp_path / engine)
        assert unknown == [] and "INJECTED" not in files
