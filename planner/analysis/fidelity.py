"""Fidelity: the cost model against published measurements.

A measurements file (format of ``calibration/measurements.yaml``) holds
``records``; each record quotes its source and lists ``metrics``. A record the
planner can express carries a ``planner:`` block mapping some of its metrics to
pinned evaluations (``cases``) and naming the metrics it cannot express with
the reason (``not_expressible``). A record without a block is listed as not
expressible, never dropped.

    from planner.analysis import fidelity
    report = fidelity.validate()            # the shipped cases
    print(report.median_abs_error, report.max_abs_error)

Signed error = predicted / measured - 1 (positive: the model is optimistic).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..inputs import units
from ..inputs.engines import with_engine
from ..inputs.errors import InputError, one_line, shown_value
from ..inputs.ranges import MEASURED
from ..inputs.schema import validate as validate_schema
from .fidelity_schema import CaseFile, EngineFile, NotExpressibleFile, PlannerBlock, Precision, WeightFormatsFile  # noqa: F401 (re-exported)

MODES = ("aggregated", "decode", "static", "prefill", "ttft", "latency")
UNITS = {
    "aggregated": "out tok/s/GPU",
    "decode": "out tok/s/GPU",
    "static": "out tok/s/GPU",
    "prefill": "in tok/s/GPU",
    "ttft": "ms",
    "latency": "tok/s/user",
}
LOOSE_SLO_MS = 1e9  # "max throughput" records: no latency limit, memory alone bounds the batch

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Case:
    record_id: str
    measured: float
    spec: CaseFile
    cv_group: str = ""  # the unit cross-validation holds out together; "" = the record itself

    @property
    def group(self) -> str:
        return self.cv_group or self.record_id

    @property
    def name(self) -> str:
        return f"{self.record_id}:{self.spec.metric}"


@dataclass(frozen=True)
class Result:
    case: Case
    predicted: float
    batch: int  # decode micro-batch used (0 for prefill/ttft modes)
    batch_rule: str  # "pinned" or "max fitting memory" (+ cap)
    bottleneck: str

    @property
    def ratio(self) -> float:
        return self.predicted / self.case.measured

    @property
    def error(self) -> float:
        """Signed relative error: predicted / measured - 1."""
        return self.ratio - 1.0

    @property
    def factor(self) -> float:
        """How many times off, either way (1.0 = exact)."""
        return max(self.ratio, 1.0 / self.ratio)

    @property
    def in_target(self) -> bool:
        return not self.case.spec.outlier


@dataclass(frozen=True)
class Unexpressed:
    record_id: str
    metric: str
    reason: str


@dataclass(frozen=True)
class Report:
    path: str
    results: tuple[Result, ...]
    unexpressed: tuple[Unexpressed, ...]

    @property
    def scored(self) -> list[Result]:
        """The results the error target covers (declared outliers left out)."""
        return [r for r in self.results if r.in_target]

    @property
    def outliers(self) -> list[Result]:
        return [r for r in self.results if not r.in_target]

    @property
    def abs_errors(self) -> list[float]:
        return [abs(r.error) for r in self.scored]

    @property
    def median_abs_error(self) -> float:
        return statistics.median(self.abs_errors) if self.results else float("nan")

    @property
    def max_abs_error(self) -> float:
        return max(self.abs_errors) if self.results else float("nan")

    @property
    def worst_factor(self) -> float:
        """Largest max(pred/meas, meas/pred): 2.0 means some record is off by 2x."""
        return max((r.factor for r in self.scored), default=float("nan"))

    @property
    def median_abs_error_all(self) -> float:
        """Median over every evaluated case, outliers included."""
        return statistics.median(abs(r.error) for r in self.results) if self.results else float("nan")

    def to_dict(self) -> dict:
        return {
            "measurements": self.path,
            "cases": [
                {
                    "record": r.case.record_id,
                    "metric": r.case.spec.metric,
                    "mode": r.case.spec.mode,
                    "unit": UNITS[r.case.spec.mode],
                    "measured": r.case.measured,
                    "predicted": float(f"{r.predicted:.5g}"),
                    "error": round(r.error, 4),
                    "batch": r.batch,
                    "batch_rule": r.batch_rule,
                    "bottleneck": r.bottleneck,
                    "outlier": r.case.spec.outlier or None,
                }
                for r in self.results
            ],
            "not_expressible": [u.__dict__ for u in self.unexpressed],
            "median_abs_error": round(self.median_abs_error, 4),
            "max_abs_error": round(self.max_abs_error, 4),
            "worst_factor": round(self.worst_factor, 3),
            "median_abs_error_all": round(self.median_abs_error_all, 4),
            "scored": len(self.scored),
        }


# --------------------------------------------------------------------------- loading


def default_measurements_path() -> Path:
    """The shipped calibration cases (a copy of the published records): packaged
    under planner/_data/calibration, or tests/data in a source checkout."""
    pkg = Path(__file__).resolve().parent.parent  # the planner package
    for candidate in (pkg / "_data" / "calibration" / "measurements.yaml", pkg.parent / "tests" / "data" / "measurements.yaml"):
        if candidate.is_file():
            return candidate
    raise InputError("no shipped measurements file found; pass --measurements FILE")


def _metric_value(record: dict, name: str, path: Path) -> float:
    metrics = record.get("metrics") or []
    if not isinstance(metrics, list):
        raise InputError(f"{path}: record {one_line(record.get('id'), 60)!r}: 'metrics' must be a list")
    for m in metrics:
        if isinstance(m, dict) and m.get("name") == name:
            why = MEASURED.problem(m.get("value"))
            if why:
                raise InputError(f"{path}: record {one_line(record.get('id'), 60)!r}: metric {one_line(name, 60)!r}: value {why} (got {shown_value(m.get('value'))})")
            return float(m["value"])
    raise InputError(f"{path}: record {record.get('id')!r}: case names unknown metric {name!r}")


def load_cases(path: Path | str | None = None) -> tuple[list[Case], list[Unexpressed]]:
    """Cases the planner can evaluate, and everything it cannot (with the reason)."""
    from ..inputs.datafiles import read_yaml

    path = Path(path) if path is not None else default_measurements_path()
    if not path.exists():
        raise InputError(f"--measurements {path}: no such file")
    records = read_yaml(path).data.get("records")
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a top-level 'records' list")
    cases: list[Case] = []
    skipped: list[Unexpressed] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not rec.get("id"):
            raise InputError(f"{path}: records[{i}] has no 'id'")
        rid = str(rec["id"])
        block = rec.get("planner")
        if block is None:
            skipped.append(Unexpressed(rid, "*", "no planner mapping in the file (see docs/fidelity.md, 'Adding a record')"))
            continue
        spec = validate_schema(PlannerBlock, block, f"{path} (record {rid}, planner)")
        for c in spec.cases:
            value = _metric_value(rec, c.metric, path) / c.measured_divisor
            cases.append(Case(rid, value, c, spec.cv_group or ""))
        skipped.extend(Unexpressed(rid, n.metric, n.reason) for n in spec.not_expressible)
        if not spec.cases and not spec.not_expressible:
            skipped.append(Unexpressed(rid, "*", "planner block maps no metric"))
    return cases, skipped


# --------------------------------------------------------------------------- prediction


@lru_cache(maxsize=256)
def _loaded(spec: CaseFile):
    from ..api import Query, load
    from ..physics.candidates import pinned_layout

    q = Query(
        isl=spec.isl, osl=spec.osl, kv_len=spec.kv_len, weight_dtype=spec.weights, kv_dtype=spec.kv_cache,
        ttft_ms=LOOSE_SLO_MS, tpot_ms=LOOSE_SLO_MS, domains=spec.nodes,
        speculative=spec.speculative, draft_tokens=spec.draft_tokens, acceptance_rate=spec.acceptance_rate,
    )
    w, topo = load(spec.workload, spec.topology, q)
    if spec.weight_formats is not None:
        from ..inputs import formats

        for name in spec.weight_formats.given().values():
            formats.get(name)  # one-line error for an unknown format
        w = replace(w, weights=replace(w.weights, **spec.weight_formats.given()))
    L = pinned_layout(w, topo, spec.tp, spec.pp, spec.dp_attn, spec.ep)
    return w, topo, L


def accelerator_of(case: Case) -> str:
    """The accelerator a case ran on (its topology's)."""
    return _loaded(case.spec)[1].accelerator.name


def prefill_forward_s(w, topo, L, tokens: float) -> float:
    """One forward of ``tokens`` prompt tokens (the whole replica's share) through all stages."""
    from ..physics.costmodel import pp_hops_s, step_terms

    s = step_terms(w, topo, L, 0.0, float(tokens), 0.0, prefill=True)
    return float(s.layers_s[0] + L.pp[0] * topo.efficiency.step_overhead_s + pp_hops_s(w, topo, L, tokens)[0])


def _prefill_bound(w, topo, L, tokens: float) -> str:
    """What bounds a prompt forward, named as costmodel.BOTTLENECKS does."""
    from ..physics.costmodel import BOTTLENECKS, step_terms

    s = step_terms(w, topo, L, 0.0, float(tokens), 0.0, prefill=True)
    parts = [s.compute_s, s.weights_s, s.kv_s, s.tp_comm_s + s.ep_comm_s, s.overhead_s]
    return BOTTLENECKS[int(np.argmax([float(np.ravel(x)[0]) for x in parts]))]


def predict(case: Case, efficiency=None, batch: int | None = None) -> Result:
    """Evaluate one case with the shipped (or the given) efficiency factors; a dict
    of field changes applies to the case topology's own factors.
    ``batch``: a decode batch already found for this case (the largest fitting
    memory does not depend on the time constants a fit moves), to skip the search."""
    from ..physics.costmodel import BOTTLENECKS, evaluate, first_token_s, max_feasible_batch

    spec = case.spec
    w, topo, L = _loaded(spec)
    if isinstance(efficiency, dict):  # changes to the case's own (topology) constants
        eff = replace(topo.efficiency, **efficiency)
    else:
        eff = efficiency if efficiency is not None else topo.efficiency
    if spec.engine is not None:
        eff = with_engine(eff, spec.engine.name, topo.accelerator.name)  # the engine's measured kernel costs
        stated = {k: v for k, v in spec.engine.model_dump().items() if k not in ("source", "name") and v is not None}
        eff = replace(eff, **stated)
    topo = replace(topo, efficiency=eff)
    gpus = float(L.gpus[0])
    if spec.mode == "prefill":
        tokens = (spec.prefill_tokens_per_gpu or spec.isl) * float(L.stage_gpus[0])
        value = tokens / prefill_forward_s(w, topo, L, tokens) / float(L.stage_gpus[0])
        rule = f"{spec.prefill_tokens_per_gpu or spec.isl} tokens/GPU/forward"
        return Result(case, value, 0, rule, _prefill_bound(w, topo, L, tokens))
    if spec.mode == "ttft":
        chunk = min(w.isl, topo.efficiency.prefill_chunk_tokens)
        return Result(case, float(first_token_s(w, topo, L)[0]) / units.MS, 0, "one request", _prefill_bound(w, topo, L, chunk))
    aggregated = spec.mode == "aggregated"
    if spec.batch is not None:
        b, rule = spec.batch, "pinned"
    elif batch is not None:
        b, rule = batch, "max fitting memory (given)"
    else:
        b = int(max_feasible_batch(w, topo, L, aggregated=aggregated or spec.mode == "static")[0])
        rule = "max fitting memory"
        cap = spec.batch_cap // spec.dp_attn * spec.dp_attn if spec.batch_cap is not None else None
        if cap is not None and b > cap:
            b, rule = cap, f"cap {spec.batch_cap}"
        if b == 0:
            raise InputError(f"{case.name}: the layout does not fit memory even at batch {spec.dp_attn}")
    ev = evaluate(w, topo, L, np.array([float(b)]), aggregated=aggregated)
    label = BOTTLENECKS[int(ev.bottleneck_index[0])]
    if spec.mode in ("aggregated", "decode"):
        value = float(ev.output_tps[0]) / gpus
    elif spec.mode == "latency":
        value = 1.0 / float(ev.tpot_s[0])
    else:  # static batching: one prefill of the whole batch, then osl decode steps
        total = prefill_forward_s(w, topo, L, b * w.isl) + w.osl * float(ev.tpot_s[0])
        value = b * w.osl / total / gpus
    return Result(case, value, b, rule, label)


def validate(path: Path | str | None = None, efficiency=None, on_step=None) -> Report:
    """Predicted vs measured for every expressible case of a measurements file;
    ``on_step(case id)`` after each prediction."""
    resolved = Path(path) if path is not None else default_measurements_path()
    cases, skipped = load_cases(resolved)
    results = []
    for c in cases:
        results.append(predict(c, efficiency))
        if on_step is not None:
            on_step(c.record_id)
    results = tuple(results)
    return Report(str(resolved), results, tuple(skipped))


# --------------------------------------------------------------------------- text report


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def report_lines(report: Report) -> list[str]:
    """The per-case table, the error summary and what could not be expressed, as
    plain text (the CLI command and benchmarks/fidelity.py print the same)."""
    rows = [("record", "metric", "mode", "unit", "measured", "predicted", "error", "batch", "bound by")]
    for r in report.results:
        mark = " *" if not r.in_target else ""
        batch = f"{r.batch} ({r.batch_rule})" if r.batch else r.batch_rule
        rows.append((r.case.record_id, r.case.spec.metric + mark, r.case.spec.mode, UNITS[r.case.spec.mode],
                     _num(r.case.measured), _num(r.predicted), f"{r.error:+.1%}", batch, r.bottleneck))
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {4, 5, 6}
    out = ["  ".join(c.rjust(width[i]) if i in right else c.ljust(width[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    out.insert(1, "  ".join("-" * w for w in width))
    n, k = len(report.scored), len(report.outliers)
    out += [
        "",
        f"{n} cases in the target: median |error| {report.median_abs_error:.1%}, max |error| {report.max_abs_error:.1%}, "
        f"worst {report.worst_factor:.2f}x (target: median <= 15%, none beyond 2x)",
        f"all {n + k} evaluated cases: median |error| {report.median_abs_error_all:.1%}",
    ]
    for r in report.outliers:
        out.append(f"* {r.case.name}: {r.error:+.0%}, a known blind spot, outside the target: {r.case.spec.outlier}")
    if report.unexpressed:
        out += ["", f"not expressible ({len(report.unexpressed)}):"]
        out += [f"  {u.record_id}:{u.metric}: {u.reason}" for u in report.unexpressed]
    out += ["", f"measurements: {report.path}"]
    return out
