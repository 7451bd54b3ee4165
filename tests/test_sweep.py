"""planner sweep: study validation, the safe filter, rows against planner plan,
resume after SIGKILL, and the results folder's bookkeeping."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from planner.inputs.errors import InputError
from planner.analysis.sweep import load_study, run_study
from planner.analysis.sweep import safe_expr
from planner.analysis.sweep.columns import NAMES
from planner.analysis.sweep.store import Store, parts_dir

PLANNER = [str(Path(sys.executable).parent / "planner")]  # the installed command, as a user runs it


def write_study(tmp_path: Path, body: dict, name: str = "study.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(body, sort_keys=False))
    return p


SMALL = {
    "name": "small",
    "axes": {
        "workloads": ["llama-3.1-8b"],
        "topologies": [{"name": "hgx-h100", "domains": [1]}],
        "slo": [{"tpot_ms": 20}, {"tpot_ms": 50}],
        "modes": ["agg"],
    },
}


# --------------------------------------------------------------------------- bad study files fail first, in one line


@pytest.mark.parametrize(
    "axes, needle",
    [
        ({"workloads": ["llama-3.1-8b"], "topologies": ["hgx-h100"], "colours": [1]}, "unknown field 'axes.colours'"),
        ({"workloads": [], "topologies": ["hgx-h100"]}, "'axes.workloads' is empty"),
        ({"workloads": ["llama-3.1-8b"], "topologies": ["hgx-h100"], "slo": []}, "'axes.slo' is empty"),
        ({"workloads": ["llama-3.1-8b"], "topologies": ["hgx-h999"]}, "axes.topologies[0]"),
        ({"workloads": ["llama-9b"], "topologies": ["hgx-h100"]}, "axes.workloads[0]"),
        ({"workloads": ["llama-3.1-8b"], "topologies": [{"name": "gb200-nvl72", "domains": [100000]}]}, "domains"),
        ({"workloads": ["llama-3.1-8b"], "topologies": ["hgx-h100"], "prices": [2], "price_multipliers": [1]}, "not both"),
        ({"workloads": ["llama-3.1-8b"], "topologies": ["hgx-h100"], "modes": ["fast"]}, "axes.modes[0]"),
    ],
)
def test_bad_study_fails_before_any_work_in_one_line(tmp_path, axes, needle):
    study = write_study(tmp_path, {"axes": axes})
    out = tmp_path / "r.parquet"
    res = subprocess.run([*PLANNER, "sweep", str(study), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {study}"), res.stderr
    assert needle in lines[0]
    assert not out.exists() and not parts_dir(out).exists()  # nothing started


def test_filter_that_removes_everything_is_an_empty_study(tmp_path):
    study = write_study(tmp_path, {**SMALL, "filter": "tpot_slo_ms > 1000"})
    with pytest.raises(InputError, match="no scenarios .*filter removed all 2"):
        load_study(study)


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('true')", "workload.upper() == 'X'", "isl[0] == 1", "(lambda: True)()",
     "[x for x in (1, 2)] == [1]", "open('/etc/passwd')", "islx > 3"],
)
def test_filter_rejects_anything_but_fields_constants_and_operators(text):
    with pytest.raises(safe_expr.ExprError):
        safe_expr.parse(text, ["isl", "workload"])


@pytest.mark.parametrize(
    "text",
    ["isl > 1000 and not osl < 100", "isl * 2 >= osl + 10 or workload in ('a', 'b')", "1 < isl <= 4096",
     "workload != 'x' and (isl / osl > 3 or osl == 256)", "-isl < -100"],
)
@pytest.mark.parametrize("env", [{"isl": 1024, "osl": 256, "workload": "a"}, {"isl": 8192, "osl": 1024, "workload": "x"}])
def test_filter_agrees_with_python_on_the_allowed_language(text, env):
    # oracle: Python's own evaluation of these fixed, harmless strings
    assert safe_expr.parse(text, env)(env) == eval(text, {}, dict(env))  # noqa: S307


def test_filter_comparing_none_names_the_scenario(tmp_path):
    study = write_study(tmp_path, {**SMALL, "filter": "demand_tps > 1000"})
    with pytest.raises(InputError, match="filter.*cannot compare None"):
        load_study(study)


# --------------------------------------------------------------------------- expansion


def test_product_filter_and_extras(tmp_path):
    body = {
        "axes": {
            "workloads": ["llama-3.1-8b", "llama-3.1-70b"],
            "topologies": [{"name": "hgx-h100", "domains": [1, 2]}, "hgx-h200"],
            "traffic": [{"isl": 1024, "osl": 256}, {"isl": 8192, "osl": 1024}],
            "price_multipliers": [1.0, 0.5],
            "demand_tps": [None, 1000],
            "modes": ["agg"],
        },
        "filter": "gpus_total > 8 or workload == 'llama-3.1-8b'",
        "extra_points": [
            {"workload": "llama-3.1-8b", "topology": "hgx-b200", "mode": "agg"},
            {"workload": "llama-3.1-8b", "topology": "hgx-h100", "domains": 2, "isl": 1024, "osl": 256, "price_multiplier": 0.5, "mode": "agg"},
        ],
    }
    s = load_study(write_study(tmp_path, body))
    assert s.product_size == 2 * 3 * 2 * 2 * 2
    # the filter drops the 70B on single nodes (hgx-h100 x1 and hgx-h200's one node): 2 * 2 * 2 * 2
    assert s.filtered_out == 16
    assert s.extra_duplicates == 1  # the second extra point is already in the product
    assert len(s.scenarios) == 48 - 16 + 1
    assert len({sc.scenario_id for sc in s.scenarios}) == len(s.scenarios)
    assert [sc.index for sc in s.scenarios] == list(range(len(s.scenarios)))
    half = [sc for sc in s.scenarios if sc.inputs["price_multiplier"] == 0.5 and sc.inputs["topology"] == "hgx-h100"]
    full = [sc for sc in s.scenarios if sc.inputs["price_multiplier"] == 1.0 and sc.inputs["topology"] == "hgx-h100"]
    assert {sc.inputs["price_usd_per_gpu_hour"] for sc in half} == {sc.inputs["price_usd_per_gpu_hour"] / 2 for sc in full}
    # same file, same ids (what resuming relies on)
    again = load_study(write_study(tmp_path, body, "copy.yaml"))
    assert [sc.scenario_id for sc in again.scenarios] == [sc.scenario_id for sc in s.scenarios]


# --------------------------------------------------------------------------- rows


def test_rows_match_planner_plan_and_prices_scale_cost(tmp_path):
    """Each row is what planner plan answers for the same inputs (the API by name,
    no caches); doubling the price doubles $/hour and leaves the layout alone."""
    from planner import api

    body = {
        "axes": {
            "workloads": ["llama-3.1-8b", "llama-3.1-70b"],
            "topologies": [{"name": "hgx-h100", "domains": [2]}],
            "slo": [{"tpot_ms": 10}, {"tpot_ms": 50}],
            "price_multipliers": [1.0, 2.0],
            "demand_tps": [None, 3000],
            "modes": ["agg"],
        }
    }
    s = load_study(write_study(tmp_path, body))
    out = tmp_path / "r.parquet"
    summary = run_study(s, out, workers=1)
    rows = pq.read_table(out).to_pylist()
    assert summary.rows_written == len(rows) == len(s.scenarios) == 16
    assert list(rows[0]) == list(NAMES)
    statuses = {r["status"] for r in rows}
    assert "infeasible" in statuses and "optimal" in statuses
    for r in rows:
        q = api.Query(tpot_ms=r["tpot_slo_ms"], domains=2, price_per_gpu_hour=r["price_usd_per_gpu_hour"])
        try:
            p = api.plan(r["workload"], "hgx-h100", q, demand_tps=r["demand_tps"], mode="agg")
        except Exception as exc:  # noqa: BLE001
            assert r["status"] == "infeasible" and r["reason"] == str(exc)
            continue
        assert (r["status"], r["gpus_used"], r["usd_per_mtok_all_in"], r["tpot_ms"]) == (
            p.status, p.metrics["gpus_used"], p.metrics["usd_per_mtok_all_in"], p.metrics["tpot_ms"])
    by_key = {(r["workload"], r["tpot_slo_ms"], r["demand_tps"], r["price_multiplier"]): r for r in rows}
    for (w, slo, d, m), r in by_key.items():
        if m == 2.0 and r["status"] == "optimal":
            base = by_key[(w, slo, d, 1.0)]
            assert r["layouts"] == base["layouts"]
            assert r["usd_per_hour"] == pytest.approx(2 * base["usd_per_hour"], rel=1e-3)


def test_a_scenario_that_raises_is_a_row_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from planner.analysis.sweep import worker

    real = worker._workload
    calls = {"n": 0}

    def flaky(ref):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ZeroDivisionError("boom")
        return real(ref)

    monkeypatch.setattr(worker, "_workload", flaky)
    s = load_study(write_study(tmp_path, SMALL))
    summary = run_study(s, tmp_path / "r.parquet", workers=1)
    rows = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [r["status"] for r in rows][0] == "error" and rows[0]["reason"] == "ZeroDivisionError: boom"
    assert rows[1]["status"] in ("optimal", "feasible")
    assert summary.totals["error"] == 1


def test_a_scenario_the_time_limit_ends_without_a_plan_is_a_time_limit_row_not_an_error(tmp_path, monkeypatch):
    """The time limit ending the search is an outcome of the scenario (exit 4 for
    `planner plan`), not a failure of the input: it is counted apart from errors."""
    from planner import api
    from planner.inputs.errors import TimeLimitError

    real = api.plan

    def slow(w, topo, q, **kw):
        if q.tpot_ms == 20:
            raise TimeLimitError("time limit: no plan found within 1 s")
        return real(w, topo, q, **kw)

    monkeypatch.setattr(api, "plan", slow)
    s = load_study(write_study(tmp_path, SMALL))
    summary = run_study(s, tmp_path / "r.parquet", workers=1)
    by_slo = {r["tpot_slo_ms"]: r for r in pq.read_table(tmp_path / "r.parquet").to_pylist()}
    assert by_slo[20]["status"] == "time-limit" and by_slo[20]["reason"].startswith("time limit:")
    assert by_slo[50]["status"] in ("optimal", "feasible")
    assert summary.totals["time-limit"] == 1 and summary.totals["error"] == 0


# --------------------------------------------------------------------------- resumable, lossless


def test_orphan_part_is_adopted_not_rerun(tmp_path):
    """A part written just before a kill, whose index entry never made it, counts as done."""
    s = load_study(write_study(tmp_path, SMALL))
    out = tmp_path / "r.parquet"
    run_study(s, out, workers=1, flush_rows=1)
    index = parts_dir(out) / "index.json"
    data = json.loads(index.read_text())
    assert len(data["parts"]) == 2
    dropped = sorted(data["parts"])[-1]
    del data["parts"][dropped]
    index.write_text(json.dumps(data))
    store = Store(out, s.fingerprint, s.name)
    assert set(store.done) == {sc.scenario_id for sc in s.scenarios}


def test_results_of_another_study_are_not_mixed_in(tmp_path):
    out = tmp_path / "r.parquet"
    run_study(load_study(write_study(tmp_path, SMALL)), out, workers=1)
    other = {**SMALL, "axes": {**SMALL["axes"], "slo": [{"tpot_ms": 30}]}}
    with pytest.raises(InputError, match="different study"):
        run_study(load_study(write_study(tmp_path, other, "other.yaml")), out, workers=1)
    summary = run_study(load_study(write_study(tmp_path, other, "other.yaml")), out, workers=1, restart=True)
    assert summary.rows_written == 1


KILL_STUDY = {
    "name": "kill",
    "axes": {
        "workloads": ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b"],
        "topologies": [{"name": "hgx-h100", "domains": [1, 2]}, {"name": "hgx-h200", "domains": [1, 2]}],
        "slo": [{"tpot_ms": 20}, {"tpot_ms": 50}],
        "demand_tps": [None, 2000, 8000],
        "modes": ["agg"],
    },
}


def _done_in_index(out: Path) -> int:
    try:
        return sum(len(v) for v in json.loads((parts_dir(out) / "index.json").read_text())["parts"].values())
    except (OSError, ValueError, KeyError):
        return 0


def test_sigkill_mid_sweep_then_rerun_gives_every_scenario_exactly_once(tmp_path):
    study = write_study(tmp_path, KILL_STUDY)
    n = len(load_study(study).scenarios)
    assert n == 72
    out = tmp_path / "r.parquet"
    cmd = [*PLANNER, "sweep", str(study), "--out", str(out), "--workers", "2", "--flush-every", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _done_in_index(out) < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its pool workers, at once
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    kept = _done_in_index(out)
    assert 4 <= kept < n and not out.exists()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    ran, skipped = map(int, re.search(r"ran (\d+), (\d+) already done", res.stdout).groups())
    assert skipped >= kept and ran + skipped == n  # nothing finished before the kill ran again
    ids = pq.read_table(out, columns=["scenario_id"]).column("scenario_id").to_pylist()
    assert sorted(ids) == sorted(sc.scenario_id for sc in load_study(study).scenarios)
    assert len(set(ids)) == len(ids) == n


def test_example_study_validates_against_the_published_schema():
    """The JSON Schema editors use (docs/schema/study.schema.json) accepts the shipped
    example and rejects an unknown axis, as pydantic does."""
    import jsonschema

    from planner.cli import schema_export

    root = Path(__file__).resolve().parent.parent
    schema = json.loads(schema_export.path_for("study").read_text())
    example = yaml.safe_load((root / "examples" / "sweep-study.yaml").read_text())
    jsonschema.validate(example, schema)
    load_study(root / "examples" / "sweep-study.yaml")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "axes": {**example["axes"], "colours": [1]}}, schema)


def test_every_property_of_the_study_schema_has_a_description():
    from planner.cli import schema_export

    s = schema_export.schema("study")
    missing = [f"{where}.{n}" for where, model in [("<root>", s), *s.get("$defs", {}).items()]
               for n, body in model.get("properties", {}).items() if not str(body.get("description", "")).strip()]
    assert not missing


def test_two_sweeps_cannot_share_a_results_folder(tmp_path):
    s = load_study(write_study(tmp_path, SMALL))
    out = tmp_path / "r.parquet"
    first = Store(out, s.fingerprint, s.name)
    with pytest.raises(InputError, match="another planner sweep"):
        Store(out, s.fingerprint, s.name)
    del first


def test_docs_list_every_result_column_with_its_type():
    from planner.analysis.sweep.columns import COLUMNS

    text = (Path(__file__).resolve().parent.parent / "docs" / "sweep.md").read_text()
    for name, kind, _ in COLUMNS:
        assert f"| `{name}` | {kind} |" in text, name


def crash_on_second(chunk):
    """A stand-in for a scenario that kills its worker process (a crash, the OOM killer)."""
    from planner.analysis.sweep.worker import run_chunk

    if any(p["index"] == 1 for p in chunk):
        os._exit(9)
    return run_chunk(chunk)


def test_a_scenario_that_kills_its_worker_is_an_error_row_and_the_rest_complete(tmp_path):
    from planner.analysis.sweep.run import pool_rows
    from planner.analysis.sweep.worker import payload

    body = {**SMALL, "axes": {**SMALL["axes"], "slo": [{"tpot_ms": t} for t in (20, 30, 50, 80)]}}
    s = load_study(write_study(tmp_path, body))
    rows = list(pool_rows([payload(sc) for sc in s.scenarios], 2, fn=crash_on_second))
    assert sorted(r["scenario_index"] for r in rows) == [0, 1, 2, 3]
    by_index = {r["scenario_index"]: r for r in rows}
    assert by_index[1]["status"] == "error" and "worker process died" in by_index[1]["reason"]
    for k in (0, 2, 3):  # planned by a worker, not written off with the one that died
        assert by_index[k]["elapsed_s"] > 0 and "worker process died" not in (by_index[k]["reason"] or "")


@pytest.mark.parametrize(
    "flags, needle",
    [(["--workers", "0"], "--workers must be between"), (["--ray", "10.0.0.1:6379", "--workers", "4"], "uses its own CPUs"),
     (["--out-is-dir"], "is a directory"), (["--ray", "127.0.0.1:1"], "no Ray head answers"),
     (["--ray", "nonsense"], "expected 'auto', HOST:PORT")],
)
def test_flags_that_cannot_work_fail_before_any_work(tmp_path, flags, needle):
    study = write_study(tmp_path, SMALL)
    out = tmp_path / "r.parquet"
    if flags == ["--out-is-dir"]:
        out.mkdir()
        flags = []
    res = subprocess.run([*PLANNER, "sweep", str(study), "--out", str(out), *flags], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr, res.stderr
    assert not parts_dir(out).exists()
