"""Views of comparison results: rich tables and matplotlib plots (PNG or SVG).

Nothing here computes a metric: every number comes from :mod:`planner.analysis.analysis`.
matplotlib is imported inside the plot functions (Agg backend, no display).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import math

from rich.console import Console
from rich.table import Table

from ..inputs.coverage import CHECKED_NOTE
from ..inputs.errors import InputError
from ..plan.text import num as _num

PLOT_SUFFIXES = (".png", ".svg")


def check_plot_path(path: Path | str) -> Path:
    """A plot file name must end in .png or .svg (checked before any work)."""
    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--plot {p}: use a file name ending in .png or .svg")
    return p


def colours(names: Sequence[str]) -> dict[str, Any]:
    """One colour per topology, stable in the order given."""
    import matplotlib

    unique = list(dict.fromkeys(names))
    cmap = matplotlib.colormaps["tab10" if len(unique) <= 10 else "tab20"]
    return {n: cmap(k % cmap.N) for k, n in enumerate(unique)}


def _figure(ncols: int, width: float = 5.2, height: float = 4.4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), constrained_layout=True)
    return fig, list(axes) if ncols > 1 else [axes]


def _save(fig, path: Path | str) -> Path:
    import matplotlib.pyplot as plt

    import io

    from ..inputs.safeio import atomic_write

    p = check_plot_path(path)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=p.suffix.lower().lstrip("."), dpi=130)
    finally:
        plt.close(fig)
    return atomic_write(p, buf.getvalue(), "--plot")


def _log_if_wide(ax, values: Sequence[float], axis: str = "y", span: float = 20.0) -> None:
    v = [x for x in values if x and x > 0]
    if v and max(v) / min(v) >= span:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        _plain_log(ax.yaxis if axis == "y" else ax.xaxis, minor=max(v) / min(v) < 30)


def _plain_log(axis, minor: bool = False) -> None:
    """Log axis with plain numbers on the decades (and on 2x, 5x when it spans
    few decades, so that a reader can interpolate)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = lambda v: f"{v:,.0f}" if v >= 1 else f"{v:g}"  # noqa: E731

    def sub(v, _):
        m = v / 10 ** math.floor(math.log10(v)) if v > 0 else 0
        return plain(v) if round(m) in (2, 5) and abs(m - round(m)) < 1e-6 else ""

    axis.set_major_formatter(FuncFormatter(lambda v, _: plain(v)))
    axis.set_minor_formatter(FuncFormatter(sub) if minor else NullFormatter())


# --------------------------------------------------------------------------- compare


_SHORT = {"memory:weights": "mem:weights", "memory:kv": "mem:kv", "communication": "comm"}


def why_not(error: str) -> str:
    """The short label of a row without a plan: ``infeasible: <constraint>``, or
    ``time limit`` when the command's deadline came first (not a proof)."""
    head = error.split(":")[0]
    return "time limit" if head == "time limit" else f"infeasible: {head}"


