"""Break one term of the cost model at a time and check the physics tests notice.

    python benchmarks/mutants.py            # prints one line per mutant and the kill rate
    python benchmarks/mutants.py --list     # the mutants only

Each mutant is a one-line textual change to planner/ applied to a temporary copy
of the repository (the working tree is never touched); the physics tests then run
against that copy. A mutant is killed when at least one test fails. The unmutated
copy must pass first, or the run stops. docs/fidelity.md quotes the output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_physics_terms.py", "tests/test_costmodel_physics.py", "tests/test_review_physics.py", "tests/test_expert_load.py",
         "tests/test_moe_kernels.py", "tests/test_allreduce_kernels.py", "tests/test_engine_gemms.py"]
COPY = ["planner", "hardware", "workloads", "topologies", "models", "tests", "pyproject.toml"]
CM = "planner/physics/costmodel.py"
EL = "planner/physics/expert_load.py"
GE = "planner/physics/gemm.py"
RX = "planner/physics/routed.py"

# name, file, text, replacement, which occurrence (0 = first)
MUTANTS = [
    ("MLA KV reads divided by TP", CM, "    shards = np.minimum(tp, m.kv_shardable_heads)\n",
     "    shards = tp if m.attention == 'mla' else np.minimum(tp, m.kv_shardable_heads)\n", 1),
    ("MLA KV held divided by TP", CM, "    shards = np.minimum(tp, m.kv_shardable_heads)\n", "    shards = tp\n", 0),
    ("KV per GPU shrinks with pipeline depth", CM, "_b(batch) / dp * pp * ls", "_b(batch) / dp * ls", 0),
    ("no queueing term in TTFT", CM, "ttft_s=bc(queue + prefill)", "ttft_s=bc(prefill)", 0),
    ("prefill ignores the chunk count", CM, "return n_chunks * (", "return 1 * (", 0),
    ("no expert padding", RX, "grouped_gemm_efficiency(per_expert, eff.moe_half_tokens,", "grouped_gemm_efficiency(per_expert, 0.0,", 0),
    ("expert padding at the largest tile whatever the rows", RX, "eff.moe_min_tile_rows, eff.moe_max_tile_rows)",
     "eff.moe_max_tile_rows, eff.moe_max_tile_rows)", 0),
    ("weight-only GEMMs at the BF16 rate (no dequantisation cost)", GE, '"weight_only" if fmt.weight_only_on(acc.peak_flops) else cd', "cd", 0),
    ("padding added to the weight read (sum, not max)", RX, "np.maximum(self.flops / self.rate_flops_per_s, self.weight_bytes / hbm_bytes_per_s)",
     "(self.flops / self.rate_flops_per_s + self.weight_bytes / hbm_bytes_per_s)", 0),
    ("experts streamed at 0.366 of the HBM rate", RX, "self.weight_bytes / hbm_bytes_per_s)", "self.weight_bytes / (hbm_bytes_per_s * 0.366))", 0),
    ("expert weights streamed at the wrong rate in the breakdown", CM, "w_moe = (attn_w + shared_w + routed_w) / hbm",
     "w_moe = (attn_w + shared_w) / hbm + routed_w / (hbm * 0.366)", 0),
    ("no block scales", "planner/inputs/formats.py", "        per_block = (self.scale_bits + self.zero_bits) / self.block_values if self.block_values else 0.0",
     "        per_block = 0.0", 0),
    ("imbalance applied to tensor-parallel experts", EL, "np.minimum(1.0 + expected_max_normal(ep_a) * s, ep_a)",
     "1.0 + expected_max_normal(ep_a + 1.0) * s", 0),
    ("straggler ignores the experts each group holds", EL, "cv * cv / per_group", "cv * cv", 0),
    ("straggler without counting noise at small batch", EL, "cv * cv / per_group + 1.0 / mu", "cv * cv / per_group + 0.0 / mu", 0),
    ("block scales promoted on CUDA cores on Blackwell too", "planner/inputs/formats.py", 'self.compute_dtype(peak_flops) == "fp8" and not block_scaled_mma',
     'self.compute_dtype(peak_flops) == "fp8"', 0),
    ("every expert read whatever the batch", RX, "weight_bytes=resident * np.minimum(1.0, _b(touched) * imb)", "weight_bytes=resident", 0),
    ("prompt chunks spread evenly over DP ranks", CM, "rank_tokens=busiest_rank_tokens(w, topo, Lb, Bq, P), ", "", 0),
    ("prefill across DP ranks ignores balancing", CM, "return B / dp + lumpy - topo.efficiency.attention_dp_prefill_balance * (lumpy - even)",
     "return B / dp + lumpy", 0),
    ("expert padding counted imbalance times under EP", RX, "per_expert = T * k / np.maximum(busy, 1e-12) * imb",
     "per_expert = T * k / np.maximum(busy, 1e-12)", 0),
    ("no per-request overhead in TTFT", CM, "return prefill_pass_s(w, topo, L) + topo.efficiency.request_overhead_s",
     "return prefill_pass_s(w, topo, L)", 0),
    ("prefill dispatch sends a copy per remote GPU (no forwarding)", "planner/physics/expert_comm.py",
     "out_el = forwarded if relayed else direct", "out_el = direct", 0),
    ("an all-gather exchange priced as the all-to-all", "planner/physics/expert_comm.py",
     "    if eff.moe_allgather:  # every GPU", "    if False:  # every GPU", 0),
    ("the exchange quantised whatever the engine", CM, " if eff.moe_dispatch_quantized else ab", "", 0),
    ("an all-gather across nodes sends a copy per remote GPU", "planner/physics/expert_comm.py",
     "relayed = prefill or eff.moe_allgather", "relayed = prefill", 0),
    ("all-reduce without the ring factor", "planner/physics/allreduce.py", "2 * (n - 1) / n * _b(nbytes) / bw", "_b(nbytes) / bw", 0),
    ("no per-step overhead", CM, "    overhead = per_layers + eff.step_overhead_s\n", "    overhead = per_layers\n", 0),
    ("no per-token cost of a layer", CM, "    token_t = Tr * eff.token_layer_overhead_s\n", "    token_t = 0.0\n", 0),
    ("per-token cost on every rank's tokens (not the busiest rank's)", CM, "    token_t = Tr * eff.token_layer_overhead_s\n",
     "    token_t = T * eff.token_layer_overhead_s\n", 0),
    ("no per-copy cost of routed tokens", CM, "eff.moe_layer_overhead_s + row_t + gemm_x_moe)", "eff.moe_layer_overhead_s + gemm_x_moe)", 0),
    ("routed copies split over tensor-parallel experts", RX, "copies=T * k * imb * moe_tp / S", "copies=T * k * imb / S", 0),
    ("experts behind tensor-parallel attention exchange tokens anyway", CM, "ep_layer = np.where(S == tp, ar, exchange) if m.is_moe else 0.0",
     "ep_layer = exchange if m.is_moe else 0.0", 0),
    ("the engines' all-reduce kernel for any group size", "planner/physics/allreduce.py", "n <= eff.custom_allreduce_max_gpus", "n > 0", 0),
    ("the NCCL all-reduce floor for the engines' all-reduce", "hardware/efficiency.yaml", "allreduce_latency_us: 5.75", "allreduce_latency_us: 15.5", 0),
    ("an engine's block-FP8 GEMMs priced like the reference kernels", GE,
     "    if eff.block_fp8_gemm_extra_s == 0.0 and eff.block_fp8_gemm_extra_s_per_kblock == 0.0:\n", "    if True:\n", 0),
    ("an engine's block-FP8 extra charged where the MMA applies the scales", GE,
     "formats.get(getattr(w.weights, component)).scales_promoted_on(acc.peak_flops, acc.block_scaled_mma)",
     "formats.get(getattr(w.weights, component)).native == 'fp8'", 0),
    ("an engine's kernel costs applied on accelerators it was not measured on", "planner/inputs/engines.py",
     "    if accelerator not in kernels.accelerators:\n", "    if False:\n", 0),
    ("an engine's block-FP8 extra without its per-k-block part", GE, "eff.block_fp8_gemm_extra_s_per_kblock * k / K_BLOCK", "0.0 * k", 0),
    ("MLA attention counted as GQA's two launches", GE, "        return q + [m.n_heads * m.v_head_dim / tp]", "        return [_b(m.d_model), m.n_heads * m.v_head_dim / tp]", 0),
    ("row-parallel GEMM widths not divided by tensor parallelism", GE, "    return [_b(m.d_model), m.n_shared_experts * m.expert_d_ff / tp]",
     "    return [_b(m.d_model), m.n_shared_experts * m.expert_d_ff]", 0),
    ("the busiest group's hidden pass at the mean load", RX, "hidden_elems=T * k * imb / S * m.expert_d_ff", "hidden_elems=T * k / S * m.expert_d_ff", 0),
    ("sliding-window layers held at full context", CM, "(m.kv_tokens_held(w.kv_len) if windowed else m.n_layers * w.kv_len)",
     "m.n_layers * w.kv_len", 0),
    ("the engine's KV sizing of sliding-window layers ignored", CM, "kv_bytes_per_gpu(w, Lb, B, eff.swa_kv_windowed)", "kv_bytes_per_gpu(w, Lb, B)", 0),
    ("LM head at the attention format", CM, 'm.vocab_size * m.d_model * wp.bytes("embeddings") / tp / hbm',
     'm.vocab_size * m.d_model * wp.bytes("attention") / tp / hbm', 0),
]


def _replace_nth(text: str, old: str, new: str, n: int) -> str:
    start = -1
    for _ in range(n + 1):
        start = text.find(old, start + 1)
        if start < 0:
            raise SystemExit(f"mutant text not found (occurrence {n}): {old!r}")
    return text[:start] + new + text[start + len(old):]


def _run_tests(copy: Path) -> int:
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS]
    return subprocess.run(cmd, cwd=copy, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(name for name, *_ in MUTANTS))
        return 0
    with tempfile.TemporaryDirectory(prefix="planner-mutants-") as tmp:
        copy = Path(tmp)
        for item in COPY:
            src = ROOT / item
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, copy / item)
        if _run_tests(copy) != 0:
            print("the unmutated copy fails the physics tests: fix them first")
            return 1
        killed = 0
        for name, rel, old, new, n in MUTANTS:
            path = copy / rel
            original = path.read_text()
            path.write_text(_replace_nth(original, old, new, n))
            try:
                dead = _run_tests(copy) != 0
            finally:
                path.write_text(original)
            killed += dead
            print(f"{'killed  ' if dead else 'SURVIVED'}  {name}")
        print(f"kill rate: {killed}/{len(MUTANTS)} mutants killed by {', '.join(TESTS)}")
        return 0 if killed == len(MUTANTS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
