"""Speculative decoding and multi-token prediction: tokens per step and its price.

A draft proposes ``k`` tokens; one verification step of the target model checks
all of them at once and keeps the longest accepted run plus one token of its
own. With a per-token acceptance rate ``a`` (each draft token accepted given its
predecessors were), the mean tokens a step emits are

    n(a, k) = 1 + a + a^2 + ... + a^k = (1 - a^(k+1)) / (1 - a)       [tokens/step]

(k = 1: ``1 + a``). The price: the verification step runs ``k + 1`` query tokens
per sequence through every GEMM and every attention core (the compute of a batch
``k + 1`` times wider) while reading each sequence's KV and the weights once;
the draft itself costs ``k`` passes of its own (an MTP head: one extra layer and
the output head at the plain batch; an n-gram lookup: nothing on the GPU).

Pure functions on floats.
"""

from __future__ import annotations

METHODS = ("mtp", "ngram")


def tokens_per_step(acceptance: float, draft_tokens: int) -> float:
    """Mean tokens one verification step emits (the bonus token included)."""
    if draft_tokens <= 0:
        return 1.0
    if acceptance >= 1.0:
        return float(draft_tokens + 1)
    return (1.0 - acceptance ** (draft_tokens + 1)) / (1.0 - acceptance)


def verify_width(draft_tokens: int) -> int:
    """Query tokens per sequence in one verification step."""
    return max(0, draft_tokens) + 1


def draft_passes(method: str, draft_tokens: int) -> int:
    """Sequential draft passes per step that run on the GPU (n-gram lookups do not)."""
    return draft_tokens if method == "mtp" else 0
