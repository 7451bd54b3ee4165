"""search.options.pareto against its definition, by brute force: a candidate
stays unless another is no worse in every column and either better in one or
an identical row with a smaller index; the front comes out in lexicographic
order of its rows (index last)."""

import numpy as np
import pytest

from planner.search.options import pareto


def brute(keys: np.ndarray, cand: list[int]) -> list[int]:
    def beats(a: int, b: int) -> bool:
        no_worse = (keys[a] <= keys[b]).all()
        return bool(no_worse and ((keys[a] < keys[b]).any() or a < b))

    kept = [c for c in cand if not any(beats(o, c) for o in cand if o != c)]
    return sorted(kept, key=lambda c: (tuple(keys[c]), c))


@pytest.mark.parametrize("seed", range(4))
def test_front_is_the_set_no_candidate_dominates(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n, d = int(rng.integers(0, 30)), int(rng.integers(1, 5))
        keys = rng.integers(0, 4, size=(n + 5, d)).astype(float)  # few values: many ties and identical rows
        if rng.random() < 0.3:
            keys[rng.integers(0, n + 5)] = rng.choice([np.inf, -np.inf])
        cand = [int(c) for c in rng.choice(n + 5, size=n, replace=False)]
        assert pareto(keys, cand) == brute(keys, cand)