def compare_table(rows, console: Console, title: str = "") -> None:
    """One row per topology; infeasible ones name their binding limit in the row
    and give the full reason, like sizing notes, under the table. Split in two
    tables (plan, then metrics) when the console is too narrow for one."""
    from rich import box

    notes: dict[str, int] = {}
    marks, cells = [], []
    for r in rows:
        s = r.sizing
        ks = [notes.setdefault(n, len(notes) + 1) for n in (f"[red]{r.error}[/]" if r.error else "", s.note) if n]
        marks.append(s.topology + estimate_mark(s.specs_estimated, s.price_estimated) + (" (" + ",".join(map(str, ks)) + ")" if ks else ""))
        price = _num(s.price_usd_per_gpu_hour) + ("*" if s.price_estimated else "")
        if not r.feasible:
            cells.append(([price, f"-/{s.gpus}", f"[red]{why_not(r.error)}[/]", "-", "-"], ["-"] * 6 + ["-"]))
            continue
        m = r.metrics
        x = lambda v: "-" if v is None else f"{v:.2f}x"  # noqa: E731
        cells.append((
            [price, f"{m['gpus_used']}/{s.gpus}", r.layout + (" disagg" if r.mode == "disaggregated" else "+mix" if len(r.layouts) > 1 else ""), _SHORT.get(r.bottleneck, r.bottleneck),
             (r.plan.serving_economics.get("prefix_tier") or "-") if r.plan is not None else "-"],
            [_num(m["usd_per_mtok_input"]), _num(m["usd_per_mtok_output"]), _num(m["output_tokens_per_s_per_gpu"]),
             _num(m["tokens_per_s_per_user"]), x(r.ratio_tps_per_gpu), x(r.ratio_usd_per_mtok_all_in), r.plan.coverage().cell() if r.plan is not None else "-"],
        ))
    left = ("$/GPU-h", "GPUs\nused/avail", "layout", "bottleneck", "prefix\nKV tier")
    right = ("$/Mtok\nin", "$/Mtok\nout", "out tok/s\nper GPU", "tok/s\nper user", "tok/s/GPU\nvs 1st", "$/token\nvs 1st", "checked")

    def table(parts: tuple[int, ...], head: str | None) -> Table:
        t = Table(title=head, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        t.add_column("topology", no_wrap=True)
        for p in parts:
            for c in (left, right)[p]:
                t.add_column(c, justify="left" if c in ("layout", "bottleneck") else "right", no_wrap=True)
        for mark, cell in zip(marks, cells):
            t.add_row(mark, *[v for p in parts for v in cell[p]])
        return t

    whole = table((0, 1), title or None)
    if console.measure(whole, options=console.options.update(width=10_000, max_width=10_000)).maximum <= console.width:
        console.print(whole)
    else:
        console.print(table((0,), title or None))
        console.print(table((1,), None))
    for text, k in notes.items():
        console.print(f"({k}) {text}", highlight=False)
    if any(r.sizing.specs_estimated or r.sizing.price_estimated for r in rows):
        console.print(ESTIMATE_NOTE, highlight=False)
    if any(r.feasible for r in rows):
        console.print(CHECKED_NOTE, highlight=False)  # what the 'checked' column means


ESTIMATE_NOTE = "* estimated: the GPU's specs (after the name) or the $/GPU-hour (after the price) are estimates, not datasheet or quote"


def estimate_mark(specs: bool, price: bool) -> str:
    """'*' after a topology whose accelerator specs or price are estimates."""
    return "*" if specs or price else ""


def demand_table(rows, console: Console, title: str = "") -> None:
    """One row per topology: the cheapest deployment serving the demand, the GPUs and
    nodes/racks it takes, $/hour and $/Mtok; infeasible rows give the reason below."""
    from rich import box

    if title:
        console.print(title, highlight=False)
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("topology", "GPUs", "nodes/racks", "$/GPU-h", "$/hour", "$/Mtok\nall-in", "$/Mtok\nout", "served\ntok/s", "layout", "mode"):
        t.add_column(c, justify="left" if c in ("topology", "layout", "mode", "nodes/racks") else "right", no_wrap=True)
    notes = []
    for r in rows:
        d = r.to_dict()
        name = d["topology"] + estimate_mark(d["estimated"]["specs"], d["estimated"]["price"])
        price = _num(d["price_usd_per_gpu_hour"]) + ("*" if d["estimated"]["price"] else "")
        if not r.feasible:
            notes.append(f"{d['topology']}: {r.error}")
            t.add_row(name, "-", "-", price, "-", "-", "-", "-", f"[red]{why_not(r.error)}[/]", "-")
            continue
        t.add_row(name, _num(d["gpus_used"]), f"{d['domains_used']} {d['domain_unit']}" + ("s" if d["domains_used"] != 1 else ""), price, _num(d["usd_per_hour"]),
                  _num(d["usd_per_mtok_all_in"]), _num(d["usd_per_mtok_output"]), _num(d["output_tokens_per_s"]),
                  d["layout"], "disagg" if d["mode"] == "disaggregated" else "agg")
    console.print(t)
    for n in notes:
        console.print(n, highlight=False)
    if any(r.specs_estimated or r.price_estimated for r in rows):
        console.print(ESTIMATE_NOTE, highlight=False)


def plot_compare(rows, path: Path | str, title: str = "") -> Path:
    """Three horizontal bar panels (one bar per topology, one colour each): output
    tok/s per GPU (layout of the chosen plan written on the bar), $/Mtok (output
    solid, input hatched), tok/s per user; infeasible topologies say so."""
    names = [r.sizing.topology for r in rows]
    col = colours(names)
    fig, (a1, a2, a3) = _figure(3, width=4.6, height=0.55 * len(rows) + 1.8)
    ys = list(range(len(rows)))[::-1]
    ok = [r for r in rows if r.feasible]

    def bars(ax, key, xlabel):
        vals = [r.metrics[key] if r.feasible else 0 for r in rows]
        ax.barh(ys, vals, color=[col[n] for n in names], height=0.7)
        ax.set_xlabel(xlabel)
        _log_if_wide(ax, vals, "x")
        return vals

    v1 = bars(a1, "output_tokens_per_s_per_gpu", "output tokens/s per GPU")
    for y, r, v in zip(ys, rows, v1):
        if r.feasible:
            a1.text(v, y, f" {v:,.0f}  {r.layout}" + (" (disagg)" if r.mode == "disaggregated" else ""), va="center", fontsize=8)
        else:
            a1.text(0, y, " " + why_not(r.error), va="center", fontsize=8, color="firebrick")
    a1.set_yticks(ys, names)
    a1.set_xlim(right=max(v1 or [1]) * (4.0 if a1.get_xscale() == "log" else 1.6))

    for y, r, n in zip(ys, rows, names):  # dot plot: $ spans decades, and bars on a log axis mislead
        if r.feasible:
            o, i = r.metrics["usd_per_mtok_output"], r.metrics["usd_per_mtok_input"]
            a2.plot([i, o] if i else [o], [y] * (2 if i else 1), "-", color=col[n], lw=1, alpha=0.6)
            a2.plot(o, y, "o", ms=9, color=col[n])
            a2.text(o, y + 0.28, f"${o:.3g}", ha="center", fontsize=8)
            if i:
                a2.plot(i, y, "D", ms=7, mfc="white", mec=col[n], mew=1.5)
                a2.text(i, y + 0.28, f"${i:.2g}", ha="center", fontsize=8, color="0.35")
    a2.plot([], [], "o", color="0.4", label="output tokens")
    a2.plot([], [], "D", mfc="white", mec="0.4", label="input tokens")
    a2.set_xscale("log")
    money = [v for r in ok for v in (r.metrics["usd_per_mtok_output"], r.metrics["usd_per_mtok_input"]) if v]
    _plain_log(a2.xaxis, minor=bool(money) and max(money) / min(money) < 30)
    a2.set_xlabel("$ per million tokens (log)")
    a2.legend(loc="lower right", fontsize=8)
    a2.set_yticks(ys, [""] * len(ys))

    bars(a3, "tokens_per_s_per_user", "tokens/s per user (1 / TPOT)")
    a3.set_yticks(ys, [""] * len(ys))
    if ok:
        slo = ok[0].plan.inputs["slo"]["tpot_ms"] if ok[0].plan else None
        if slo:
            a3.axvline(1000.0 / slo, color="0.3", ls="--", lw=1)
            a3.text(1000.0 / slo, ys[-1] - 0.6, f" SLO {slo:g} ms", fontsize=8, color="0.3")
    for ax in (a1, a2, a3):
        ax.grid(axis="x", alpha=0.3, which="both")
        ax.set_ylim(-0.8, len(rows) - 0.4)
    fig.suptitle(title or "Best plan per topology under the same SLOs")
    return _save(fig, path)


# --------------------------------------------------------------------------- frontier


def frontier_table(results, console: Console) -> None:
    """The throughput frontier of each topology, point by point (the cost frontier is in --json/--csv)."""
    from rich import box

    for res in results:
        s = res.sizing
        head = f"[bold]{s.topology}[/] ({s.domains} {s.domain_unit}s, {s.gpus} GPUs{'; ' + s.note if s.note else ''}): " \
               f"{res.n_points:,} layout x batch points fit memory; {len(res.throughput)} on the throughput frontier"
        t = Table(title=head, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for c in ("layout", "batch", "TPOT\nms", "tok/s\nper user", "tok/s\nper GPU", "$/Mtok\nall-in", "bottleneck"):
            t.add_column(c, justify="left" if c in ("layout", "bottleneck") else "right", no_wrap=True)
        for p in res.throughput:
            t.add_row(p["layout"], str(p["batch"]), _num(p["tpot_ms"]), _num(p["tokens_per_s_per_user"]),
                      _num(p["output_tokens_per_s_per_gpu"]), _num(p["usd_per_mtok_all_in"]), _SHORT.get(p["bottleneck"], p["bottleneck"]),
                      style=None if p["meets_slo"] else "dim red")
        t.caption = "dim red rows break the TPOT or TTFT SLO" if not all(p["meets_slo"] for p in res.throughput) else None
        t.caption_justify = "left"
        console.print(t)
        c = res.chosen
        if c:
            console.print(f"  chosen plan under the SLOs: {c['layout']}, {_num(c['output_tokens_per_s_per_gpu'])} tok/s/GPU at "
                          f"{_num(c['tokens_per_s_per_user'])} tok/s/user, ${_num(c['usd_per_mtok_all_in'])}/Mtok all-in")
        else:
            head = "no plan within the time limit" if res.chosen_error.startswith("time limit:") else "no plan meets the SLOs"
            console.print(f"  [red]{head}[/]: {res.chosen_error}")


def plot_frontier(results, path: Path | str, tpot_slo_ms: float | None = None, title: str = "") -> Path:
    """Left: output tok/s per GPU against tok/s per user; right: $/Mtok (all-in)
    against TPOT. One colour per topology, frontier as a step line, the plan
    chosen under the SLOs as a star."""
    col = colours([r.sizing.topology for r in results])
    fig, (a1, a2) = _figure(2, width=6.0, height=4.8)
    xs1, ys1, xs2, ys2 = [], [], [], []
    for r in results:
        c, name = col[r.sizing.topology], r.sizing.topology
        x = [p["tokens_per_s_per_user"] for p in r.throughput]
        y = [p["output_tokens_per_s_per_gpu"] for p in r.throughput]
        a1.step(x, y, where="pre", color=c, lw=1.6, label=name)  # best y reachable at x: the next point's
        a1.plot(x, y, "o", color=c, ms=3)
        x2 = [p["tpot_ms"] for p in r.cost]
        y2 = [p["usd_per_mtok_all_in"] for p in r.cost]
        a2.step(x2, y2, where="post", color=c, lw=1.6, label=name)
        a2.plot(x2, y2, "o", color=c, ms=3)
        xs1 += x; ys1 += y; xs2 += x2; ys2 += y2
        if r.chosen:
            k = r.chosen
            a1.plot(k["tokens_per_s_per_user"], k["output_tokens_per_s_per_gpu"], "*", ms=16, color=c, mec="black", mew=0.8, zorder=5)
            a2.plot(k["tpot_ms"], k["usd_per_mtok_all_in"], "*", ms=16, color=c, mec="black", mew=0.8, zorder=5)
    a1.plot([], [], "*", ms=12, color="white", mec="black", label="chosen plan (within SLOs)")
    for ax, xs, ys in ((a1, xs1, ys1), (a2, xs2, ys2)):
        _log_if_wide(ax, xs, "x")
        _log_if_wide(ax, ys, "y")
        ax.grid(alpha=0.3, which="both")
    if tpot_slo_ms:
        a1.axvline(1000.0 / tpot_slo_ms, color="0.3", ls="--", lw=1)
        a1.text(1000.0 / tpot_slo_ms, a1.get_ylim()[0], f" TPOT SLO {tpot_slo_ms:g} ms", rotation=90, va="bottom", fontsize=8, color="0.3")
        a2.axvline(tpot_slo_ms, color="0.3", ls="--", lw=1)
        a2.text(tpot_slo_ms, a2.get_ylim()[1], f"TPOT SLO {tpot_slo_ms:g} ms ", rotation=90, va="top", ha="right", fontsize=8, color="0.3")
    a1.set_xlabel("interactivity: tokens/s per user (1 / TPOT)")
    a1.set_ylabel("throughput: output tokens/s per GPU")
    a1.set_title("Throughput vs interactivity (up and right is better)", fontsize=10)
    a2.set_xlabel("TPOT (ms per output token)")
    a2.set_ylabel("$ per million output tokens (all-in)")
    a2.set_title("Cost vs latency (down and left is better)", fontsize=10)
    a1.legend(fontsize=8, loc="best")
    fig.suptitle(title or "Pareto frontiers over every layout and batch (memory limits kept)")
    return _save(fig, path)


# --------------------------------------------------------------------------- explain


def explain_table(e, console: Console) -> None:
    """Each seed as a headline with its number, then its takeaway, wrapped."""
    from rich.padding import Padding

    head = f"[bold]{e.workload}[/] on [bold]{e.topology}[/] ({e.domains} {e.domain_unit}(s)){'; ' + e.note if e.note else ''}"
    console.print(head)
    for s in e.seeds:
        v = s.value
        val = "-" if v is None else (f"{int(v):,}" if float(v).is_integer() else _num(float(v)))
        console.print(f"\n[bold cyan]{s.title}[/]: [bold]{val} {s.unit if v is not None else ''}[/]", highlight=False)
        console.print(Padding(s.takeaway, (0, 0, 0, 2), expand=False), highlight=False)  # no fill to the width of a pipe


def plot_explain(e, path: Path | str) -> Path:
    """Layouts swept over batch: cost per token falls ~1/B towards the balance
    batch; TPOT never drops below the latency floor. The chosen layout and the
    one-domain layout nearest the floor."""
    c = e.curve
    if not c:
        raise InputError(f"--plot: no plan of {e.workload} meets the limits on {e.topology}, nothing to draw")
    fig, (a1, a2, a3) = _figure(3, width=5.8, height=4.6)
    styles = [("tab:blue", "-o"), ("tab:green", "-s")]
    for (colour, style), srs in zip(styles, c["series"]):
        label = f"{srs['layout']} ({srs['gpus']} GPUs)"
        a1.plot(srs["batch"], srs["usd_per_mtok_all_in"], style, ms=3, color=colour, label=label)
        a2.plot(srs["batch"], srs["tpot_ms"], style, ms=3, color=colour, label=label)
    a1.plot(c["chosen_batch"], c["chosen_usd_per_mtok"], "*", ms=16, color="tab:blue", mec="black", label=f"chosen plan (batch {c['chosen_batch']:,})")
    a2.plot(c["chosen_batch"], c["chosen_tpot_ms"], "*", ms=16, color="tab:blue", mec="black", label=f"chosen plan (batch {c['chosen_batch']:,})")
    for ax in (a1, a2):
        ax.axvline(c["balance_batch"], color="tab:orange", ls="--", lw=1.2, label=f"balance batch ~{c['balance_batch']:,.0f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log(ax.xaxis)
        _plain_log(ax.yaxis, minor=True)
        ax.set_xlabel("decode micro-batch (sequences per step, log)")
        ax.grid(alpha=0.3, which="both")
    a2.axhline(c["latency_floor_ms"], color="tab:red", ls=":", lw=1.5, label=f"latency floor {c['latency_floor_ms']:.2f} ms (all weights, one domain)")
    if c.get("latency_floor_batch1_ms"):
        a2.axhline(c["latency_floor_batch1_ms"], color="tab:red", ls=":", lw=1, alpha=0.5,
                   label=f"floor at batch 1, active experts only {c['latency_floor_batch1_ms']:.2f} ms")
    a2.axhline(c["tpot_slo_ms"], color="0.3", ls="--", lw=1, label=f"TPOT SLO {c['tpot_slo_ms']:g} ms")
    a1.set_ylabel("$ per million output tokens (all-in, log)")
    a2.set_ylabel("TPOT (ms per output token, log)")
    a1.set_title("Batching amortises weight reads", fontsize=10)
    a2.set_title("Latency grows with batch and has a floor", fontsize=10)
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    context_panel(a3, e.seed("long_context_crossover"))
    fig.suptitle(f"{e.workload} on {e.topology}: cost and latency against batch, and cost against context")
    return _save(fig, path)


def context_panel(ax, crossover_seed) -> tuple[list[int], list[float]]:
    """$/token against context, in units of the compute-only cost: flat below the
    crossover L*, linear past it (cost = compute x (1 + L / L*)). Returns the points drawn."""
    pts = crossover_seed.detail["curve"]
    x = [p["context_tokens"] for p in pts]
    y = [p["relative_cost"] for p in pts]
    ax.plot(x, y, "-o", ms=3, color="tab:purple", label="decode $/token (x compute-only cost)")
    ax.axvline(crossover_seed.value, color="tab:orange", ls="--", lw=1.2, label=f"crossover ~{crossover_seed.value:,.0f} tokens")
    top = crossover_seed.detail.get("model_max_context")
    if top:
        ax.axvline(top, color="0.3", ls=":", lw=1.2, label=f"model maximum {top:,} tokens")
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_xlabel("context held per sequence (tokens, log)")
    ax.set_ylabel("cost per output token / compute-only cost")
    ax.set_title("Past the crossover, KV reads set the price", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return x, y
