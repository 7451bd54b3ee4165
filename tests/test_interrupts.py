"""Ctrl-C, SIGTERM, kill -9 and a full disk: a command ends with one line and
exit 130 (143), never a traceback or a core dump, and an output file is either
the previous one or the new one, whole. A handful of signals here; 30 per
command in benchmarks/interrupts.py."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from planner.inputs import safeio
from planner.inputs.errors import InputError

from interruptkit import COMMANDS, PLANNER, ROOT, wait_ready  # noqa: E402  (tests/ is on sys.path under pytest)


def interrupt(command: str, delay_s: float, out: Path, sig: int = signal.SIGINT) -> tuple[int, list[str], bool]:
    """Start ``command`` writing ``out``, send ``sig`` ``delay_s`` after its
    handlers are installed (see wait_ready); returns
    the exit code, stderr lines, and whether the process was still running when
    the signal was sent."""
    p = subprocess.Popen([*PLANNER, *COMMANDS[command], "--out", str(out)], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_ready(p.pid)
    time.sleep(delay_s)
    alive = p.poll() is None
    p.send_signal(sig)
    _, err = p.communicate(timeout=300)
    return p.returncode, err.decode(errors="replace").splitlines(), alive


def check_outcome(code: int, lines: list[str], alive: bool, out: Path, expected: int) -> None:
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not leftovers, f"temporary files left: {leftovers}"
    if out.exists():  # whole, or not there at all
        assert json.loads(out.read_text())
    if code == 0:  # the command had finished its work when the signal came
        assert out.exists() and not any("Traceback" in line for line in lines)
        return
    assert alive and code == expected, (code, lines)
    assert len(lines) == 1 and lines[0].startswith("error: interrupted by"), lines


@pytest.mark.parametrize("command,seed", [("plan", 1), ("plan", 2), ("plan", 3), ("fleet", 4), ("fleet", 5)])
def test_sigint_at_a_random_time_ends_with_130_and_one_line(command, seed, tmp_path):
    delay = random.Random(seed).uniform(0.0, 1.5)
    code, lines, alive = interrupt(command, delay, tmp_path / "plan.json")
    check_outcome(code, lines, alive, tmp_path / "plan.json", 130)


def test_sigterm_ends_with_143_and_one_line(tmp_path):
    code, lines, alive = interrupt("plan", 0.8, tmp_path / "plan.json", signal.SIGTERM)
    check_outcome(code, lines, alive, tmp_path / "plan.json", 143)


def test_an_interrupted_run_leaves_the_previous_file(tmp_path):
    out = tmp_path / "plan.json"
    out.write_text('{"previous": true}\n')
    code, lines, alive = interrupt("plan", 0.3, out)
    doc = json.loads(out.read_text())  # old or new, whole
    assert doc == {"previous": True} or doc.get("replicas"), doc
    assert code in (0, 130)


# --------------------------------------------------------------------------- atomic writes

WRITER = """
import sys
from planner.inputs.safeio import atomic_write
path, n = sys.argv[1], int(sys.argv[2])
k = 0
while True:
    atomic_write(path, ("A" if k % 2 else "B") * n)
    k += 1
"""


def test_kill_9_during_writes_leaves_the_old_or_the_new_file_whole(tmp_path):
    out, size = tmp_path / "plan.json", 2_000_000
    rng = random.Random(7)
    for _ in range(4):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(size)])
        time.sleep(rng.uniform(0.3, 1.0))
        p.kill()
        p.wait()
        text = out.read_text()
        assert text in ("A" * size, "B" * size), f"{len(text)} bytes, mixed: {set(text)}"


def test_a_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "plan.json"
    out.write_text("previous\n")

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safeio.os, "write", full)
    with pytest.raises(InputError) as err:
        safeio.atomic_write(out, "new plan\n", "--out")
    assert "--out" in str(err.value) and "No space left" in str(err.value)
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    out = tmp_path / "plan.json"
    docs = [json.dumps({"writer": k, "pad": "x" * 200_000}) for k in range(4)]
    threads = [threading.Thread(target=lambda d=d: [safeio.atomic_write(out, d) for _ in range(5)]) for d in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out.read_text() in docs


def test_a_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    out = tmp_path / "plan.json"
    out.write_text("{}")
    out.chmod(0o640)
    safeio.atomic_write(out, "{}\n")
    assert (out.stat().st_mode & 0o777) == 0o640
