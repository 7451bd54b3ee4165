"""The proof of a Dinkelbach step as a feasibility question.

With the incumbent's totals ``U`` ($/s) and ``T`` (tokens/s), integers, the
incumbent's $/token ``U/T`` is optimal exactly when no plan has
``usd*T - tps*U < 0``, i.e. ``<= -1``. A Dinkelbach step that minimises
``usd*T - tps*U`` proves it only once its LP bound closes over every scale of
every near-tied plan; asked as "is there a plan with ``usd*T - tps*U <= -1``?",
CP-SAT refutes it by propagation, often 10-40x sooner (64 HGX H100 nodes,
llama-3.1-70b split pools: 0.003 work units against 0.21).

The probe runs on a copy of the model and is capped at ``PROOF_PROBE_WORK``
units, so when it proves nothing the solve loop runs the step it would have
run anyway, from the same incumbent, and finds the same plan.
"""

from __future__ import annotations

PROOF_PROBE_WORK = 0.005  # work units, at most, per probe: a refutation takes ~0.001-0.004
PROBE_SHARE = 0.5  # of the work left, at most (as a Dinkelbach step)


def hint_model(m, values: list[int] | None) -> None:
    """``values`` (one per model variable, in order) as ``m``'s solution hint; none clears it."""
    m.ClearHints()
    if values:
        h = m.Proto().solution_hint
        h.vars.extend(range(len(values)))
        h.values.extend(values)


def no_better_ratio(mdl, steps, U: int, T: int, inc) -> bool:
    """True when CP-SAT proves that no plan of ``mdl`` has usd*T - tps*U <= -1
    (the incumbent ``inc``, with totals U and T, is then optimal)."""
    from ortools.sat.python import cp_model

    probe = mdl.m.clone()
    probe.clear_objective()
    probe.Add(mdl.usd * T - mdl.tps * U <= -1)
    hint_model(probe, inc)
    code, _ = steps.solve(probe, PROBE_SHARE, PROOF_PROBE_WORK, optional=True)
    return code == cp_model.INFEASIBLE
