"""The pieces of a plan document (:mod:`planner.plan.document`): inputs, replicas,
metrics, memory, time breakdown, alternatives, solver report, pools.

Units are in the field names (``_ms``, ``_gb``, ``usd_per_hour``); every number is
finite or null (JSON has no NaN or Infinity).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

Num = Annotated[float, Field(allow_inf_nan=False)]


def finite_or_none(value: Any) -> Any:
    """A bound or gap that does not exist is written as null, never ±Infinity/NaN."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


OptNum = Optional[Num]  # null where a figure does not apply; NaN/Infinity are refused
MaybeNum = Annotated[Optional[Num], BeforeValidator(finite_or_none)]  # bounds/gaps only: ±Infinity/NaN -> null


def d(description: str, default: Any = ...) -> Any:
    """A field with its description (every property of the schema has one)."""
    return Field(default, description=description)


class Part(BaseModel):
    # defer_build: a model's validator is built when first used, so writing a plan
    # never pays for the fleet models and vice versa (start-up time of planner plan)
    model_config = ConfigDict(extra="forbid", defer_build=True)


# --------------------------------------------------------------------------- inputs


class WorkloadRef(Part):
    name: str = d("Workload name (shipped name or the file's stem).")
    path: str = d("The workload file read.")
    sha256: str = d("SHA-256 of that file's bytes.")
    family: Optional[str] = d("Model family read from its architecture ('deepseek', 'llama', 'qwen3-moe' ...; 'unknown' for a "
                              "workload file of its own); what the fidelity block is keyed on. Null before schema 1.2.", None)


class TopologyRef(Part):
    name: str = d("Topology name.")
    path: str = d("The topology file read.")
    sha256: str = d("SHA-256 of that file's bytes.")
    domain_unit: str = d("What a scale-up domain is called: node, server, rack or pod.")
    gpus_per_host: int = d("GPUs per host (one machine, one launch command per node of a replica).")
    domains: int = d("Scale-up domains in the topology as planned (after --nodes/--racks).")
    gpus: int = d("GPUs in the topology, available or not.")
    unavailable_gpus: list[int] = d("GPU ids that are failed or reserved and were not used.")
    accelerator: str = d("Accelerator name (hardware/accelerators/*.yaml).")


class Slo(Part):
    ttft_ms: Num = d("Time-to-first-token limit, ms.")
    tpot_ms: Num = d("Time-per-output-token limit, ms.")


class Traffic(Part):
    isl: int = d("Input (prompt) tokens per request.")
    osl: int = d("Output tokens per request.")
    kv_len: int = d("Context held in the KV cache per sequence, tokens.")
    cached_prefix_tokens: OptNum = d("Mean prompt tokens per request served from the prefix cache (isl x prefix_hit_rate).", None)
    prefix_hit_rate: OptNum = d("Share of input tokens served from the prefix cache (0..1): no prefill compute, still read and held.", None)
    prefix_hold_s: OptNum = d("Seconds a cached prefix waits before its reuse; null or 0 when not stated.", None)


class Precision(Part):
    weights: str = d("Weight precision shorthand (bf16, fp16, fp8, int8, fp4); weight_formats gives each component's format.")
    weight_formats: Optional[dict[str, str]] = d(
        "Storage format of each weight component (attention, dense_ffn, routed_experts, shared_experts, embeddings), "
        "as the checkpoint ships it: an AWQ import reads weights bf16 with int4_g128 here; null in documents written before it.", None)
    kv_cache: str = d("KV-cache precision.")
    activations: str = d("Activation precision.")


class Speculative(Part):
    method: str = d("Draft method: mtp (the model's multi-token-prediction heads) or ngram.")
    draft_tokens: int = d("Draft tokens proposed per verification step.")
    acceptance_rate: Num = d("Share of draft tokens the target model accepts (per token, given its predecessors).")
    tokens_per_step: Num = d("Mean tokens a verification step emits: (1 - a^(k+1)) / (1 - a).")


