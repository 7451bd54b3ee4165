"""Colocated pools on identical domains: one domain solved, its fill repeated.

Colocated pools keep prefill and decode balanced inside every domain, so the
model holds one class per domain and grows with the number of domains (at 8
racks it ran out of work before proving anything). For the cost objective
($/token) that growth buys nothing when the domains are identical:

* the $/token of a plan is the mediant of its domains' $/token (total $ over
  total tokens), never below the cheapest domain's, so the best ratio is the
  best ratio of ONE domain (``R*``);
* at ``R*`` every non-empty domain must itself run at exactly ``R*``, so the
  most tokens come from every domain holding the one-domain fill that serves
  the most tokens at ``R*`` (what the one-domain solve's tie-break finds);
* that fill is balanced and its pairs meet TTFT, and so is every copy of it.

So the plan of ``n`` identical domains is the one-domain plan times ``n``: the
same ratio, the same proof (or the same bound), ``n`` times the replicas. The
one-domain problem is solved on the full problem's integers so that ratios
compare exactly. Other cases (several domain kinds, a GPU budget, another
objective, several workloads or groups) keep the full model.
"""

from __future__ import annotations

from dataclasses import replace

from .blocks import Ints
from .problem import Problem


def repeatable(p: Problem) -> bool:
    """Colocated cost problem of one workload on identical domains, no GPU budget."""
    return (
        p.colocated and p.objective == "cost" and p.max_gpus is None and p.n_workloads <= 1
        and len({(c.group, c.capacity) for c in p.classes}) == 1 and sum(c.count for c in p.classes) > 1
    )


def one_domain(p: Problem) -> Problem:
    """The same problem on the first domain alone."""
    c = p.classes[0]
    return replace(p, classes=(replace(c, domains=c.domains[:1]),))


def repeat(p: Problem, sol, ints: Ints):
    """The one-domain solution ``sol`` copied into every domain of ``p``."""
    first = p.classes[0].domains[0]
    domains = [j for c in p.classes for j in c.domains]
    n = len(domains)
    pieces = tuple({j: d[first] for j in domains} if first in d else {} for d in sol.pieces)
    return replace(sol, replicas=tuple(r * n for r in sol.replicas), pieces=pieces, usd_per_s=sol.usd_per_s * n, tps=sol.tps * n)
