"""Every reproducer of the hostile-input issue as a regression test: each used
to crash, hang, accept nonsense silently, print a multi-line box or blame the
wrong thing. Now each is one ``error:`` line with exit 2 (or a correct answer),
in a bounded time. Shell injection through export: tests/test_export_injection.py;
interrupts and atomic writes: tests/test_interrupts.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli.main import app
from planner.inputs.datafiles import data_dir

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "examples" / "inventory.yaml"
DEMANDS = ROOT / "examples" / "demands.yaml"
runner = CliRunner()


def one_error(args: list[str], code: int = 2) -> str:
    """Run the CLI in-process; the answer must be exactly one 'error:' line."""
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def strict_json(text: str):
    """JSON as RFC 8259 has it: NaN and Infinity are not numbers."""
    def no(name):
        raise AssertionError(f"non-finite number {name} in JSON output")

    return json.loads(text, parse_constant=no)


def shipped(kind: str, name: str) -> dict:
    return yaml.safe_load((data_dir(kind) / f"{name}.yaml").read_text())


# --------------------------------------------------------------------------- 2. integer overflow: ranges


@pytest.mark.parametrize("args,flag", [
    (["plan", "--price-per-gpu-hour", "4e7"], "--price-per-gpu-hour"),
    (["compare", "--mode", "auto", "--price-per-gpu-hour", "6.5e7"], "--price-per-gpu-hour"),
    (["compare", "--price-per-gpu-hour", "1e308"], "--price-per-gpu-hour"),
    (["explain", "--price-per-gpu-hour", "1e308", "--json"], "--price-per-gpu-hour"),
    (["plan", "--gpus", str(2**63)], "--gpus"),
    (["fleet", "--inventory", str(INVENTORY), "--demands", str(DEMANDS), "--workers", str(2**31)], "--workers"),
    (["fleet", "--inventory", str(INVENTORY), "--demands", str(DEMANDS), "--time-limit", "inf"], "--time-limit"),
    (["plan", "--demand-tps", "1e300"], "--demand-tps"),
    (["plan", "--isl", str(10**12)], "--isl"),
])
def test_out_of_range_flags_are_one_line_with_the_range(args, flag):
    line = one_error(args)
    assert flag in line and " up to " in line, line


def test_a_fleet_group_price_beyond_range_names_the_field(tmp_path):
    inv = yaml.safe_load(INVENTORY.read_text())
    inv["groups"][0]["price_usd_per_gpu_hour"] = 2.2e15
    inv["groups"][0]["price_source"] = "test"
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(inv))
    line = one_error(["fleet", "--inventory", str(path), "--demands", str(DEMANDS), "--time-limit", "5"])
    assert "price_usd_per_gpu_hour" in line and "10,000" in line


def test_the_fastest_hardware_in_range_plans_or_refuses_cleanly(tmp_path):
    """'Very fast hypothetical hardware' used to overflow the solver's integers.
    At the top of every hardware range the planner still answers: a plan, or a
    one-line error."""
    topo = shipped("topologies", "hgx-h100")
    acc = yaml.safe_load((data_dir("hardware") / "accelerators" / "h100-sxm.yaml").read_text())
    acc.update(hbm_gb=1e5, hbm_tb_per_s=1e4, dense_tflops={k: 1e7 for k in acc["dense_tflops"]})
    topo["accelerator"] = acc
    topo["scale_up"]["bw_per_gpu_gb_per_s"] = 1e6
    topo["scale_out"]["nic_gbit_per_s_per_gpu"] = 1e7
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(topo))
    result = runner.invoke(app, ["plan", "-w", "llama-3.1-8b", "-t", str(path), "--json", "--time-limit", "5"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 0:
        assert strict_json(result.output)["replicas"]
    else:
        assert result.exit_code in (2, 3) and len(result.output.strip().splitlines()) == 1, result.output


# --------------------------------------------------------------------------- 6. unbounded work on input


def _deep(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / ("deep.json" if kind == "json" else "deep.yaml")
    path.write_text("[" * 10000)
    return path


@pytest.mark.parametrize("flags", [
    lambda p: ["plan", "--workload", str(p)],
    lambda p: ["plan", "--topology", str(p)],
    lambda p: ["fleet", "--inventory", str(p), "--demands", str(DEMANDS)],
    lambda p: ["fleet", "--inventory", str(INVENTORY), "--demands", str(p)],
    lambda p: ["validate", "--measurements", str(p)],
])
@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_deep_nesting_is_refused_without_recursion_error(flags, kind, tmp_path):
    line = one_error(flags(_deep(kind, tmp_path)))
    assert "nested deeper" in line or "malformed" in line, line


def test_deep_nesting_in_a_plan_for_export(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    assert "nested deeper than" in one_error(["export", str(path), "--engine", "vllm"])


def test_yaml_aliases_are_refused(tmp_path):
    """A billion-laughs document: nine lines that stand for 10^9 strings."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert "aliases" in one_error(["plan", "--workload", str(path)])


