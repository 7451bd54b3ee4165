"""Fit the free efficiency constants to published measurements, and score the fit
on records it never saw (leave-one-record-out, leave-one-model-family-out).

Which constants are free, and in which range, is data (``FREE_AFFINE``,
``FREE_GRID`` below, each range with its reason); every other constant keeps its
measured value from ``hardware/efficiency.yaml``.

How the fit stays cheap enough to repeat once per held-out record: the five
fixed costs (per layer, per step, per MoE layer, per request, per token and layer)
add linearly to every time the cost model predicts, so for each case ``g = time``
(TTFT) or ``g = 1/value`` (throughputs, per-user speed) is *affine* in them. For each
point of the grid of the two non-linear constants (expert load imbalance,
grouped-GEMM padding), six evaluations per case give the exact affine coefficients; every fit after that is numpy on a
table. The loss is soft-L1 on log(predicted / measured) (a 2x miss counts the
same either way, a few wild records do not dominate), minimised by a
deterministic shrinking grid search inside the bounds (no scipy).

    from planner.analysis import calibration
    fit = calibration.fit_all()              # the constants the shipped file states
    cv = calibration.cross_validate()        # in-sample, leave-one-record-out, leave-one-family-out
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..inputs.coverage import family_of
from . import fidelity

# name: (lower, upper, reason for the range). Bounds come from prior knowledge,
# not from these records.
FREE_AFFINE: dict[str, tuple[float, float, str]] = {
    "layer_overhead_s": (0.0, 60e-6, "a layer launches ~15-40 small kernels (norms, rope, quantisation, activation, residual, "
                         "GEMM and attention launches) at the 1.1-1.5 us on-device floor of a small op (hardware.md 8.6)"),
    "step_overhead_s": (0.0, 1e-3, "scheduling, sampling and launch per step: below a batch-1 step of the smallest shipped model"),
    "moe_layer_overhead_s": (0.0, 400e-6, "router, top-k, permutes: below a dense layer's whole time at batch 1"),
    "request_overhead_s": (0.0, 50e-3, "per-request set-up and first sampling: below the tens of ms a batch-1 request on a short prompt takes to its first token in serving benchmarks"),
    "token_layer_overhead_s": (0.0, 400e-9, "per token and layer, every layer: at 400 ns a token would cost as much as ~65 reads "
                               "and writes of an 8,192-wide BF16 row at H100 HBM speed, far beyond the small kernels a layer runs per token"),
}
# constants that enter non-linearly, fitted on a grid over their sourced ranges:
# expert load imbalance from perfect balance (1) to the ~1.9x that balancing the routed
# load of gpt-oss-120b under standard EP recovers (LLEP, arXiv 2601.17111); grouped-GEMM
# padding from the DeepGEMM measurement (48-124 rows, median 70) up to a whole 256-row
# Blackwell tile pair
FREE_GRID: dict[str, tuple[float, ...]] = {
    "moe_expert_load_cv": (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
    "moe_half_tokens": (48.0, 70.0, 100.0, 140.0, 200.0, 280.0),
}
YAML_UNITS = {"layer_overhead_s": ("layer_overhead_us", 1e6), "step_overhead_s": ("step_overhead_us", 1e6),
              "moe_layer_overhead_s": ("moe_layer_overhead_us", 1e6), "moe_expert_load_cv": ("moe_expert_load_cv", 1.0),
              "moe_half_tokens": ("moe_half_tokens", 1.0), "request_overhead_s": ("request_overhead_us", 1e6),
              "token_layer_overhead_s": ("token_layer_overhead_us", 1e6)}
F_SCALE = 0.15  # soft-L1 knee on log error: errors beyond ~15% count linearly, not squared
_ROUNDS, _POINTS = 8, 9


@dataclass(frozen=True)
class Table:
    """Per case and grid value: g(theta) = a + c . theta, g = time or 1/throughput."""

    cases: tuple
    grid: tuple[tuple[float, ...], ...]  # points of the product of FREE_GRID's ranges
    a: np.ndarray  # (grid, cases)
    c: np.ndarray  # (grid, cases, len(FREE_AFFINE))
    g_meas: np.ndarray  # (cases,)
    batches: tuple


def _g(case, value: float) -> float:
    return value if case.spec.mode == "ttft" else 1.0 / value


def build_table(cases) -> Table:
    """Exact affine coefficients of every case at every grid value (one plus one per affine constant)."""
    grid = tuple(itertools.product(*FREE_GRID.values()))
    batches = tuple(fidelity.predict(c).batch or None for c in cases)
    zero = {k: 0.0 for k in FREE_AFFINE}
    a = np.zeros((len(grid), len(cases)))
    cc = np.zeros((len(grid), len(cases), len(FREE_AFFINE)))
    for i, gv in enumerate(grid):
        eff0 = {**zero, **dict(zip(FREE_GRID, gv))}
        g0 = np.array([_g(c, fidelity.predict(c, eff0, b).predicted) for c, b in zip(cases, batches)])
        a[i] = g0
        for j, (k, (_, hi, _)) in enumerate(FREE_AFFINE.items()):
            effj = {**eff0, k: hi}
            gj = np.array([_g(c, fidelity.predict(c, effj, b).predicted) for c, b in zip(cases, batches)])
            cc[i, :, j] = (gj - g0) / hi
    g_meas = np.array([_g(c, c.measured) for c in cases])
    return Table(tuple(cases), tuple(grid), a, cc, g_meas, batches)


def _loss(r: np.ndarray) -> np.ndarray:
    return (2 * F_SCALE**2 * (np.sqrt(1 + (r / F_SCALE) ** 2) - 1)).sum(axis=-1)


def _fit_affine(a: np.ndarray, c: np.ndarray, g_meas: np.ndarray) -> tuple[np.ndarray, float]:
    """Bounded minimum of the soft-L1 loss over the affine constants: a grid that
    shrinks around its best point each round (deterministic, vectorised)."""
    lo = np.array([b[0] for b in FREE_AFFINE.values()])
    hi = np.array([b[1] for b in FREE_AFFINE.values()])
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    best, best_loss = centre, np.inf
    for _ in range(_ROUNDS):
        axes = [np.clip(np.linspace(centre[j] - half[j], centre[j] + half[j], _POINTS), lo[j], hi[j]) for j in range(len(lo))]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(lo))  # (P, k)
        g = a[None, :] + pts @ c.T  # (P, cases)
        r = np.log(np.maximum(g, 1e-30) / g_meas[None, :])
        loss = _loss(r)
        i = int(np.argmin(loss))
        if loss[i] < best_loss:
            best, best_loss = pts[i], float(loss[i])
        centre, half = best, half * 2.5 / (_POINTS - 1)
    return best, best_loss


@dataclass(frozen=True)
class Fit:
    values: dict[str, float]  # SI, by Efficiency field
    loss: float
    n_cases: int

    def yaml_values(self) -> dict[str, float]:
        return {YAML_UNITS[k][0]: round(v * YAML_UNITS[k][1], 3) for k, v in self.values.items()}


def fit(table: Table, keep: np.ndarray | None = None) -> tuple[Fit, int]:
    """Best constants on the cases where ``keep`` is true; also the grid index chosen."""
    keep = np.ones(len(table.cases), bool) if keep is None else keep
    best = None
    for i, gv in enumerate(table.grid):
        theta, loss = _fit_affine(table.a[i, keep], table.c[i, keep], table.g_meas[keep])
        if best is None or loss < best[1] - 1e-12:
            best = (theta, loss, i, gv)
    theta, loss, i, gv = best
    values = {**{k: float(v) for k, v in zip(FREE_AFFINE, theta)}, **{k: float(v) for k, v in zip(FREE_GRID, gv)}}
    return Fit(values, loss, int(keep.sum())), i


def predicted(table: Table, fit_: Fit, grid_index: int) -> np.ndarray:
    """Predicted metric values of every case in the table under a fit."""
    theta = np.array([fit_.values[k] for k in FREE_AFFINE])
    g = table.a[grid_index] + table.c[grid_index] @ theta
    return np.array([gi if c.spec.mode == "ttft" else 1.0 / gi for c, gi in zip(table.cases, g)])


def scored_cases(path=None):
    cases, _ = fidelity.load_cases(path)
    return [c for c in cases if not c.spec.outlier]


def fit_all(path=None) -> Fit:
    """The joint fit over every scored case (what hardware/efficiency.yaml states)."""
    return fit(build_table(scored_cases(path)))[0]


@dataclass(frozen=True)
class CrossValidation:
    names: tuple[str, ...]
    families: tuple[str, ...]
    measured: np.ndarray
    in_sample: np.ndarray  # predicted with the shipped constants
    leave_record: np.ndarray  # each record (or cv_group of records) predicted by constants fitted without it
    leave_family: np.ndarray  # each case predicted by constants fitted without its model family

    @staticmethod
    def _med(pred, meas) -> float:
        return statistics.median(np.abs(pred / meas - 1.0)) if len(meas) else float("nan")

    @staticmethod
    def _worst(pred, meas) -> float:
        r = pred / meas
        return float(np.max(np.maximum(r, 1 / r))) if len(meas) else float("nan")

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for label, pred in (("in_sample", self.in_sample), ("leave_one_record_out", self.leave_record),
                            ("leave_one_family_out", self.leave_family)):
            out[label] = {"median_abs_error": round(self._med(pred, self.measured), 4),
                          "worst_factor": round(self._worst(pred, self.measured), 3)}
        return out

    def by_family(self) -> dict[str, dict[str, float]]:
        out = {}
        for fam in sorted(set(self.families)):
            idx = np.array([f == fam for f in self.families])
            out[fam] = {"cases": int(idx.sum()),
                        "in_sample_worst_factor": round(self._worst(self.in_sample[idx], self.measured[idx]), 3),
                        "leave_family_out_median_abs_error": round(self._med(self.leave_family[idx], self.measured[idx]), 4)}
        return out


@lru_cache(maxsize=4)
def _cross_validate_cached(path_key: str | None) -> CrossValidation:
    cases = scored_cases(path_key)
    table = build_table(cases)
    records = [c.group for c in cases]  # a record, or the records that split one table (cv_group)
    fams = [family_of(c.spec.workload) for c in cases]
    meas = np.array([c.measured for c in cases])
    shipped = np.array([fidelity.predict(c, None, b).predicted for c, b in zip(cases, table.batches)])
    loo = np.zeros(len(cases))
    for rid in dict.fromkeys(records):
        held = np.array([r == rid for r in records])
        f, i = fit(table, ~held)
        loo[held] = predicted(table, f, i)[held]
    lofo = np.zeros(len(cases))
    for fam in dict.fromkeys(fams):
        held = np.array([x == fam for x in fams])
        f, i = fit(table, ~held)
        lofo[held] = predicted(table, f, i)[held]
    return CrossValidation(tuple(c.name for c in cases), tuple(fams), meas, shipped, loo, lofo)


def cross_validate(path=None) -> CrossValidation:
    """In-sample error of the shipped constants next to the error on held-out data."""
    return _cross_validate_cached(None if path is None else str(path))


def to_dict(cv: CrossValidation) -> dict:
    return {"summary": cv.summary(), "by_family": cv.by_family(),
            "cases": [{"case": n, "family": f, "measured": float(m), "in_sample": float(f"{a:.5g}"),
                       "leave_one_record_out": float(f"{b:.5g}"), "leave_one_family_out": float(f"{c:.5g}")}
                      for n, f, m, a, b, c in zip(cv.names, cv.families, cv.measured, cv.in_sample, cv.leave_record, cv.leave_family)]}


def cv_lines(cv: CrossValidation) -> list[str]:
    """The error of the shipped constants next to the error on data each fit never saw."""
    s = cv.summary()
    out = ["", f"cross-validated over {len(cv.names)} cases (free constants refitted without the held-out data; planner/analysis/calibration.py):"]
    for label, key in (("in-sample (shipped constants)", "in_sample"), ("leave-one-record-out", "leave_one_record_out"),
                       ("leave-one-model-family-out", "leave_one_family_out")):
        out.append(f"  {label:31s} median |error| {s[key]['median_abs_error']:.1%}, worst {s[key]['worst_factor']:.2f}x")
    out.append("  by family (in-sample worst | family held out, median |error|): " + "; ".join(
        f"{fam} {v['in_sample_worst_factor']:.2f}x | {v['leave_family_out_median_abs_error']:.0%}" for fam, v in cv.by_family().items()))
    return out
