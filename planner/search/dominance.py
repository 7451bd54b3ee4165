"""Options that no best plan needs: their upper bound set to 0 before the model
is built (exact reductions: the optimum, and the tie-break's, are unchanged).

A plan over many domains offers the solver hundreds of options (759 pool
options at 16 NVL72 racks: a replica may span racks), and CP-SAT's work grows
with them, though a best plan uses two or three. Two exchange arguments
remove most of them; each works on the model's own integers (``Ints``), so it
is exact for the model, not approximately for the floats.

**Packing.** ``j`` replicas of option ``Y`` *fit into* a replica of ``X``
when their pieces can sit where ``X``'s pieces sat: a piece of ``X`` (``s_X``
GPUs, in one domain) holds ``s_X // s_Y`` pieces of ``Y``, so
``j * k_Y <= k_X * (s_X // s_Y)``. Pieces of one replica may share a domain,
so wherever a plan places ``X`` it can place the ``j`` copies of ``Y``, in the
same domains: no domain gets fuller, no GPU budget is exceeded, and a domain's
own balance (colocated pools) only has to account for the swap.

**Prefill, every objective.** ``X`` is dropped when ``j >= 1`` copies of a
prefill option ``Y`` of its workload and group fit into it, cost no more
(``j u_Y <= u_X``), supply at least its requests (``j rho_Y >= rho_X``) and
meet TTFT with every decode option ``X`` does (``Y``'s incompatible pairs are
among ``X``'s), and are not the same on both counts. Proof: in any plan swap
every replica of ``X`` for ``j`` of ``Y``. Placement holds (above), balance
holds (supply does not fall, in every domain too), no pair that misses TTFT
appears, tokens are unchanged and $ does not rise; so every objective and
every tie-break (most tokens, least $) is at least as good, and some best
plan avoids ``X``. The relation has no cycle: ``X -> Y -> ... -> X`` would
fit copies of ``X`` into ``X`` (so ``j = 1`` all round) with $ and supply
equal all round, which the strictness excludes; so swapping along a chain of
dropped options ends at kept ones.

**Decode and aggregated, $/token.** With a feasible plan of ratio ``U/T`` (the
solve loop's greedy incumbent, on the same integers), ``R* <= U/T``. ``X`` is
dropped when ``j >= 0`` copies of an option ``Y`` of its role, workload and
group (``t_Y > 0``) fit into it, with ``j u_Y <= u_X``, ``j t_Y <= t_X``,
``j rho_Y <= rho_X``, ``Y`` compatible wherever ``X`` is, and what the swap
gives up, ``a = u_X - j u_Y`` dollars for ``b = t_X - j t_Y`` tokens, costs
more than the incumbent: ``a T > b U``. (``j = 0``: ``X``'s own $/token is
worse than the incumbent's, prefill not even counted.) Proof: let ``P`` be a
best plan, ``(U*, T*)``, using ``X``. Swap one replica of ``X`` for ``j`` of
``Y``: it stays feasible (placement as above; balance because the need does
not rise; pairing because ``Y`` pairs wherever ``X`` did), and
``(U* - a) / (T* - b) < U* / T*`` because ``a / b > U/T >= U*/T*`` (for
``b = 0``: ``a > 0``, fewer $ for the same tokens). The new plan still serves
tokens: for ``j >= 1`` its ``Y`` do; for ``j = 0`` and ``T* = t_X`` the plan
``P`` was one replica of ``X`` plus prefill, whose ratio is at least
``u_X / t_X > U/T >= R*``, not a best plan. So no best plan uses ``X``: the
set of best plans is unchanged, and with it the tie-break's optimum.

The prefill rule needs no incumbent, so it runs first and its options leave
the problem (:func:`reduced`, with prefill options no replica of which fits
anywhere): the greedy and the model never see them, and the answer is mapped
back with zero replicas for them (a prefill option has no tokens, so the
coefficients the solve loop derives from the serving options are unchanged).
The decode rule needs the greedy's plan; its options keep their place with an
upper bound of 0 (:func:`prune`). Options the incumbent itself uses are never
dropped, so it stays a complete hint. Tests: tests/test_dominance.py (exhaustive search over the unreduced
problem gives the same optimum and tie-break).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .blocks import Ints
from .problem import AGG, DECODE, PREFILL, Problem


def fit_copies(x, y) -> int:
    """How many replicas of option ``y`` fit into the pieces of one of ``x``."""
    return (x.chunks * (x.piece // y.piece)) // y.chunks if y.piece <= x.piece else 0


@dataclass(frozen=True)
class Reduced:
    """A problem without some prefill options, on the full problem's integers."""

    problem: Problem
    ints: Ints
    keep: tuple[int, ...]  # the full problem's index of every option kept
    n: int  # options of the full problem

    def expand(self, sol):
        """A solution of the reduced problem as one of the full problem (0 replicas for the rest)."""
        reps, pieces = [0] * self.n, [{} for _ in range(self.n)]
        for new, old in enumerate(self.keep):
            reps[old], pieces[old] = sol.replicas[new], sol.pieces[new]
        return replace(sol, replicas=tuple(reps), pieces=tuple(pieces))


