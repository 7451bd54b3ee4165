"""How far the cost model has been checked where a plan runs.

``planner validate`` scores the model on published measurements. A plan should
say which of them speak for it: the cases of its model family on its
accelerator, how close the model came there, and whether that pair is a known
blind spot (declared outliers: the model is off there for a reason it does not
model). The figures are read from a table generated from the shipped cases
(``hardware/validation-coverage.yaml``, written by
``python -m planner.analysis.coverage_table``; a test checks it is current), so a plan
costs no validation run and its bytes do not depend on anything but its inputs.

The direction of an error is told as the plan's bias: ``optimism`` is the
median of (predicted speed / measured speed) - 1 over the cases, where speed
is throughput, or 1 / time for a latency metric. Positive: the model promises
more than was measured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

from .datafiles import data_dir
from .workload import Workload
from .yaml_read import load

FILE = "validation-coverage.yaml"
FIDELITY_DOC = "docs/fidelity.md"
CHECKED_NOTE = ("checked: published cases of this model family on the row's accelerator (planner validate) and their "
                "median |error| (a mode after it: no case there measures decode); 'blind spot': the model is known to be off there (of this family, or of others: '(other models)'); 'other models': cases of other families only (docs/fidelity.md)")


# The family a Hugging Face architecture class belongs to. The family is what
# the cost model follows, not the name on the tin: Kimi-K2 runs the DeepSeek-V3
# architecture, DeepSeek-R1-Distill-Llama-70B is a Llama, Qwen2.5 is not Qwen3-MoE.
FAMILY_OF_ARCHITECTURE = {
    "DeepseekV3ForCausalLM": "deepseek", "DeepseekV2ForCausalLM": "deepseek",
    "GptOssForCausalLM": "gpt-oss", "LlamaForCausalLM": "llama", "MixtralForCausalLM": "mixtral",
    "Qwen3MoeForCausalLM": "qwen3-moe", "Qwen3ForCausalLM": "qwen3", "Qwen2ForCausalLM": "qwen2",
    "Glm4MoeForCausalLM": "glm4-moe",
}
UNKNOWN = "unknown"


def architecture(workload: Workload) -> str:
    """The Hugging Face architecture class of a workload: read from its config.json
    when imported, else the shipped workload's when it is the shipped file (same bytes),
    '' for a workload file of its own (even one that borrows a shipped name)."""
    if workload.extra.get("hf_architecture"):
        return workload.extra["hf_architecture"]
    arch = _shipped_architectures().get(workload.name, "")
    return arch if arch and workload.sha256 == _shipped_sha256(workload.name) else ""


@lru_cache(maxsize=64)
def _shipped_sha256(name: str) -> str:
    import hashlib

    path = data_dir("workloads") / f"{name}.yaml"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


@lru_cache(maxsize=1)
def _shipped_architectures() -> dict[str, str]:
    from .listing import engine_support

    return dict(engine_support()["workload_architectures"])


def family(workload: Workload) -> str:
    """A model family from the workload's architecture ('deepseek', 'gpt-oss', 'llama',
    'qwen3-moe' ...); 'unknown' when no architecture is known (a workload file of its own)."""
    arch = architecture(workload)
    if arch in FAMILY_OF_ARCHITECTURE:
        return FAMILY_OF_ARCHITECTURE[arch]
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]{0,40})ForCausalLM", arch)
    return m.group(1).lower() if m else UNKNOWN  # never raw text: it reaches the terminal


@lru_cache(maxsize=64)
def family_of(ref: str) -> str:
    """The family of a workload reference (a shipped name or a model id), as the
    published cases name their workloads."""
    from .query import load_workload

    return family(load_workload(ref))


@dataclass(frozen=True)
class Cell:
    """The published cases of one model family on one accelerator."""

    family: str
    accelerator: str
    cases: int  # scored cases (the error target covers them)
    median_abs_error: Optional[float]  # over the scored cases; None when there are none
    worst_factor: Optional[float]  # max(pred/meas, meas/pred) over the scored cases
    optimism: Optional[float]  # median (predicted speed / measured speed) - 1, scored cases
    outliers: int = 0  # declared outliers: a known blind spot
    outlier_factor_min: Optional[float] = None
    outlier_factor_max: Optional[float] = None
    outlier_optimism: Optional[float] = None  # median, outliers only
    modes: tuple[str, ...] = ()  # what the scored cases measure (aggregated, decode, prefill, latency, ...)


@dataclass(frozen=True)
class Coverage:
    """What a plan's figures have been checked against (the plan document's ``fidelity``)."""

    scope: str  # "deepseek on h200-sxm", "h200-sxm (other families)", "mi300x" ...
    cases: int
    median_abs_error: Optional[float]
    worst_factor: Optional[float]
    optimism: Optional[float]
    blind_spot: bool  # the scope holds declared outliers: the model is off there
    note: str  # one line for the reader
    modes: tuple[str, ...] = ()  # what those cases measure

    def cell(self) -> str:
        return cell(self.blind_spot, self.cases, self.median_abs_error, self.modes, self.scope)

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "cases": self.cases, "median_abs_error": self.median_abs_error,
                "worst_factor": self.worst_factor, "optimism": self.optimism, "blind_spot": self.blind_spot,
                "note": self.note, "modes": list(self.modes)}


DECODE_MODES = ("aggregated", "decode", "static", "latency")  # cases whose figure includes decode steps


OTHER_FAMILIES = " (other families)"  # the scope's tail when only other families were measured there


def cell(blind_spot: bool, cases: int, median_abs_error: Optional[float], modes=(), scope: str = "") -> str:
    """A table's 'checked' cell (rich markup): '10 ±16%', '3 ±6% prefill' (no case
    measures decode), 'blind spot', 'blind spot (other models)', 'other models', 'none'."""
    if blind_spot:
        return "[red]blind spot[/]" + (" (other models)" if scope.endswith(OTHER_FAMILIES) else "")
    if median_abs_error is not None:
        only = "" if not modes or any(m in DECODE_MODES for m in modes) else " " + "/".join(modes)
        return f"{cases} ±{median_abs_error:.0%}{only}"
    return "other models" if cases else "none"


@lru_cache(maxsize=1)
def cells() -> tuple[Cell, ...]:
    """The shipped table (empty when the file is absent: a plan then says so)."""
    path = data_dir("hardware") / FILE
    if not path.is_file():
        return ()
    rows = load(path.read_text()).get("cells") or []
    return tuple(Cell(**{**row, "modes": tuple(row.get("modes") or ())}) for row in rows)


def _pct(x: float) -> str:
    return f"{abs(x):.0%}"


def _span(lo: float, hi: float) -> str:
    return f"{lo:.1f}x" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f}x"


def _cases(n: int, fam: str) -> str:
    return f"{n} published {fam} case{'s' if n != 1 else ''}"


def _bias(optimism: float) -> str:
    if round(abs(optimism), 2) == 0:
        return "no bias at the median"
    return f"{'optimistic' if optimism > 0 else 'pessimistic'} by {_pct(optimism)} at the median"


def coverage(fam: str, accelerator: str, table: tuple[Cell, ...] | None = None) -> Coverage:
    """The published cases that speak for a plan of a model of family ``fam`` (:func:`family`) on ``accelerator``."""
    table = cells() if table is None else table
    fam = fam if re.fullmatch(r"[a-z][a-z0-9-]{0,40}", fam or "") else UNKNOWN  # a plan file's field is hostile text
    row = next((c for c in table if c.family == fam and c.accelerator == accelerator), None)
    if row is not None and row.outliers:
        lo, hi = row.outlier_factor_min, row.outlier_factor_max
        way = "optimistic" if (row.outlier_optimism or 0) > 0 else "pessimistic"
        note = (f"known blind spot: {_cases(row.outliers, fam)} on {accelerator} {'are' if row.outliers > 1 else 'is'} {_span(lo, hi)} off "
                f"({way}); read this plan's speed and $/token with that in mind ({FIDELITY_DOC})")
        return Coverage(f"{fam} on {accelerator}", row.cases, row.median_abs_error, row.worst_factor,
                        row.outlier_optimism, True, note)
    if row is not None and row.cases:
        note = (f"checked against {_cases(row.cases, fam)} on {accelerator} ({', '.join(row.modes) or 'mode not stated'}): median |error| "
                f"{_pct(row.median_abs_error)}, worst {row.worst_factor:.2f}x, {_bias(row.optimism)}")
        return Coverage(f"{fam} on {accelerator}", row.cases, row.median_abs_error, row.worst_factor,
                        row.optimism, False, note, row.modes)
    who = f"{fam} cases" if fam != UNKNOWN else "cases of this model's family (its workload file names no architecture)"
    others = [c for c in table if c.accelerator == accelerator]
    if others:
        n, odd = sum(c.cases for c in others), sum(c.outliers for c in others)
        parts = []
        if n:
            worst = max(c.worst_factor for c in others if c.cases)
            names = ", ".join(sorted(c.family for c in others if c.cases))
            parts.append(f"{n} cases of other families there ({names}) are within {worst:.2f}x")
        if odd:
            lo = min(c.outlier_factor_min for c in others if c.outliers)
            hi = max(c.outlier_factor_max for c in others if c.outliers)
            names = ", ".join(sorted(c.family for c in others if c.outliers))
            parts.append(f"{odd} published {names} case{'s' if odd != 1 else ''} there {'are' if odd != 1 else 'is'} a known blind spot, {_span(lo, hi)} off")
        note = f"no published {who} on {accelerator}; " + "; ".join(parts) + f" ({FIDELITY_DOC})"
        worst_all = max((c.worst_factor for c in others if c.cases), default=None)
        return Coverage(accelerator + OTHER_FAMILIES, n, None, worst_all, None, odd > 0, note)
    note = (f"no published measurements on {accelerator}: its figures rest on datasheet peaks and "
            f"constants fitted on other accelerators ({FIDELITY_DOC})")
    return Coverage(accelerator, 0, None, None, None, False, note)
