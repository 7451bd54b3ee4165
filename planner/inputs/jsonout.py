"""JSON the planner prints or writes: always valid JSON (RFC 8259).

Python's json module writes ``NaN`` and ``Infinity`` for non-finite floats,
which no strict reader accepts. A non-finite number in an output means "no such
value" (a gap with no bound, an error with no case), so it is written as null.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (recursively)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:  # numpy scalar
        return finite(obj.item())
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    kw.setdefault("indent", 2)
    return json.dumps(finite(obj), allow_nan=False, **kw)
