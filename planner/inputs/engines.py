"""What a serving engine changes in the cost model (``hardware/engines.yaml``).

The fitted constants of ``hardware/efficiency.yaml`` stand for the kernels of
the engines most records ran (SGLang and TensorRT-LLM). An engine whose kernel
is measured slower on the same shape carries the difference here, as efficiency
fields with their sources; ``planner plan --engine`` and a record's stated engine
apply them on top of the topology's own factors.

    from planner.inputs.engines import with_engine
    eff = with_engine(topo.efficiency, "vllm")
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from .datafiles import read_yaml, resolve
from .hardware import Efficiency, EfficiencyFields, _apply
from .schema import Strict, validate


class EnginesFile(Strict):
    """One block of efficiency fields per engine (empty: the reference kernels)."""

    vllm: EfficiencyFields = EfficiencyFields()
    sglang: EfficiencyFields = EfficiencyFields()
    trtllm: EfficiencyFields = EfficiencyFields()


@lru_cache(maxsize=1)
def _engines() -> EnginesFile:
    path = resolve("hardware", "engines")
    return validate(EnginesFile, read_yaml(path).data, path)


def engine_fields(engine: str) -> EfficiencyFields:
    """The efficiency fields ``engine`` sets (a name of planner.physics.engine_limits.ENGINES)."""
    return getattr(_engines(), engine)


def with_engine(eff: Efficiency, engine: Optional[str]) -> Efficiency:
    """``eff`` with ``engine``'s measured kernel costs applied (None: unchanged)."""
    if engine is None:
        return eff
    merged = _apply({name: getattr(eff, name) for name in eff.__dataclass_fields__}, engine_fields(engine))
    return Efficiency(**merged)