class Inputs(Part):
    workload: WorkloadRef = d("The workload file.")
    topology: TopologyRef = d("The topology file and the inventory planned on.")
    slo: Slo = d("Latency limits.")
    traffic: Traffic = d("Request shape.")
    precision: Precision = d("Number formats.")
    speculative: Optional[Speculative] = d("Speculative decoding the plan was costed with; null when off.", None)
    price_usd_per_gpu_hour: Num = d("Price of one GPU-hour, USD.")
    objective: Optional[str] = d("What the search optimised: cost ($/token), throughput, or demand (least $ for --demand-tps).", None)
    demand_tps: OptNum = d("Output tokens/s the plan must serve (--demand-tps), null when not asked.", None)
    max_gpus: Optional[int] = d("GPU budget (--gpus), null when the whole topology may be used.", None)
    engine: Optional[str] = d("Engine whose launchable layouts the search kept to (--engine: vllm, sglang, trtllm); absent when any.", None)
    mode: str = d("Serving mode of this plan: aggregated or disaggregated.")
    requested_mode: Optional[str] = d("The mode asked for when it differs from mode's value (auto).", None)
    batch: Optional[int] = d("Evaluation: the batch asked for (--batch), null for the largest feasible.", None)


# --------------------------------------------------------------------------- replicas


class Layout(Part):
    tp: int = d("Tensor-parallel degree of attention (and dense layers).")
    ep: int = d("Expert-parallel degree (1 for dense models).")
    pp: int = d("Pipeline-parallel stages.")
    dp_attn: int = d("Data-parallel attention groups per stage.")


class Stage(Part):
    stage: int = d("Pipeline stage index, from 0.")
    gpu_ids: list[int] = d("GPU ids of this stage (tp x dp_attn of them).")
    tp_groups: list[list[int]] = d("GPU ids of each attention tensor-parallel group.")
    ep_group: list[int] = d("GPU ids of the expert-parallel group (empty without experts).")
    expert_tp_groups: list[list[int]] = d("GPU ids of each expert tensor-parallel group (empty when 1 GPU each).")
    domains: Optional[list[int]] = d("Scale-up domains the stage spans.", None)
    hosts: Optional[list[int]] = d("Hosts the stage spans (GPU id // gpus_per_host).", None)
    tp_group_domains: Optional[list[list[int]]] = d("Domains each TP group spans.", None)
    ep_group_domains: Optional[list[int]] = d("Domains the EP group spans.", None)


class ReplicaMetrics(Part):
    tpot_ms: OptNum = d("Time per output token, ms; null for a prefill replica.")
    ttft_ms: OptNum = d("Time to first token, ms.")
    output_tokens_per_s: Num = d("Output tokens/s of this replica (0 for prefill).")


class Replica(Part):
    id: int = d("Replica index, from 0.")
    layout: Layout = d("Parallel layout.")
    batch: int = d("Sequences per step of one stage (prompts per pass for prefill).")
    concurrency: int = d("Sequences in flight: batch x pipeline stages.")
    gpu_ids: list[int] = d("GPU ids in stage order (topology-wide ids).")
    domains: list[int] = d("Scale-up domains the replica spans.")
    stages: list[Stage] = d("Pipeline stages with their TP and EP groups.")
    metrics: ReplicaMetrics = d("Latency and rate of this replica.")
    role: Optional[str] = d("Disaggregated plans: prefill or decode.", None)
    hosts: Optional[list[int]] = d("Hosts the replica spans.", None)


# --------------------------------------------------------------------------- metrics


class OptionMetrics(Part):
    gpus_used: int = d("GPUs in use.")
    tpot_ms: OptNum = d("Time per output token, ms (worst replica).")
    ttft_ms: OptNum = d("Time to first token, ms (worst replica).")
    output_tokens_per_s: OptNum = d("Output tokens/s.")
    output_tokens_per_s_per_gpu: OptNum = d("Output tokens/s per GPU.")
    input_tokens_per_s: OptNum = d("Prompt tokens/s processed.")
    tokens_per_s_per_user: OptNum = d("Output tokens/s one user sees (1 / TPOT), worst replica.")
    usd_per_mtok_output: OptNum = d("USD per million output tokens (decode share of the cost).")
    usd_per_mtok_input: OptNum = d("USD per million input tokens (prefill share); null when no input is processed.")
    usd_per_mtok_all_in: OptNum = d("USD per million output tokens, all GPU time included.")
    usd_per_hour: OptNum = d("USD per hour of the GPUs in use.")


class _Count(Part):
    replicas: int = d("Replicas in the plan.")


class Metrics(OptionMetrics, _Count):  # fields: replicas, then the option metrics
    concurrency: Optional[int] = d("Evaluation: sequences in flight in the one replica.", None)


