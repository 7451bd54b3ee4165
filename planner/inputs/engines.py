"""What a serving engine changes in the cost model (``hardware/engines.yaml``).

The fitted constants of ``hardware/efficiency.yaml`` stand for the kernels of
the engines most records ran (SGLang and TensorRT-LLM). An engine whose kernel
is measured slower on the same shape carries the difference here, as efficiency
fields with their sources, on the accelerators it was measured on;
``planner plan --engine`` and a record's stated engine apply them on top of the
topology's own factors.

    from planner.inputs.engines import with_engine
    eff = with_engine(topo.efficiency, "vllm", topo.accelerator.name)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from pydantic import Field

from .datafiles import read_yaml, resolve
from .hardware import Efficiency, EfficiencyFields, apply_fields
from .schema import Strict, validate


class EngineKernels(Strict):
    """An engine's measured kernel costs and the accelerators they were measured on."""

    accelerators: list[str] = Field(default=[], max_length=64)
    accelerators_source: str = ""
    efficiency: EfficiencyFields = EfficiencyFields()


class EnginesFile(Strict):
    """One block per engine (empty: the reference kernels)."""

    vllm: EngineKernels = EngineKernels()
    sglang: EngineKernels = EngineKernels()
    trtllm: EngineKernels = EngineKernels()


@lru_cache(maxsize=1)
def _engines() -> EnginesFile:
    path = resolve("hardware", "engines")
    return validate(EnginesFile, read_yaml(path).data, path)


def engine_kernels(engine: str) -> EngineKernels:
    """The measured kernel costs of ``engine`` (a name of planner.physics.engine_limits.ENGINES)."""
    return getattr(_engines(), engine)


def with_engine(eff: Efficiency, engine: Optional[str], accelerator: str) -> Efficiency:
    """``eff`` with ``engine``'s measured kernel costs applied where they were measured
    (``accelerator``: a name of hardware/accelerators); unchanged for None or elsewhere."""
    if engine is None:
        return eff
    kernels = engine_kernels(engine)
    if accelerator not in kernels.accelerators:
        return eff
    return Efficiency(**apply_fields({name: getattr(eff, name) for name in eff.__dataclass_fields__}, kernels.efficiency))
