"""The fleet plan document (``kind: fleet``): several workloads with demands on an
inventory of groups, each group a topology times a count of domains. GPU ids are
local to their group (0 .. domains x domain size - 1)."""

from __future__ import annotations

from typing import Literal, Optional

from .plan_parts import Fidelity, Layout, MaybeNum, Num, OptNum, Part, Precision, Slo, Traffic, d


class WorkloadReplicas(Part):
    group: str = d("Inventory group the replicas run on.")
    count: int = d("Replicas of this layout in that group.")
    gpus_each: int = d("GPUs per replica.")
    output_tokens_per_s_each: OptNum = d("Output tokens/s per replica.")
    layout: Layout = d("Parallel layout.")
    batch: int = d("Sequences per step of one stage.")
    tpot_ms: OptNum = d("Time per output token, ms.")
    ttft_ms: OptNum = d("Time to first token, ms.")
    usd_per_mtok_all_in: OptNum = d("USD per million output tokens, all GPU time included.")
    role: Optional[str] = d("Disaggregated demands: prefill or decode.", None)


class GroupFidelity(Fidelity):
    group: str = d("Inventory group whose accelerator the published cases were matched on.")


class FleetWorkload(Part):
    name: str = d("Demand name (demands file).")
    workload: str = d("Workload served (shipped name or file).")
    demand_output_tokens_per_s: Num = d("Output tokens/s asked for.")
    served_output_tokens_per_s: OptNum = d("Output tokens/s the plan serves.")
    fraction_served: OptNum = d("Served over demanded.")
    usd_per_hour: OptNum = d("USD per hour of this demand's replicas.")
    usd_per_mtok_all_in: OptNum = d("USD per million output tokens; null when nothing is served.")
    replicas: list[WorkloadReplicas] = d("Replicas by group and layout.")
    unservable: Optional[str] = d("Why no group can serve this demand within its SLOs.", None)
    mode: Optional[str] = d("Serving mode asked for: aggregated or disaggregated.", None)
    traffic: Optional[Traffic] = d("Request shape after the demand's overrides (needed to export launch commands).", None)
    precision: Optional[Precision] = d("Number formats of the workload.", None)
    slo: Optional[Slo] = d("Latency limits after the demand's overrides.", None)
    fidelity: Optional[list[GroupFidelity]] = d("Per group serving it: what the cost model was checked against for this "
                                                "model family on that group's accelerator (docs/fidelity.md).", None)


class FleetGroup(Part):
    name: str = d("Group name (inventory file).")
    topology: str = d("Topology of one domain of the group.")
    domains: int = d("Domains (racks or nodes) in the group.")
    domain_size: int = d("GPUs per domain.")
    gpus: int = d("GPUs in the group, available or not.")
    unavailable: int = d("GPUs failed or reserved.")
    free: int = d("GPUs available.")
    used: int = d("GPUs the plan uses.")
    utilisation: OptNum = d("Used over free; null when nothing is free.")
    price_usd_per_gpu_hour: Num = d("Price of one GPU-hour in this group, USD.")
    unavailable_gpu_ids: list[int] = d("Group-local ids of the unavailable GPUs.")
    gpus_per_host: Optional[int] = d("GPUs per host of the group's topology (for launch commands).", None)


class FleetReplica(Part):
    id: int = d("Replica index, from 0, across the fleet.")
    demand: str = d("Demand this replica serves.")
    group: str = d("Inventory group it runs on.")
    layout: Layout = d("Parallel layout.")
    batch: int = d("Sequences per step of one stage.")
    domains: list[int] = d("Group-local domains it spans.")
    gpu_ids: list[int] = d("Group-local GPU ids in stage order.")
    role: Optional[str] = d("Disaggregated demands: prefill or decode.", None)


class FleetModel(Part):
    options: int = d("Options (layout x group x workload) handed to the solver.")
    classes: int = d("Domain classes (domains with the same free GPUs).")
    layouts_rated: int = d("Layouts rated by the cost model.")
    domains: int = d("Domains in the model.")
    stopped_by: Optional[str] = d("What ended the search: proof, work limit or wall-clock limit (--time-limit ran out; the answer may differ between runs).", None)
    work_budget: Optional[Num] = d("The search's budget in CP-SAT deterministic work units (from --time-limit).", None)
    solves: Optional[int] = d("CP-SAT solves run.", None)


class FleetDocument(Part):
    """A fleet plan: replica counts and placement for every demand at least $/hour."""

    schema_version: str = d("Format version of this document (major.minor).")
    kind: Literal["fleet"] = d("Document kind: a fleet plan.")
    status: str = d("optimal, feasible (time limit; see gap), partial (some demand unservable), "
                    "partial-unproven or unknown (nothing found in time).")
    usd_per_hour: OptNum = d("USD per hour of every replica in the plan.")
    bound_usd_per_hour: MaybeNum = d("Proven lower bound on that cost; null when none is known.")
    gap: MaybeNum = d("(cost - bound) / cost; 0 when optimal, null without a bound. A partial plan: "
                      "(fraction bound - fraction met) / fraction bound.")
    fraction_met: OptNum = d("Common fraction of every demand served.")
    fraction_bound: MaybeNum = d("Proven upper bound on that fraction.")
    wall_s: Num = d("Wall-clock seconds spent (the one non-deterministic field).")
    time_limit_s: Num = d("The solver's time limit, s.")
    workloads: list[FleetWorkload] = d("Every demand: what is served, at what cost, by which replicas.")
    groups: list[FleetGroup] = d("Every inventory group and how much of it is used.")
    binding: list[str] = d("What stops more demand from being served (empty when all is met).")
    replicas: list[FleetReplica] = d("Every replica with its group-local GPU ids.")
    model: FleetModel = d("Size of the solver model.")
    engine: Optional[str] = d("Engine whose launchable layouts the search kept to (--engine); absent when any.", None)