class _Which(Part):
    role: Optional[str] = d("Disaggregated plans: the pool this alternative is for (decode).", None)
    layout: Layout = d("The alternative layout.")
    batch: int = d("Its best batch.")
    bottleneck: str = d("Largest term of its step.")


class Alternative(OptionMetrics, _Which):  # fields: role, layout, batch, bottleneck, then metrics
    pass


class Memory(Part):
    weights: OptNum = d("Weights, GB per GPU.")
    kv_cache: OptNum = d("KV cache at the plan's batch, GB per GPU.")
    activations: OptNum = d("Activations, GB per GPU.")
    reserve: OptNum = d("Runtime reserve (CUDA context, fragmentation), GB per GPU.")
    total: OptNum = d("Sum of the above, GB per GPU.")
    capacity: OptNum = d("Usable HBM, GB per GPU.")


class TimeBreakdown(Part):
    stage_step: OptNum = d("One pipeline stage's step, ms.")
    compute: OptNum = d("Matrix math at the achievable FLOP/s, ms.")
    memory_weights: OptNum = d("Reading weights from HBM, ms.")
    memory_kv: OptNum = d("Reading the KV cache from HBM, ms.")
    comm_tp_allreduce: OptNum = d("Tensor-parallel all-reduce, ms.")
    comm_moe_dispatch_combine: OptNum = d("Expert-parallel dispatch and combine, ms.")
    comm_pp_hops: OptNum = d("Pipeline hops between stages, ms.")
    overhead: OptNum = d("Fixed per-step overhead (kernel launches, scheduling), ms.")
    output_head: OptNum = d("Output head (vocabulary projection), ms.")
    prefill: OptNum = d("Prefill of one request's prompt, ms.")
    queue: OptNum = d("Expected wait before prefill starts, ms.")
    kv_transfer: OptNum = d("Disaggregated: moving a request's KV cache from prefill to decode, ms.", None)


