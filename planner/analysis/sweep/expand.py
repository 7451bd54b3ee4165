"""Expand a validated study into scenarios: resolve every name once, take the
product of the axes, apply the filter, append the extra points.

A scenario's id is a hash of what it asks (names as written, overrides, demand,
mode, time limit), so a rerun of the same study finds the same ids and a
results folder can tell which scenarios are done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, Optional

from ...inputs import units
from ...inputs.errors import InputError

from . import safe_expr
from ...inputs.datafiles import read_yaml
from ...inputs.schema import validate
from .study import FILTER_FIELDS, MAX_SCENARIOS, Scenario, Study, StudyFile, TopologyAxis


def _sig(x: float) -> float:
    """Effective values shown in rows: 10 significant digits (2.99 * 0.7 reads 2.093)."""
    return float(f"{x:.10g}")


class _Resolver:
    """Loads each workload and (topology, domains) once; errors name the study field."""

    def __init__(self, study_path: Path):
        self.path = study_path
        self.base = study_path.parent
        self._w: dict[str, Any] = {}
        self._t: dict[tuple[str, Optional[int]], Any] = {}

    def ref(self, text: str) -> str:
        """A path-like reference is relative to the study file; a bare name is shipped data."""
        if "/" in text or "\\" in text or text.endswith((".yaml", ".yml", ".json")):
            p = Path(text)
            return str(p if p.is_absolute() else (self.base / p))
        return text

    def workload(self, text: str, field: str):
        if text not in self._w:
            from ...inputs.query import load_workload

            try:
                self._w[text] = load_workload(self.ref(text))
            except InputError as exc:
                raise InputError(f"{self.path}: field {field!r}: {exc}") from None
        return self._w[text]

    def topology(self, text: str, domains: Optional[int], field: str):
        key = (text, domains)
        if key not in self._t:
            from ...inputs.topology import build_topology

            try:
                self._t[key] = build_topology(self.ref(text), domains)
            except InputError as exc:
                raise InputError(f"{self.path}: field {field!r}: {exc}") from None
        return self._t[key]


def _axis(values: Optional[list], name: str, path: Path, default: list) -> list:
    if values is None:
        return default
    if not values:
        raise InputError(f"{path}: field 'axes.{name}' is empty: the product has no scenarios")
    return list(values)


def _scenario(r: _Resolver, index: int, source: str, point: dict[str, Any], time_limit_s: float, field: str) -> Scenario:
    """One scenario from a point: workload, topology, domains, isl, osl, ttft_ms,
    tpot_ms, price, price_multiplier, demand_tps, mode (None = default)."""
    w = r.workload(point["workload"], f"{field}.workload" if source == "extra" else "axes.workloads")
    topo = r.topology(point["topology"], point["domains"], f"{field}.topology" if source == "extra" else "axes.topologies")
    mult = point["price_multiplier"]
    price = point["price"] if point["price"] is not None else (_sig(topo.price_usd_per_gpu_hour * mult) if mult is not None else None)
    query = {
        "isl": point["isl"], "osl": point["osl"], "ttft_ms": point["ttft_ms"], "tpot_ms": point["tpot_ms"],
        "domains": point["domains"], "price_per_gpu_hour": price,
    }
    asked = {
        "workload": point["workload"], "topology": point["topology"], "query": {**query, "price_multiplier": mult},
        "demand_tps": point["demand_tps"], "mode": point["mode"], "time_limit_s": time_limit_s,
    }
    sid = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:16]
    inputs = {
        "workload": point["workload"],
        "topology": point["topology"],
        "accelerator": topo.accelerator.name,
        "domain_unit": topo.domain_unit,
        "domains": topo.n_domains,
        "gpus_total": topo.n_gpus,
        "isl": point["isl"] or w.isl,
        "osl": point["osl"] or w.osl,
        "ttft_slo_ms": point["ttft_ms"] if point["ttft_ms"] is not None else _sig(w.ttft_s / units.MS),
        "tpot_slo_ms": point["tpot_ms"] if point["tpot_ms"] is not None else _sig(w.tpot_s / units.MS),
        "price_usd_per_gpu_hour": price if price is not None else topo.price_usd_per_gpu_hour,
        "price_multiplier": mult,
        "demand_tps": point["demand_tps"],
        "mode": point["mode"],
    }
    return Scenario(
        scenario_id=sid, index=index, source=source, workload_ref=r.ref(point["workload"]), topology_ref=r.ref(point["topology"]),
        query=query, demand_tps=point["demand_tps"], mode=point["mode"], time_limit_s=time_limit_s, inputs=inputs,
    )


def expand(spec: StudyFile, path: Path) -> Study:
    r = _Resolver(path)
    a = spec.axes
    workloads = _axis(a.workloads, "workloads", path, [])
    topos = [t if isinstance(t, TopologyAxis) else TopologyAxis(name=t) for t in _axis(a.topologies, "topologies", path, [])]
    topo_points = []
    for k, t in enumerate(topos):
        doms = _axis(t.domains, f"topologies[{k}].domains", path, [None])
        topo_points += [(t.name, d) for d in doms]
    traffic = [(t.isl, t.osl) for t in _axis(a.traffic, "traffic", path, [])] or [(None, None)]
    slos = [(s.ttft_ms, s.tpot_ms) for s in _axis(a.slo, "slo", path, [])] or [(None, None)]
    prices = [(p, None) for p in _axis(a.prices, "prices", path, [])] + [
        (None, m) for m in _axis(a.price_multipliers, "price_multipliers", path, [])
    ] or [(None, None)]
    demands = _axis(a.demand_tps, "demand_tps", path, [None])
    modes = _axis(a.modes, "modes", path, ["auto"])
    axes = [workloads, topo_points, traffic, slos, prices, demands, modes]
    size = math.prod(len(x) for x in axes)
    if size > MAX_SCENARIOS:
        raise InputError(f"{path}: the product of the axes has {size} scenarios, more than {MAX_SCENARIOS}: split the study")
    keep = None
    if spec.filter is not None:
        try:
            keep = safe_expr.parse(spec.filter, FILTER_FIELDS)
        except safe_expr.ExprError as exc:
            raise InputError(f"{path}: field 'filter': {exc}") from None
    for k, w in enumerate(workloads):
        r.workload(w, f"axes.workloads[{k}]")
    for k, (t, d) in enumerate(topo_points):
        r.topology(t, d, f"axes.topologies[{k}]")
    scenarios: list[Scenario] = []
    seen: set[str] = set()
    filtered = 0
    for w, (t, d), (isl, osl), (ttft, tpot), (price, mult), demand, mode in itertools.product(*axes):
        point = dict(workload=w, topology=t, domains=d, isl=isl, osl=osl, ttft_ms=ttft, tpot_ms=tpot, price=price,
                     price_multiplier=mult, demand_tps=demand, mode=mode)
        sc = _scenario(r, len(scenarios), "product", point, spec.time_limit_s, "axes")
        if keep is not None:
            try:
                ok = keep(sc.inputs)
            except safe_expr.ExprError as exc:
                raise InputError(f"{path}: field 'filter': {exc} (scenario {_label(sc)})") from None
            if not ok:
                filtered += 1
                continue
        seen.add(sc.scenario_id)
        scenarios.append(sc)
    duplicates = 0
    for k, e in enumerate(spec.extra_points):
        sc = _scenario(r, len(scenarios), "extra", e.model_dump(), spec.time_limit_s, f"extra_points[{k}]")
        if sc.scenario_id in seen:
            duplicates += 1
            continue
        seen.add(sc.scenario_id)
        scenarios.append(sc)
    if not scenarios:
        why = f" (the filter removed all {filtered})" if filtered else ""
        raise InputError(f"{path}: the study has no scenarios{why}")
    fingerprint = hashlib.sha256("\n".join(s.scenario_id for s in scenarios).encode()).hexdigest()[:16]
    return Study(spec.name, str(path), tuple(scenarios), size, filtered, duplicates, fingerprint)


def _label(sc: Scenario) -> str:
    i = sc.inputs
    return f"{i['workload']} on {i['topology']} x{i['domains']}, isl {i['isl']} osl {i['osl']}, mode {i['mode']}"


def load_study(path: Path | str) -> Study:
    """Read, validate and expand a study file. Raises InputError (one line) on
    anything wrong, before any planning."""
    p = Path(path)
    spec = validate(StudyFile, read_yaml(p).data, p)
    return expand(spec, p)