def test_a_device_is_refused_not_read():
    assert "not a regular file" in one_error(["export", "/dev/zero", "--engine", "vllm"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    box: dict = {}
    worker = threading.Thread(target=lambda: box.update(line=one_error(["export", str(fifo), "--engine", "vllm"])), daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # unblock the reader before failing
        with open(fifo, "w"):
            pass
        pytest.fail("export blocked on a FIFO")
    assert "not a regular file" in box["line"]


def test_an_oversized_file_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:
        f.truncate(9 * 1024 * 1024)
    assert "byte limit" in one_error(["plan", "--topology", str(path)])


def test_a_hub_config_with_a_billion_layers_is_refused_at_once(tmp_path):
    cfg = json.loads((ROOT / "tests" / "data" / "hf" / "llama-3.1-70b" / "config.json").read_text())
    cfg["num_hidden_layers"] = 10**9
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    line = one_error(["plan", "--workload", str(path)])
    assert "n_layers" in line and "10,000" in line


# --------------------------------------------------------------------------- 7. silent acceptance


@pytest.mark.parametrize("kind,name,path", [
    ("workloads", "llama-3.1-70b", ("model", "n_layers")),
    ("workloads", "llama-3.1-70b", ("traffic", "isl")),
    ("workloads", "llama-3.1-70b", ("slo", "tpot_ms")),
    ("topologies", "hgx-h100", ("gpus_per_host",)),
    ("topologies", "hgx-h100", ("price", "usd_per_gpu_hour")),
    ("topologies", "hgx-h100", ("scale_up", "bw_per_gpu_gb_per_s")),
])
def test_true_is_not_a_number(kind, name, path, tmp_path):
    doc = shipped(kind, name)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = True
    f = tmp_path / "bool.yaml"
    f.write_text(yaml.safe_dump(doc))
    flag = "--workload" if kind == "workloads" else "--topology"
    line = one_error(["plan", flag, str(f)])
    assert ".".join(path) in line and "true/false" in line, line


def test_kv_len_shorter_than_the_prompt_is_refused():
    line = one_error(["plan", "--kv-len", "1"])
    assert "--kv-len" in line and "prompt" in line


def test_a_workload_file_with_kv_len_shorter_than_isl_is_refused(tmp_path):
    doc = shipped("workloads", "llama-3.1-70b")
    doc["traffic"]["kv_len"] = doc["traffic"]["isl"] - 1
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert "shorter than the prompt" in one_error(["plan", "--workload", str(f)])


@pytest.mark.parametrize("value", [0, -5, float("inf"), True])
def test_a_measurement_of_zero_negative_inf_or_bool_is_refused(value, tmp_path):
    data = yaml.safe_load((ROOT / "tests" / "data" / "measurements.yaml").read_text())
    rec = next(r for r in data["records"] if r.get("planner", {}).get("cases"))
    metric = rec["planner"]["cases"][0]["metric"]
    for m in rec["metrics"]:
        if m["name"] == metric:
            m["value"] = value
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(data))
    line = one_error(["validate", "--measurements", str(f)])
    assert "value" in line and "positive" in line, line


# --------------------------------------------------------------------------- 8./9. tracebacks and invalid JSON


def test_a_tiny_demand_gets_a_plan_with_a_replica():
    result = runner.invoke(app, ["plan", "--demand-tps", "0.0009", "--json"])
    assert result.exit_code == 0, result.output
    plan = strict_json(result.output)
    assert plan["replicas"] and all(r["gpu_ids"] for r in plan["replicas"])


def test_objective_demand_without_a_rate_is_a_usage_error():
    line = one_error(["plan", "--objective", "demand"])
    assert "--objective" in line and "--demand-tps" in line


@pytest.mark.parametrize("edit,field", [
    (lambda p: p["replicas"][0].update(id=None), "id"),
    (lambda p: p["replicas"][0].update(id="abc"), "id"),
    (lambda p: p["replicas"][0]["stages"][0].update(tp_groups=5), "tp_groups"),
    (lambda p: p.update(inputs=[]), "inputs"),
    (lambda p: p["inputs"]["topology"].update(gpus_per_host=0), "gpus_per_host"),
    (lambda p: p["inputs"]["traffic"].update(kv_len=True), "kv_len"),
])
def test_a_malformed_plan_for_export_names_the_field(edit, field, tmp_path):
    from planner import api

    plan = api.evaluate("llama-3.1-8b", "hgx-h100", api.Query(), tp=2).to_dict()
    edit(plan)
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(plan))
    assert field in one_error(["export", str(f), "--engine", "vllm"])


def test_validate_writes_valid_json_when_nothing_is_scored(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump({"records": [{"id": "only-a-record"}]}))
    result = runner.invoke(app, ["validate", "--measurements", str(f), "--json"])
    strict_json(result.output)


def test_plan_json_is_strict_json():
    result = runner.invoke(app, ["plan", "-w", "llama-3.1-8b", "-t", "hgx-h100", "--json"])
    assert result.exit_code == 0
    strict_json(result.output)


# --------------------------------------------------------------------------- 10. errors that mislead or leak


@pytest.mark.parametrize("args,fragments", [
    (["plan", "--isl", "abc"], ["--isl", "planner plan --help"]),
    (["plan", "--bogus"], ["--bogus", "planner plan --help"]),
    (["plan", "--isl"], ["--isl", "requires an argument"]),
    (["fleet"], ["--inventory"]),
    (["plam"], ["plam", "plan"]),
    ([], ["command"]),
    (["export", "--engine", "vllm"], ["plan"]),
    (["plan", "--time-limit", "x"], ["--time-limit"]),
])
def test_usage_errors_are_one_line_naming_the_flag(args, fragments):
    line = one_error(args)
    for fragment in fragments:
        assert fragment in line, line


def test_unavailable_out_of_range_blames_the_flag_not_the_file():
    line = one_error(["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--unavailable", "8"])
    assert line.startswith("error: --unavailable") and "unavailable_gpus" not in line and ".yaml" not in line


@pytest.mark.parametrize("content", [
    "root: $6$s3cr3tHASHvalue:19000:0:99999:7:::\n",
    "name: s3cr3tHASHvalue\n",
    "s3cr3tHASHvalue\n",
    "gpus_per_host: s3cr3tHASHvalue\n",
    "price: {usd_per_gpu_hour: s3cr3tHASHvalue}\n",
])
def test_an_error_never_echoes_file_contents(content, tmp_path):
    f = tmp_path / "shadow.yaml"
    f.write_text(content)
    for flag in ("--topology", "--workload"):
        assert "s3cr3t" not in one_error(["plan", flag, str(f)])


def test_a_name_with_a_newline_cannot_split_an_error(tmp_path):
    line = one_error(["plan", "--workload", "x\ny.yaml"])
    assert "\n" not in line


def test_the_console_script_prints_one_line_for_a_usage_error():
    """The installed entry point (not only the in-process app): no usage box."""
    r = subprocess.run([sys.executable, "-m", "planner.cli", "plan", "--isl", "abc"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
