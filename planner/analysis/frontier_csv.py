"""The frontier points as flat CSV rows (``planner frontier --csv``)."""

from __future__ import annotations

from typing import Any

CSV_COLUMNS = (
    "topology", "frontier", "layout", "tp", "ep", "pp", "dp_attn", "batch", "concurrency", "gpus", "tpot_ms", "ttft_ms",
    "tokens_per_s_per_user", "output_tokens_per_s_per_gpu", "usd_per_mtok_all_in", "usd_per_mtok_output",
    "usd_per_mtok_input", "bottleneck", "meets_slo",
)


def frontier_rows(results) -> list[dict[str, Any]]:
    """Flat rows (one per frontier point of each analysis.FrontierResult) for CSV export."""
    return [
        {"frontier": kind, **pt}
        for r in results
        for kind, pts in (("throughput", r.throughput), ("cost", r.cost))
        for pt in pts
    ]
