"""Plan values as short human text, shared by every view of a plan (the
``planner`` tables, compare/frontier reports, the fleet summary)."""

from __future__ import annotations

from typing import Any


def layout_label(layout: dict[str, int]) -> str:
    """``TP2·DP4·EP8·PP2``: the degrees above 1 (TP always shown)."""
    parts = [f"TP{layout['tp']}"]
    for key, tag in (("dp_attn", "DP"), ("ep", "EP"), ("pp", "PP")):
        if layout.get(key, 1) > 1:
            parts.append(f"{tag}{layout[key]}")
    return "·".join(parts)


def num(x: Any, unit: str = "") -> str:
    """A number at a precision a reader takes in at a glance; ``-`` for none."""
    if x is None:
        return "-"
    if isinstance(x, float):
        if abs(x) >= 100:
            s = f"{x:,.0f}"
        elif abs(x) >= 1:
            s = f"{x:.2f}"
        else:
            s = f"{x:.4g}"
    else:
        s = f"{x:,}" if isinstance(x, int) else str(x)
    return f"{s} {unit}".rstrip()
