"""The docs run: every fenced shell and Python block in README.md and docs/*.md
is executed, in order, one temporary working directory per page, and the test
fails when a block breaks.

What runs
* ``bash``/``sh``/``shell`` blocks: every command (``\\`` continuations joined,
  ``&&`` chains split, ``# comments`` dropped). ``planner ...`` runs in-process
  through typer's CliRunner; ``python -m planner...`` and other ``python``
  commands run as a subprocess with a time limit.
* ``console`` blocks: the ``$ `` lines, as above; the rest is sample output.
* ``python`` blocks: executed in one namespace per page.
* ``yaml``, ``json``, ``text`` blocks are data or sample output and are not run;
  a fence without a language is an error (say what it is).

The page's working directory holds ``examples/`` and small inputs the docs
name: ``path/to/config.json`` and ``path/to/model-folder/config.json`` (a
Hugging Face config of Llama 3.1 70B), ``my-model.yaml``, and
``small-demands.yaml`` (one demand, for replace markers on fleet examples).

Markers, an HTML comment on the line just above the fence (documented in
docs/cli.md, "Docs that run"):
* ``<!-- docs-test: skip: why -->`` - not run (an install, the network, a
  minutes-long benchmark); the reason is required.
* ``<!-- docs-test: exit 3 -->`` - every command must exit with this code.
* ``<!-- docs-test: replace "A" "B" -->`` - run with A replaced by B (smaller
  inputs, so CI stays fast); several replace markers may stack.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py"}
DATA = {"yaml", "json", "text"}
SUBPROCESS_TIMEOUT_S = 120
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    body: str
    skip: str = ""
    exit_code: int = 0
    replace: list[tuple[str, str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        b = Block(page, line, m.group(1).strip().lower(), m.group(2))
        before = text[: m.start()].rstrip("\n").splitlines()
        k = len(before) - 1
        while k >= 0 and MARK.search(before[k]):  # the markers stacked just above the fence
            _directive(b, MARK.search(before[k]).group(1))
            k -= 1
        out.append(b)
    return out


def _directive(b: Block, text: str) -> None:
    if text.startswith("skip"):
        reason = text[4:].lstrip(": ").strip()
        assert reason, f"{b.where}: a docs-test skip marker needs a reason"
        b.skip = reason
    elif text.startswith("exit"):
        b.exit_code = int(text.split()[1])
    elif text.startswith("replace"):
        a, c = shlex.split(text)[1:3]
        b.replace.append((a, c))
    else:
        raise AssertionError(f"{b.where}: unknown docs-test marker {text!r}")


def commands(b: Block) -> list[list[str]]:
    """The commands of a shell block, each as argv."""
    body = b.body
    for a, c in b.replace:
        assert a in body, f"{b.where}: replace marker text {a!r} not in the block"
        body = body.replace(a, c)
    lines = body.replace("\\\n", " ").splitlines()
    if b.lang == "console":
        lines = [ln[2:] for ln in lines if ln.startswith("$ ")]
    out = []
    for ln in lines:
        words = shlex.split(ln, comments=True)
        cmd: list[str] = []
        for w in words + ["&&"]:
            if w == "&&":
                if cmd:
                    out.append(cmd)
                cmd = []
            else:
                cmd.append(w)
    return out


def _workdir(tmp: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp / "examples")
    cfg = ROOT / "tests" / "data" / "hf" / "llama-3.1-70b" / "config.json"
    (tmp / "path" / "to" / "model-folder").mkdir(parents=True)
    shutil.copy(cfg, tmp / "path" / "to" / "config.json")
    shutil.copy(cfg, tmp / "path" / "to" / "model-folder" / "config.json")
    shutil.copy(ROOT / "workloads" / "llama-3.1-8b.yaml", tmp / "my-model.yaml")
    (tmp / "small-demands.yaml").write_text(SMALL_DEMANDS)
    return tmp


# One demand on one group of examples/inventory.yaml: the fleet examples run in ~1 s instead of ~10.
SMALL_DEMANDS = """name: small-demands
demands:
  - name: chat-8b
    workload: llama-3.1-8b
    output_tokens_per_s: 20000
    groups: [h100-nodes]