class Solver(BaseModel):
    """Further keys may be added by new search strategies; each is documented in docs/cli.md."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    status: Optional[str] = d("optimal, feasible (time limit hit) or infeasible.", None)
    objective: Optional[str] = d("cost, throughput or demand.", None)
    objective_value: MaybeNum = d("Value of the objective at the plan ($/Mtok, tokens/s or $/s).", None)
    bound: MaybeNum = d("Proven bound on the objective; null when none is known.", None)
    gap: MaybeNum = d("Relative gap between objective_value and bound (0 = optimal); null without a bound.", None)
    wall_time_s: Optional[Num] = d("Wall-clock seconds spent solving (the one non-deterministic field).", None)
    stopped_by: Optional[str] = d("What ended the search: proof, work limit (the deterministic budget of --time-limit) "
                                  "or wall-clock limit (--time-limit, which covers the whole command, ran out first: the machine was too slow; "
                                  "the answer may differ between runs).", None)
    work_budget: Optional[Num] = d("The search's budget in CP-SAT deterministic work units (about a second of one core "
                                   "each; from --time-limit).", None)
    solves: Optional[int] = d("CP-SAT solves run (Dinkelbach steps, tie-break).", None)
    options_considered: Optional[int] = d("Layouts rated by the cost model.", None)
    decode_batch_fractions: Optional[list[Num]] = d("Disaggregated: fractions of each decode layout's largest batch offered.", None)
    options_to_solver: Optional[int] = d("Options handed to the solver.", None)
    dinkelbach_iterations: Optional[int] = d("Disaggregated: ratio-minimisation steps.", None)
    kv_transfer_link: Optional[str] = d("Disaggregated: scale_up or scale_out link carrying the KV cache.", None)
    modes_compared: Optional[dict[str, Union[Num, str]]] = d(
        "mode auto: each mode's objective value, or why it is infeasible.", None)


# --------------------------------------------------------------------------- pools


class TtftParts(Part):
    queue: OptNum = d("Wait before prefill, ms.")
    prefill: OptNum = d("Prefill pass, ms.")
    kv_transfer: OptNum = d("KV-cache transfer to decode, ms.")


class PoolOption(Part):
    layout: Layout = d("Layout of these replicas.")
    replicas: int = d("Replicas of this layout.")
    gpus_each: int = d("GPUs per replica.")
    batch: int = d("Prompts per pass (prefill) or sequences per step (decode).")
    concurrency: Optional[int] = d("Decode: sequences in flight per replica.", None)
    tokens_per_pass: Optional[int] = d("Prefill: prompt tokens per pass.", None)
    requests_per_s_each: OptNum = d("Requests/s one replica completes.")
    input_tokens_per_s_each: OptNum = d("Prefill: prompt tokens/s per replica.", None)
    output_tokens_per_s_each: OptNum = d("Decode: output tokens/s per replica.", None)
    ttft_ms: OptNum = d("Prefill: time to first token, ms.", None)
    ttft_breakdown_ms: Optional[TtftParts] = d("Prefill: TTFT split, ms.", None)
    tpot_ms: OptNum = d("Decode: time per output token, ms.", None)
    memory_per_gpu_gb: OptNum = d("HBM per GPU, GB.")
    usd_per_hour_each: OptNum = d("USD per hour per replica.")


class Pool(Part):
    layout: Layout = d("Layout holding most of the pool's GPUs.")
    replicas: int = d("Replicas in the pool.")
    gpus: int = d("GPUs in the pool.")
    batch: int = d("Batch of the main layout.")
    kv_transfer_link: Optional[str] = d("Prefill: link the KV cache crosses (scale_up or scale_out).", None)
    kv_bytes_per_request: OptNum = d("Prefill: KV-cache bytes a request hands to decode.", None)
    options: list[PoolOption] = d("Every layout in the pool.")


class Balance(Part):
    prefill_requests_per_s: OptNum = d("Requests/s the prefill pool completes.")
    decode_requests_per_s: OptNum = d("Requests/s the decode pool completes.")
    prefill_over_decode: OptNum = d("Their ratio (>= 1: prefill keeps up).")


class Pools(Part):
    prefill: Pool = d("The prefill pool.")
    decode: Pool = d("The decode pool.")
    balance: Balance = d("Request rates of the two pools.")


# --------------------------------------------------------------------------- serving economics


class BreakEven(Part):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    from_: str = Field(..., alias="from", description="Cheaper tier below the break-even hold time.")
    to: str = d("Cheaper tier above it.")
    hold_s: OptNum = d("Hold time at which the two cost the same, s.")


class Fidelity(Part):
    scope: str = d("Which published measurements speak for this plan: its model family on its accelerator, else its accelerator, else none.")
    cases: int = d("Published cases in that scope the error target covers (planner validate).")
    median_abs_error: OptNum = d("Median |predicted / measured - 1| over those cases; null when there are none.")
    worst_factor: OptNum = d("Largest max(pred/meas, meas/pred) over those cases; null when there are none.")
    optimism: OptNum = d("Median (predicted speed / measured speed) - 1: positive, the model promised more than was measured.")
    blind_spot: bool = d("True when the scope holds declared outliers: the model is off there for a reason it does not model.")
    note: str = d("One line for the reader.")
    modes: Optional[list[str]] = d("What those cases measure (aggregated, decode, static, latency, prefill, ttft).", None)


class ServingEconomics(Part):
    prefix_hit_rate: OptNum = d("Share of input tokens served from the prefix cache (no prefill compute; decode still reads and holds them).")
    cached_prefix_tokens: OptNum = d("Mean prompt tokens per request served from the cache (isl x prefix_hit_rate).")
    prefix_hold_s: OptNum = d("Seconds a cached prefix waits; null when not stated.")
    usd_per_mtok_input_marginal: OptNum = d("Prefill dollars over the input tokens actually computed, per million.")
    usd_per_mtok_prefill_compute_only: OptNum = d("Every prefill FLOP at the calibrated prefill rate, USD per million input tokens.")
    usd_per_mtok_input_cache_miss: OptNum = d("Price of a computed (cache-miss) input token: the larger of the two above, per million.")
    prefix_kv_bytes: OptNum = d("KV-cache bytes of the prefix that waits.")
    tier_break_evens: list[BreakEven] = d("Hold times at which one storage tier becomes cheaper than the next.")
    prefix_tier: Optional[str] = d("Tier the cached prefixes wait in at the hold time.", None)
    prefix_held_bytes_per_gpu: OptNum = d("Prefix bytes waiting at once per GPU (Little's law).", None)
    prefix_restore_s: OptNum = d("Seconds to bring one prefix back from that tier.", None)
    usd_per_mtok_input_cache_hit: OptNum = d("Price of a cached input token (hold and restore), per million; null without hits.", None)
