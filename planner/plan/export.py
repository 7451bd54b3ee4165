"""Launch commands for serving engines (vLLM, SGLang, TensorRT-LLM) from a plan.

    import json
    from planner.plan.export import launch_commands
    for cmd in launch_commands(json.load(open("plan.json")), "sglang"):
        print(cmd.shell())

Each replica of the plan becomes one engine instance. Its parallel sizes come
from the replica's layout; its GPUs, and the order the engine's ranks take
them in, from the replica's stages (``tp_groups``, ``expert_tp_groups``); its
hosts from ``gpu_id // gpus_per_host``. A replica on several hosts gets one
command per node (node rank, nnodes, the head host's address as the
placeholder ``${HOST_<n>}``); TensorRT-LLM gets one ``srun`` launch. Flag names
live in ``engine_flags.yaml`` with their sources. A layout an engine cannot
express raises :class:`InputError` naming the engine and the layout feature.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ..inputs.errors import InputError
from ..inputs.ranges import TOKENS
from .export_experts import engine_settings, routed_experts
from .shell import _EOF, _PLACEHOLDER, _env_name, _heredoc, _q, check_model  # noqa: F401  (check_model: part of the API)
from .export_plan import Replica, int_field, gpus_per_host, plan_replicas, section  # noqa: F401  (plan reading, re-exported)

ENGINES = ("vllm", "sglang", "trtllm")
MODEL = "$MODEL"


@lru_cache(maxsize=1)
def engine_table() -> dict[str, Any]:
    """planner/engine_flags.yaml: flag names, value maps, defaults, limits, sources."""
    return yaml.safe_load(resources.files("planner").joinpath("engine_flags.yaml").read_text())


def host_ref(h: int, prefix: str = "") -> str:
    """The shell placeholder for topology host ``h`` (``${HOST_3}``, or ``${GB200_RACKS_HOST_3}`` in a fleet)."""
    return "${%sHOST_%d}" % (prefix, h)


@dataclass(frozen=True)
class Command:
    """One process launch: an engine node, a single-launch multi-node job, or a router."""

    engine: str
    role: str  # aggregated | prefill | decode | router
    replica: int | None
    node_rank: int | None  # None: one launch covers every node (srun) or no node (router)
    nnodes: int
    hosts: tuple[int, ...]  # topology hosts it runs on
    gpu_ids: tuple[int, ...]  # global GPU ids in engine rank order
    program: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    launcher: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (name, text) to write before launching
    config: dict = field(default_factory=dict, compare=False)  # parsed options file, if any
    literal: frozenset = field(default_factory=frozenset, compare=False)  # words that are data, never placeholders (a user's --model)

    def flags(self) -> list[str]:
        return [a.split("=")[0] for a in self.args if a.startswith("-")]

    def launcher_flags(self) -> list[str]:
        return [a.split("=")[0] for a in self.launcher[1:] if a.startswith("-")]

    def value(self, flag: str) -> str | None:
        """The token after ``flag`` (``"true"`` for a bare switch), or None."""
        if flag not in self.args:
            return None
        i = self.args.index(flag)
        nxt = self.args[i + 1] if i + 1 < len(self.args) else ""
        return "true" if not nxt or nxt.startswith("--") else nxt

    def shell(self) -> str:
        """The command as POSIX shell text. Every word goes through :func:`_q`, so
        whatever a name or path holds, the shell sees exactly these words."""
        lines = [f"cat > {_q(name)} <<'{_EOF}'\n{_heredoc(text)}\n{_EOF}" if not _PLACEHOLDER.search(text)
                 else f"cat > {_q(name)} <<{_EOF}\n{_heredoc(text)}\n{_EOF}" for name, text in self.files]
        words = [f"{_env_name(k)}={_q(v)}" for k, v in self.env]
        words += [_q(w, literal=w in self.literal) for w in (*self.launcher, *self.program, *self.args)]
        return "\n".join([*lines, " ".join(words)])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("literal")
        d["env"] = dict(self.env)
        d["files"] = [{"name": n, "text": t} for n, t in self.files]
        d["shell"] = self.shell()
        return d


# --------------------------------------------------------------------------- shared helpers


@dataclass
class _Ctx:
    engine: str
    spec: dict
    model: str
    gph: int
    kv_len: int
    isl: int
    kv_dtype: str
    taken: dict = field(default_factory=dict)  # (port kind, host) -> ports handed out
    host_prefix: str = ""  # fleet exports: one placeholder family per inventory group
    experts: int = 0  # routed experts per MoE layer (0: dense), for redundant-expert settings
    speculative: dict | None = None  # inputs.speculative of the plan: method and draft tokens

    def host(self, h: int) -> str:
        return host_ref(h, self.host_prefix)

    def port(self, kind: str, host: int, n: int = 1) -> int:
        """A port on ``host`` no other replica of this export uses (default + k)."""
        k = self.taken.get((kind, host), 0)
        self.taken[(kind, host)] = k + n
        return int(self.spec["defaults"][kind]) + k

    def flag(self, name: str) -> str:
        return self.spec["flags"][name]

    def cannot(self, feature: str, limit: str) -> InputError:
        return InputError(f"{self.spec['engine']} cannot express {feature}: {self.spec['limits'][limit]}")

    def kv(self, feature_limit: str | None = None) -> str:
        value = self.spec["kv_cache_dtype"].get(self.kv_dtype)
        if value is None:
            why = self.spec["limits"].get(feature_limit or "", "no documented setting")
            raise InputError(f"{self.spec['engine']} cannot express a {self.kv_dtype} KV cache: {why}")
        return value


def _segments(ctx: _Ctx, r: Replica, order: list[int], even: bool = True) -> list[tuple[int, list[int]]]:
    """The engine's ranks cut into nodes: (host, its GPUs in rank order), node 0 first."""
    segs: list[tuple[int, list[int]]] = []
    for g in order:
        if segs and segs[-1][0] == g // ctx.gph:
            segs[-1][1].append(g)
        elif any(h == g // ctx.gph for h, _ in segs):
            raise InputError(f"{ctx.spec['engine']} cannot express replica {r.id}: its ranks leave host {g // ctx.gph} and come back; a node's ranks must be consecutive")
        else:
            segs.append((g // ctx.gph, [g]))
    if even and len(segs) > 1 and len({len(s) for _, s in segs}) > 1:
        raise InputError(f"{ctx.spec['engine']} cannot express replica {r.id}: its hosts hold {', '.join(str(len(s)) for _, s in segs)} of its GPUs; every node of one instance must run the same number of ranks")
    return segs


def _env(ctx: _Ctx, gpus: list[int]) -> list[tuple[str, str]]:
    return [*engine_table()["cuda"]["env"].items(), ("CUDA_VISIBLE_DEVICES", ",".join(str(g % ctx.gph) for g in gpus))]


def _cmd(ctx: _Ctx, r: Replica, node: int | None, segs, program, args, **kw) -> Command:
    chosen = segs if node is None else [segs[node]]
    kw.setdefault("literal", frozenset({ctx.model}) if ctx.model != MODEL else frozenset())
    return Command(
        engine=ctx.engine, role=r.role, replica=r.id, node_rank=node, nnodes=len(segs),
        hosts=tuple(h for h, _ in chosen), gpu_ids=tuple(g for _, s in chosen for g in s),
        program=tuple(program), args=tuple(str(a) for a in args), **kw,
    )


# --------------------------------------------------------------------------- engines


def _vllm(ctx: _Ctx, r: Replica) -> list[Command]:
    f, S = ctx.flag, r.stage_gpus
    if 1 < r.ep < S:
        raise ctx.cannot(f"expert parallelism over {r.ep} of a stage's {S} GPUs (replica {r.id}, expert TP {S // r.ep})", "partial_expert_parallel")
    order = [g for d in range(r.dp) for s in range(r.pp) for g in r.groups[s][d]]  # ranks: DP x PP x TP
    ranks = [order[k * r.tp * r.pp:(k + 1) * r.tp * r.pp] for k in range(r.dp)]
    if r.dp > 1 and any(len({g // ctx.gph for g in rank}) > 1 for rank in ranks):
        raise ctx.cannot(f"a data-parallel rank of tp*pp = {r.tp * r.pp} GPUs spread over hosts (replica {r.id})", "dp_rank_across_hosts")
    args: list[Any] = [ctx.model, f("tensor_parallel"), r.tp]
    args += [f("pipeline_parallel"), r.pp] if r.pp > 1 else []
    args += [f("data_parallel"), r.dp] if r.dp > 1 else []
    args += [f("expert_parallel")] if r.ep > 1 else []
    args += engine_settings(ctx.engine, ctx.spec, ctx.experts, r.ep)[0]
    seqs = math.ceil(r.concurrency / r.dp)  # per DP rank
    args += [f("max_running"), seqs]
    args += [f("token_budget"), seqs] if seqs > ctx.spec["defaults"]["token_budget"] else []
    args += [f("max_model_len"), ctx.kv_len, f("kv_cache_dtype"), ctx.kv()]
    if ctx.speculative and r.role != "prefill":
        cfg = {"method": ctx.spec["speculative_method"][ctx.speculative["method"]], "num_speculative_tokens": ctx.speculative["draft_tokens"]}
        args += [f("speculative"), json.dumps(cfg, separators=(",", ":"))]
    segs = _segments(ctx, r, order, even=r.dp == 1)  # DP ranks may sit unevenly on nodes
    head = segs[0][0]
    if r.role != "aggregated":
        args += [f("kv_transfer"), json.dumps(ctx.spec["kv_transfer"][r.role], separators=(",", ":"))]
    args += [f("host"), "0.0.0.0", f("port"), ctx.port("http_port", head)]
    args += [f("dp_rpc_port"), ctx.port("dp_rpc_port", head)] if r.dp > 1 else []  # unique when DP replicas share a host
    cmds = []
    if r.dp > 1 and len(segs) > 1:
        start = 0
        for i, (h, gpus) in enumerate(segs):
            local = len(gpus) // (r.tp * r.pp)
            extra = [f("dp_local"), local, f("dp_address"), ctx.host(head)]
            extra += [f("headless"), f("dp_start_rank"), start] if i else []
            start += local
            cmds.append((i, h, gpus, args + extra))
    elif len(segs) > 1:
        mport = ctx.port("dist_port", head)
        for i, (h, gpus) in enumerate(segs):
            extra = [f("nnodes"), len(segs), f("node_rank"), i, f("master_addr"), ctx.host(head), f("master_port"), mport]
            cmds.append((i, h, gpus, args + extra + ([f("headless")] if i else [])))
    else:
        cmds.append((0, head, segs[0][1], args))
    out = []
    for i, h, gpus, a in cmds:
        env, names = _env(ctx, gpus), ctx.spec["kv_transfer_env"]
        if r.role != "aggregated":  # NIXL side channel: one port per DP rank, unique on the host
            env += [(names["host"], ctx.host(h)), (names["port"], str(ctx.port("nixl_port", h, max(1, len(gpus) // (r.tp * r.pp)))))]
        out.append(_cmd(ctx, r, i, segs, ctx.spec["program"], a, env=tuple(env)))
    return out


def _sglang(ctx: _Ctx, r: Replica) -> list[Command]:
    f, S = ctx.flag, r.stage_gpus
    if r.dp > 1 and r.pp > 1:
        raise ctx.cannot(f"data-parallel attention (dp_attn={r.dp}) with {r.pp} pipeline stages (replica {r.id})", "dp_attention_with_pp")
    if 1 < r.ep < S:
        raise ctx.cannot(f"expert parallelism over {r.ep} of a stage's {S} GPUs (replica {r.id}, expert TP {S // r.ep})", "partial_expert_parallel")
    order = [g for stage in r.groups for grp in stage for g in grp]  # ranks: PP x TP, attention (dp, tp) inside TP, expert TP groups consecutive
    args: list[Any] = [ctx.spec["model"], ctx.model, f("tensor_parallel"), S]
    args += [f("pipeline_parallel"), r.pp] if r.pp > 1 else []
    args += [f("data_parallel"), r.dp, f("dp_attention")] if r.dp > 1 else []
    args += [f("expert_parallel"), r.ep, f("a2a_backend"), ctx.spec["full_ep_a2a_backend"]] if r.ep > 1 else []
    args += engine_settings(ctx.engine, ctx.spec, ctx.experts, r.ep)[0]
    args += [f("max_running"), r.concurrency, f("max_model_len"), ctx.kv_len, f("kv_cache_dtype"), ctx.kv()]
    if ctx.speculative and r.role != "prefill":
        k, method = ctx.speculative["draft_tokens"], ctx.speculative["method"]
        if method == "ngram" and r.dp > 1:
            raise ctx.cannot(f"n-gram speculative decoding with data-parallel attention (replica {r.id})", "ngram_dp_attention")
        args += [f("spec_algorithm"), ctx.spec["speculative_algorithm"][method]]
        args += [f("spec_steps"), k, f("spec_topk"), 1] if method == "mtp" else []
        args += [f("spec_draft_tokens"), k + 1]
    segs = _segments(ctx, r, order)
    head = segs[0][0]
    if r.role != "aggregated":
        args += [f("disaggregation"), r.role]
        args += [f("bootstrap_port"), ctx.port("bootstrap_port", head)] if r.role == "prefill" else []
    args += [f("host"), "0.0.0.0", f("port"), ctx.port("http_port", head)]
    if len(segs) == 1:
        return [_cmd(ctx, r, 0, segs, ctx.spec["program"], args, env=tuple(_env(ctx, segs[0][1])))]
    addr = f"{ctx.host(head)}:{ctx.port('dist_port', head)}"
    return [
        _cmd(ctx, r, i, segs, ctx.spec["program"], args + [f("nnodes"), len(segs), f("node_rank"), i, f("dist_init_addr"), addr], env=tuple(_env(ctx, gpus)))
        for i, (_, gpus) in enumerate(segs)
    ]


def _trtllm(ctx: _Ctx, r: Replica) -> list[Command]:
    f, S, keys = ctx.flag, r.stage_gpus, ctx.spec["config_keys"]
    if r.dp > 1 and r.tp > 1:
        raise ctx.cannot(f"attention tensor parallelism tp={r.tp} together with attention data parallelism dp_attn={r.dp} (replica {r.id})", "attention_tp_and_dp")
    order = []
    for s in range(r.pp):  # ranks: PP x TP; moe_ep_rank = rank % ep, moe_tp_rank = rank // ep
        eg = r.experts[s]
        if eg and len({g // ctx.gph for grp in eg for g in grp}) > 1:
            raise ctx.cannot(f"expert TP groups of {len(eg[0])} GPUs kept inside hosts by a stage over several hosts (replica {r.id})", "expert_tp_strided")
        order += [eg[j][m] for m in range(len(eg[0])) for j in range(len(eg))] if eg else [g for grp in r.groups[s] for g in grp]
    config: dict[str, Any] = {}
    if r.dp > 1:  # attention DP, with prompts balanced over its ranks as the cost model assumes
        config[keys["dp_attention"]] = True
        config[keys["dp_balance"]] = {"enable_balance": True}
    kv = ctx.kv("kv_fp4")
    if kv != "auto":
        config[keys["kv_cache"]] = {"dtype": kv}
    config.update(engine_settings(ctx.engine, ctx.spec, ctx.experts, r.ep)[1])
    if r.role == "prefill":
        config[keys["disable_overlap"]] = True
    if r.role != "aggregated":
        config[keys["cache_transceiver"]] = {"backend": ctx.spec["cache_transceiver_backend"], "max_tokens_in_buffer": ctx.isl}
    if ctx.speculative and r.role != "prefill":
        kind = ctx.spec["speculative_decoding_type"][ctx.speculative["method"]]
        length = "num_nextn_predict_layers" if ctx.speculative["method"] == "mtp" else "max_draft_len"
        config[keys["speculative"]] = {"decoding_type": kind, length: ctx.speculative["draft_tokens"]}
    per_rank = math.ceil(r.batch / r.dp)
    args: list[Any] = [ctx.model, f("tensor_parallel"), S]
    args += [f("pipeline_parallel"), r.pp] if r.pp > 1 else []
    args += [f("expert_parallel"), r.ep] if r.ep > 1 else []
    args += [f("max_running"), per_rank, f("token_budget"), max(int(ctx.spec["defaults"]["token_budget"]), per_rank + ctx.isl)]
    segs = _segments(ctx, r, order)
    head = segs[0][0]
    args += [f("max_model_len"), ctx.kv_len, f("host"), "0.0.0.0", f("port"), ctx.port("http_port", head)]
    files: tuple[tuple[str, str], ...] = ()
    if config:
        name = f"trtllm-replica{r.id}.yaml"
        files = ((name, yaml.safe_dump(config, sort_keys=False)),)
        args += [f("extra_options"), name]
    if len(segs) == 1:
        return [_cmd(ctx, r, 0, segs, ctx.spec["program"], args, env=tuple(_env(ctx, segs[0][1])), files=files, config=config)]
    if len({tuple(g % ctx.gph for g in s) for _, s in segs}) > 1:
        raise ctx.cannot(f"replica {r.id} on different GPU slots of its hosts", "uneven_hosts")
    lf = ctx.spec["launcher_flags"]
    launcher = [*ctx.spec["launcher"], lf["nodes"], str(len(segs)), lf["nodelist"], ",".join(ctx.host(h) for h, _ in segs),
                lf["ntasks"], str(len(order)), lf["per_node"], str(len(segs[0][1])), lf["mpi"]]
    return [_cmd(ctx, r, None, segs, [*ctx.spec["launch_wrapper"], *ctx.spec["program"]], args,
                 env=tuple(_env(ctx, segs[0][1])), launcher=tuple(launcher), files=files, config=config)]


_BUILDERS = {"vllm": _vllm, "sglang": _sglang, "trtllm": _trtllm}


def _router(ctx: _Ctx, servers: list[Command]) -> Command:
    """The request router of a disaggregated plan: prefill first, then decode."""
    heads, port_flag = [c for c in servers if c.node_rank in (0, None)], ctx.flag("port")
    pre = [(c.hosts[0], c.value(port_flag)) for c in heads if c.role == "prefill"]
    dec = [(c.hosts[0], c.value(port_flag)) for c in heads if c.role == "decode"]
    if not pre or not dec:
        raise InputError("plan: a plan with pools needs at least one prefill and one decode replica")
    rf, port = ctx.spec["router_flags"], int(ctx.spec["defaults"]["router_port"])
    files, config = (), {}
    if ctx.engine == "vllm":
        args = [rf["pd"], *[w for h, p in pre for w in (rf["prefill"], f"http://{ctx.host(h)}:{p}")],
                *[w for h, p in dec for w in (rf["decode"], f"http://{ctx.host(h)}:{p}")], rf["host"], "0.0.0.0", rf["port"], port]
    elif ctx.engine == "sglang":
        boot = [c.value(ctx.flag("bootstrap_port")) for c in heads if c.role == "prefill"]
        args = [rf["pd"]]
        for (h, p), b in zip(pre, boot):
            args += [rf["prefill"], f"http://{ctx.host(h)}:{p}", b]
        for h, p in dec:
            args += [rf["decode"], f"http://{ctx.host(h)}:{p}"]
        args += [rf["host"], "0.0.0.0", rf["port"], port]
    else:
        config = {"hostname": "0.0.0.0", "port": port, "backend": "pytorch",
                  "context_servers": {"num_instances": len(pre), "urls": [f"{ctx.host(h)}:{p}" for h, p in pre]},
                  "generation_servers": {"num_instances": len(dec), "urls": [f"{ctx.host(h)}:{p}" for h, p in dec]}}
        files = (("trtllm-disagg.yaml", yaml.safe_dump(config, sort_keys=False)),)
        args = [rf["config"], files[0][0]]
    return Command(engine=ctx.engine, role="router", replica=None, node_rank=None, nnodes=1, hosts=(), gpu_ids=(),
                   program=tuple(ctx.spec["router"]), args=tuple(str(a) for a in args), files=files, config=config)


def _precision(value: Any) -> str:
    from ..inputs.units import DTYPE_BYTES

    if not isinstance(value, str) or value not in DTYPE_BYTES:
        raise InputError(f"plan: inputs.precision.kv_cache must be one of {', '.join(DTYPE_BYTES)}")
    return value


def _speculative(value: Any) -> dict | None:
    """inputs.speculative of a plan file (hostile input): method and draft tokens, or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("method") not in ("mtp", "ngram"):
        raise InputError("plan: inputs.speculative.method must be mtp or ngram")
    k = value.get("draft_tokens")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 16:
        raise InputError("plan: inputs.speculative.draft_tokens must be an integer from 1 to 16")
    return {"method": value["method"], "draft_tokens": k}


def launch_commands(
    plan: dict, engine: str, *, model: str = MODEL, gpus_per_host_override: int | None = None,
    host_prefix: str = "", taken: dict | None = None,
) -> list[Command]:
    """Every command that launches ``plan`` on ``engine``, replica by replica
    (node by node), then the router of a disaggregated plan. ``taken`` shares the
    ports already handed out with other command sets on the same hosts."""
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    reps = plan_replicas(plan)
    if model != MODEL:
        check_model(model)
    inputs = section(plan, "inputs")
    traffic, precision = section(inputs, "traffic", "inputs."), section(inputs, "precision", "inputs.")
    ctx = _Ctx(
        engine=engine, spec=engine_table()[engine], model=model, gph=gpus_per_host(plan, gpus_per_host_override),
        kv_len=int_field(traffic, "kv_len", "inputs.traffic", maximum=int(TOKENS.hi)), isl=int_field(traffic, "isl", "inputs.traffic", maximum=int(TOKENS.hi)),
        kv_dtype=_precision(precision.get("kv_cache", "bf16")), taken={} if taken is None else taken, host_prefix=host_prefix,
        experts=routed_experts(plan) if any(r.ep > 1 for r in reps) else 0,
        speculative=_speculative(inputs.get("speculative")),
    )
    out = [c for r in reps for c in _BUILDERS[engine](ctx, r)]
    if isinstance(plan.get("pools"), dict) and plan["pools"]:
        out.append(_router(ctx, out))
    return out