def reduced(p: Problem, ints: Ints, ub: list[int]) -> Reduced | None:
    """``p`` without the prefill options no best plan needs (copies of another
    replace them) or can hold (bound 0); None when there are none."""
    out = list(ub)
    _prefill(p, ints, out, set(), _incompatible(p))
    drop = {i for i, o in enumerate(p.options) if o.role == PREFILL and out[i] == 0}
    if not drop:
        return None
    keep = tuple(i for i in range(len(p.options)) if i not in drop)
    new = {old: k for k, old in enumerate(keep)}
    q = replace(p, options=tuple(p.options[i] for i in keep),
                incompatible=frozenset((new[a], new[b]) for a, b in p.incompatible if a in new and b in new))
    pick = lambda xs: tuple(xs[i] for i in keep)  # noqa: E731
    return Reduced(q, replace(ints, tps=pick(ints.tps), usd=pick(ints.usd), rps=pick(ints.rps)), keep, len(p.options))


def _incompatible(p: Problem) -> dict[int, set[int]]:
    bad: dict[int, set[int]] = {}
    for a, b in p.incompatible:
        bad.setdefault(a, set()).add(b)
        bad.setdefault(b, set()).add(a)
    return bad


def prune(p: Problem, ints: Ints, ub: list[int], incumbent: list[int] | None) -> list[int]:
    """``ub`` with every option no best plan needs set to 0 (see the module docstring)."""
    used = set(i for i, n in enumerate(incumbent or ()) if n)
    bad = _incompatible(p)
    out = list(ub)
    _prefill(p, ints, out, used, bad)
    if p.objective == "cost" and incumbent is not None:
        usd = sum(c * n for c, n in zip(ints.usd, incumbent))
        tps = sum(t * n for t, n, o in zip(ints.tps, incumbent, p.options) if o.role != PREFILL)
        if tps > 0:
            _serving(p, ints, out, used, bad, usd, tps)
    return out


def _peers(p: Problem, out: list[int], roles: tuple[str, ...]) -> dict[tuple, list[int]]:
    """Options still offered, by (role, workload, group)."""
    by: dict[tuple, list[int]] = {}
    for i, o in enumerate(p.options):
        if o.role in roles and out[i] > 0:
            by.setdefault((o.role, o.workload, o.group), []).append(i)
    return by


def _prefill(p: Problem, ints: Ints, out: list[int], used: set[int], bad: dict[int, set[int]]) -> None:
    """Prefill options that copies of a cheaper-per-request one replace (any objective)."""
    opts = p.options
    for key, members in _peers(p, out, (PREFILL,)).items():
        for x in members:
            if x in used:
                continue
            X = opts[x]
            for y in members:
                if y == x or out[y] == 0 or not bad.get(y, set()) <= bad.get(x, set()):
                    continue
                j = fit_copies(X, opts[y])
                if j >= 1 and j * ints.usd[y] <= ints.usd[x] and j * ints.rps[y] >= ints.rps[x] \
                        and (j * ints.usd[y], j * ints.rps[y]) != (ints.usd[x], ints.rps[x]):
                    out[x] = 0
                    break


def _serving(p: Problem, ints: Ints, out: list[int], used: set[int], bad: dict[int, set[int]], U: int, T: int) -> None:
    """Decode and aggregated options no plan at least as good as the incumbent (U/T) uses."""
    opts = p.options
    for i, o in enumerate(opts):  # j = 0: worse $/token than the incumbent on its own
        if o.role in (AGG, DECODE) and out[i] > 0 and i not in used and ints.usd[i] * T > ints.tps[i] * U:
            out[i] = 0
    for key, members in _peers(p, out, (AGG, DECODE)).items():
        for x in members:
            if x in used:
                continue
            X = opts[x]
            for y in members:
                if y == x or out[y] == 0 or ints.tps[y] <= 0 or not bad.get(y, set()) <= bad.get(x, set()):
                    continue
                if _swap_gains(ints, x, y, fit_copies(X, opts[y]), U, T):
                    out[x] = 0
                    break


def _swap_gains(ints: Ints, x: int, y: int, most: int, U: int, T: int) -> bool:
    """Some 1 <= j <= most copies of y, no more $, tokens or need than x, give up
    tokens at a worse $/token than U/T."""
    for j in range(1, most + 1):
        a, b = ints.usd[x] - j * ints.usd[y], ints.tps[x] - j * ints.tps[y]
        if a < 0 or b < 0 or ints.rps[x] - j * ints.rps[y] < 0:
            return False  # more copies only cost, serve and need more
        if a * T > b * U:
            return True
    return False
