"""KV-cache tiers below HBM, read from ``hardware/kv-tiers.yaml``.

A topology names the tiers its hosts have (``kv_tiers: [dgx-hopper-ddr5, ...]``);
each tier states per-host capacity, restore bandwidth and a holding price, with
a source for every number. Here they become per-GPU :class:`Tier` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from pydantic import Field, PositiveFloat, model_validator

from . import units
from .datafiles import read_yaml, resolve
from .errors import InputError
from .schema import Strict, validate

KINDS = ("host_dram", "local_flash", "network")


@dataclass(frozen=True)
class Tier:
    """One memory that can hold KV, as one GPU sees it (SI units)."""

    name: str
    kind: str  # hbm | host_dram | local_flash | network
    capacity_bytes_per_gpu: float  # what this GPU's share of the tier can hold (inf: sized to demand)
    read_bytes_per_s_per_gpu: float  # restore bandwidth into this GPU's HBM (inf for HBM itself)
    usd_per_byte_s: float  # holding price
    source: str = ""


def usd_per_byte_s(usd_per_gb_hour: float) -> float:
    """$/GB-hour (decimal GB) to $/(byte * second)."""
    return usd_per_gb_hour / units.GB / 3600.0


class TierFile(Strict):
    kind: Literal["host_dram", "local_flash", "network"]
    description: str = ""
    capacity_gb_per_host: Optional[PositiveFloat] = None  # omitted: a shared store sized to demand
    read_gb_per_s_per_host: PositiveFloat
    usd_per_gb_hour: PositiveFloat
    sources: dict[str, str]

    @model_validator(mode="after")
    def _sourced(self) -> "TierFile":
        keys = ["read_gb_per_s_per_host", "usd_per_gb_hour"] + (["capacity_gb_per_host"] if self.capacity_gb_per_host else [])
        for key in keys:
            if not self.sources.get(key, "").strip():
                raise ValueError(f"sources.{key} is required: every number needs its source")
        if self.capacity_gb_per_host is None and self.kind != "network":
            raise ValueError(f"capacity_gb_per_host is required for kind {self.kind} (only a network store may omit it)")
        return self


class TiersFile(Strict):
    tiers: dict[str, TierFile] = Field(min_length=1)


def tier_specs() -> dict[str, TierFile]:
    path = resolve("hardware", "kv-tiers")
    return dict(validate(TiersFile, read_yaml(path).data, path).tiers)


def load_tiers(names: list[str], gpus_per_host: int, where: str = "") -> tuple[Tier, ...]:
    """Per-GPU tiers for the named entries, in the order given."""
    if not names:
        return ()
    specs = tier_specs()
    out = []
    for name in names:
        if name not in specs:
            raise InputError(f"{where}field 'kv_tiers': unknown tier {name!r}; known: {', '.join(sorted(specs))}")
        s = specs[name]
        cap = s.capacity_gb_per_host * units.GB / gpus_per_host if s.capacity_gb_per_host else float("inf")
        out.append(Tier(name, s.kind, cap, s.read_gb_per_s_per_host * units.GB / gpus_per_host,
                        usd_per_byte_s(s.usd_per_gb_hour), s.sources.get("usd_per_gb_hour", "")))
    return tuple(out)
