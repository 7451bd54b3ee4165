"""Load on the busiest expert-parallel GPU: how far above the mean the straggler sits.

Experts are spread over ``ep`` groups of GPUs, ``E / ep`` experts each. One MoE
layer of a step sends ``N = T k`` routed token copies; a group's share of them
varies for two reasons:

* **expert popularity.** Each expert draws a share ``p_e`` of the copies; across
  experts the shares have a coefficient of variation ``cv`` (a property of the
  model and its inputs: ``moe_expert_load_cv``). A group sums ``n = E / ep``
  such shares, so its load varies by ``cv / sqrt(n)`` of the mean;
* **sampling.** A step routes a finite number of copies: a group expecting ``mu``
  of them gets ``mu +- sqrt(mu)`` (counting noise), ``1 / sqrt(mu)`` of the mean.

The two add in quadrature, ``s = sqrt(cv^2 / n + 1 / mu)``, and the busiest of ``ep``
groups carries ``1 + z(ep) s`` times the mean, where ``z(n)`` is the expected largest
of ``n`` standard normal draws (0 for one group, 1/sqrt(pi) = 0.564 for two, 1.029 for
four, 1.424 for eight, 2.39 for 72). Every copy lands in some group, so the groups'
loads are independent draws less their common mean, which leaves the expected
maximum deviation at ``z(ep) s``. No group can take more than every copy, so the
factor is capped at ``ep``.

The factor grows with the number of groups and with fewer experts per group: DEP8
with 16 experts per GPU straggles more than DEP4 with 64 (order statistics of
sums; e.g. H. A. David and H. N. Nagaraja, "Order Statistics", 3rd ed., Wiley
2003, section 4.5 for the expected maxima of normal samples).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def _normal_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature grid, standard normal density and its CDF (trapezoid rule), computed once."""
    x = np.linspace(-10.0, 10.0, 20001)
    phi = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    cdf = np.concatenate(([0.0], np.cumsum((phi[1:] + phi[:-1]) * 0.5 * (x[1] - x[0]))))
    arrays = (x, phi, np.clip(cdf, 0.0, 1.0))
    for a in arrays:
        a.setflags(write=False)  # shared by every call: never modified in place
    return arrays


@lru_cache(maxsize=512)
def _expected_max_normal(n: int) -> float:
    """E[max of n iid N(0, 1)] = integral of x * n phi(x) Phi(x)^(n-1) dx, by quadrature."""
    if n <= 1:
        return 0.0
    x, phi, cdf = _normal_grid()
    dens = n * phi * np.power(cdf, n - 1)
    return float(np.trapezoid(x * dens, x) if hasattr(np, "trapezoid") else np.trapz(x * dens, x))


def expected_max_normal(n) -> np.ndarray:
    """``z(n)`` elementwise over an array of group counts (rounded to whole groups)."""
    arr = np.asarray(n, dtype=np.float64)
    groups, where = np.unique(np.rint(arr), return_inverse=True)  # a few distinct counts over many candidates
    z = np.array([_expected_max_normal(int(g)) for g in groups])
    return z[where].reshape(arr.shape)


def busiest_group_factor(ep, n_experts: int, copies, cv: float) -> np.ndarray:
    """Routed copies on the busiest of ``ep`` expert groups over the mean, for ``copies``
    routed copies per layer in all (``T k``) and expert-share variation ``cv``.
    1 when every GPU holds every expert (``ep = 1``)."""
    ep_a = np.maximum(np.asarray(ep, dtype=np.float64), 1.0)
    per_group = n_experts / ep_a
    mu = np.maximum(np.asarray(copies, dtype=np.float64) / ep_a, 1e-12)
    s = np.sqrt(cv * cv / per_group + 1.0 / mu)
    return np.minimum(1.0 + expected_max_normal(ep_a) * s, ep_a)
