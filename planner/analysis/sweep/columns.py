"""The columns of a sweep's results, in order: name, Arrow type, meaning.

One table: docs/sweep.md lists the same columns (a test checks), the Parquet
schema is built from it, the report reads it.
"""

from __future__ import annotations

SCHEMA_VERSION = "1"

# (name, arrow type name, description); types: string, int64, float64
COLUMNS: tuple[tuple[str, str, str], ...] = (
    # --- the scenario (effective inputs: file defaults filled in)
    ("scenario_id", "string", "Hash of what the scenario asks; stable across reruns of the same study."),
    ("scenario_index", "int64", "Position in the study (product order, then extra points); rows are sorted by it."),
    ("source", "string", "product (from the axes) or extra (an extra point)."),
    ("workload", "string", "Workload as written in the study."),
    ("topology", "string", "Topology as written in the study."),
    ("accelerator", "string", "Accelerator of the topology (the GPU generation)."),
    ("domain_unit", "string", "What a domain is: rack, node, pod or server."),
    ("domains", "int64", "Scale-up domains (racks or nodes) in the inventory."),
    ("gpus_total", "int64", "GPUs in the inventory (domains x GPUs per domain)."),
    ("isl", "int64", "Input tokens per request."),
    ("osl", "int64", "Output tokens per request."),
    ("ttft_slo_ms", "float64", "Time-to-first-token limit (ms)."),
    ("tpot_slo_ms", "float64", "Time-per-output-token limit (ms)."),
    ("price_usd_per_gpu_hour", "float64", "Price used ($/GPU-hour)."),
    ("price_multiplier", "float64", "Multiplier on the topology's list price, or null if the price was absolute or the list price."),
    ("demand_tps", "float64", "Output tokens/s to serve at least cost; null = least $/token on the whole inventory."),
    ("mode", "string", "Requested serving mode: agg, disagg or auto."),
    # --- the outcome
    ("status", "string", "optimal, feasible (solver stopped before proving optimality), infeasible, time-limit (no plan within the scenario's time limit), or error."),
    ("reason", "string", "Why infeasible (the binding constraint, one line), the time limit reached, or the error; null for plans."),
    ("mode_chosen", "string", "aggregated or disaggregated (for auto: the cheaper)."),
    ("layouts", "string", "Chosen replicas: count x layout (tp/ep/pp/dp_attn) and batch, ';'-separated; prefill/decode pools prefixed."),
    ("replicas", "int64", "Model replicas deployed."),
    ("gpus_used", "int64", "GPUs the plan uses."),
    ("usd_per_hour", "float64", "Cost of the GPUs used ($/hour)."),
    ("usd_per_mtok_input", "float64", "Prefill share of the cost per million input tokens ($)."),
    ("usd_per_mtok_output", "float64", "Decode share of the cost per million output tokens ($)."),
    ("usd_per_mtok_all_in", "float64", "Whole cost per million output tokens ($)."),
    ("ttft_ms", "float64", "Time to first token of the plan (ms, worst replica)."),
    ("tpot_ms", "float64", "Time per output token of the plan (ms, worst replica)."),
    ("output_tokens_per_s", "float64", "Output tokens/s of the whole plan."),
    ("output_tokens_per_s_per_gpu", "float64", "Output tokens/s per GPU used."),
    ("tokens_per_s_per_user", "float64", "Output tokens/s one user sees (1 / TPOT)."),
    ("bottleneck", "string", "What limits the main replica's step: compute, memory:weights, memory:kv, communication, overhead."),
    ("binding_constraints", "string", "Limits that stop the plan from being cheaper, ','-separated (memory, tpot, ttft, gpus, ...)."),
    # --- timing (the only columns that differ between runs of the same study)
    ("elapsed_s", "float64", "Wall time the scenario took on its worker (s). A time: differs between runs."),
)

TIMING_COLUMNS = ("elapsed_s",)
NAMES = tuple(c[0] for c in COLUMNS)


def arrow_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64()}
    return pa.schema([pa.field(n, types[t]) for n, t, _ in COLUMNS])