"""


def _run(cmd: list[str], b: Block, cwd: Path) -> None:
    from planner.cli.main import app

    shown = " ".join(cmd)
    if cmd[0] == "planner":
        r = CliRunner().invoke(app, cmd[1:])
        code, output = r.exit_code, r.output
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise AssertionError(f"{b.where}: `{shown}` raised {r.exception!r}") from r.exception
    elif cmd[0] in ("python", "python3"):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        p = subprocess.run([sys.executable, *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=SUBPROCESS_TIMEOUT_S)
        code, output = p.returncode, p.stdout + p.stderr
    else:
        raise AssertionError(f"{b.where}: `{shown}`: the docs test runs planner and python commands only; "
                             "mark the block <!-- docs-test: skip: why --> if it cannot run")
    assert code == b.exit_code, f"{b.where}: `{shown}` exited {code}, expected {b.exit_code}:\n{output[-2000:]}"


def _page_ids() -> list[str]:
    return [str(p.relative_to(ROOT)) for p in PAGES]


def test_every_fence_says_what_it_holds() -> None:
    unknown = [f"{b.where} ({b.lang or 'no language'})" for p in PAGES for b in blocks(p) if b.lang not in SHELL | PYTHON | DATA]
    assert not unknown, "fenced blocks need a language (bash, console, python, yaml, json, text): " + ", ".join(unknown)


def test_the_runner_finds_the_blocks_it_must() -> None:
    """The parser itself: the README's quick start and API example are found and runnable."""
    readme = blocks(ROOT / "README.md")
    assert any(b.lang == "python" and not b.skip for b in readme)
    assert any(b.lang == "bash" and not b.skip and any(c[:2] == ["planner", "plan"] for c in commands(b)) for b in readme)


@pytest.mark.parametrize("page", PAGES, ids=_page_ids())
def test_page_runs(page: Path, tmp_path: Path, monkeypatch) -> None:
    cwd = _workdir(tmp_path)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # ids resolve from the package, never the network
    namespace: dict = {"__name__": "__docs__"}
    for b in blocks(page):
        if b.skip or b.lang in DATA:
            continue
        if b.lang in PYTHON:
            code = b.body
            for a, c in b.replace:
                code = code.replace(a, c)
            try:
                exec(compile(code, b.where, "exec"), namespace)
            except Exception as exc:  # the block is broken: say where
                raise AssertionError(f"{b.where}: python block raised {exc!r}") from exc
            continue
        for cmd in commands(b):
            _run(cmd, b, cwd)


# Module docstrings that show how to call the API run too (the first indented
# block that starts with an import from planner).
DOCSTRING_MODULES = ["planner/api.py", "planner/analysis/analysis.py", "planner/analysis/demand.py",
                     "planner/analysis/explain.py", "planner/analysis/fidelity.py"]


def docstring_example(module: str) -> str:
    import ast
    import textwrap

    doc = ast.get_docstring(ast.parse((ROOT / module).read_text()), clean=False) or ""
    lines = doc.splitlines()
    start = next(k for k, ln in enumerate(lines) if ln.startswith("    from planner"))
    end = next((k for k in range(start, len(lines)) if lines[k].strip() and not lines[k].startswith("    ")), len(lines))
    return textwrap.dedent("\n".join(lines[start:end]))


@pytest.mark.parametrize("module", DOCSTRING_MODULES)
def test_module_docstring_example_runs(module: str) -> None:
    code = docstring_example(module)
    exec(compile(code, f"{module} docstring", "exec"), {"__name__": "__docs__"})


def test_readme_api_example_prints_the_plans_objective(capsys) -> None:
    """The README's API example shows the number the plan minimises (all-in $/Mtok),
    not the decode-only output price."""
    from planner import api

    block = next(b for b in blocks(ROOT / "README.md") if b.lang == "python")
    exec(compile(block.body, "README.md", "exec"), {"__name__": "__docs__"})
    shown = capsys.readouterr().out
    p = api.plan("deepseek-v3", "gb200-nvl72", api.Query(tpot_ms=50))
    assert p.solver["objective"] == "cost"
    assert f"${p.solver['objective_value']:.4f}/Mtok all-in" in shown
    assert f"{p.metrics['usd_per_mtok_output']:.4f}" not in shown
