"""``planner report``: sweep results as one self-contained HTML page, or CSV.

The page carries plotly.js inline (no CDN, no network) and four views:

* cost frontier per GPU generation: $/Mtok (all-in) against tokens/s per user,
  the cheapest plan at each interactivity level, one line per accelerator;
* $/Mtok against the TPOT SLO, one line per topology;
* the cheapest option at each demand level;
* every row in a table that sorts by any column (click a header).

Same results, same bytes: figure ids are fixed and nothing reads the clock.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from ...inputs.errors import InputError

from .columns import COLUMNS, NAMES
from ...inputs.safeio import atomic_write

MAX_TABLE_ROWS = 5000  # rows in the page's table; the page says when there are more (all are in --csv)
MAX_FIGURE_GROUPS = 12  # (workload, traffic) groups plotted; the page says when there are more
OK = ("optimal", "feasible")


def read_results(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a Parquet file ({str(exc).splitlines()[0]})") from None
    missing = [n for n in NAMES if n not in table.column_names]
    if missing:
        raise InputError(f"{path}: not planner sweep results (no column {missing[0]!r})")
    return table.select(list(NAMES))


def title_of(table, path: Path) -> str:
    meta = (table.schema.metadata or {}).get(b"rack_planner.sweep")
    name = json.loads(meta).get("study") if meta else None
    return f"Capacity study {name!r}" if name else f"Sweep results {path.name}"


def write_csv(table, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    sink = pa.BufferOutputStream()
    pcsv.write_csv(table, sink)
    atomic_write(path, sink.getvalue().to_pybytes(), flag="--csv")


# --------------------------------------------------------------------------- numbers for the views


def frontier(points: list[tuple[float, float, dict]]) -> list[tuple[float, float, dict]]:
    """Pareto frontier of (tokens/s per user, $/Mtok): no other point is both
    faster per user and cheaper. Sorted by speed, fastest last."""
    best: list[tuple[float, float, dict]] = []
    for x, y, row in sorted(points, key=lambda p: (-p[0], p[1])):
        if not best or y < best[-1][1]:
            best.append((x, y, row))
    return best[::-1]


def cheapest_per_demand(rows: list[dict]) -> list[dict]:
    """For each (workload, demand level), the feasible row of least cost: $/hour
    when a demand is set (the demand is met), $/Mtok all-in when it is not."""
    best: dict[tuple[str, Any], dict] = {}
    for r in rows:
        if r["status"] not in OK:
            continue
        key = (r["workload"], r["demand_tps"])
        cost = r["usd_per_hour"] if r["demand_tps"] is not None else r["usd_per_mtok_all_in"]
        if key not in best or (cost, r["scenario_index"]) < best[key]["_cost"]:
            best[key] = {**r, "_cost": (cost, r["scenario_index"])}
    order = sorted(best, key=lambda k: (k[0], -1.0 if k[1] is None else k[1]))
    return [best[k] for k in order]


# --------------------------------------------------------------------------- figures


def _fig_html(fig, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False, "responsive": True})


def _hover(r: dict) -> str:
    return (f"{r['topology']} x{r['domains']} | {r['layouts']}<br>{r['gpus_used']} GPUs, ${r['usd_per_hour']:.4g}/h, "
            f"{r['usd_per_mtok_all_in']:.4g} $/Mtok<br>TPOT {r['tpot_ms']:.3g} ms, TTFT {r['ttft_ms']:.4g} ms")


def group_of(r: dict) -> tuple[str, int, int]:
    """Plots compare plans of one workload at one traffic shape."""
    return (r["workload"], r["isl"], r["osl"])


def _label(g: tuple[str, int, int]) -> str:
    return f"{g[0]}, ISL {g[1]} / OSL {g[2]}"


def _frontier_figs(rows: list[dict], groups: list[tuple]) -> list[str]:
    import plotly.graph_objects as go

    out = []
    for k, g in enumerate(groups):
        fig = go.Figure()
        mine = [r for r in rows if group_of(r) == g]
        for acc in sorted({r["accelerator"] for r in mine}):
            pts = [(r["tokens_per_s_per_user"], r["usd_per_mtok_all_in"], r) for r in mine if r["accelerator"] == acc]
            f = frontier(pts)
            fig.add_trace(go.Scatter(
                x=[p[0] for p in f], y=[p[1] for p in f], mode="lines+markers", name=acc, line_shape="hv",
                text=[_hover(p[2]) for p in f], hoverinfo="text+name",
            ))
        fig.update_layout(title=f"{_label(g)}: cost frontier per GPU generation", xaxis_title="tokens/s per user (1 / TPOT)",
                          yaxis_title="$ per million output tokens (all-in)", yaxis_type="log", template="plotly_white")
        out.append(_fig_html(fig, f"fig-frontier-{k}"))
    return out


def _slo_figs(rows: list[dict], groups: list[tuple]) -> list[str]:
    import plotly.graph_objects as go

    out = []
    for k, g in enumerate(groups):
        fig = go.Figure()
        mine = [r for r in rows if group_of(r) == g]
        for topo in sorted({r["topology"] for r in mine}):
            best: dict[float, dict] = {}
            for r in mine:
                if r["topology"] == topo:
                    s = r["tpot_slo_ms"]
                    if s not in best or r["usd_per_mtok_all_in"] < best[s]["usd_per_mtok_all_in"]:
                        best[s] = r
            xs = sorted(best)
            fig.add_trace(go.Scatter(x=xs, y=[best[s]["usd_per_mtok_all_in"] for s in xs], mode="lines+markers", name=topo,
                                     text=[_hover(best[s]) for s in xs], hoverinfo="text+name"))
        fig.update_layout(title=f"{_label(g)}: cheapest $/Mtok at each TPOT SLO", xaxis_title="TPOT SLO (ms)",
                          yaxis_title="$ per million output tokens (all-in)", yaxis_type="log", template="plotly_white")
        out.append(_fig_html(fig, f"fig-slo-{k}"))
    return out


def _demand_fig(best: list[dict]) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    for w in sorted({r["workload"] for r in best}):
        sel = [r for r in best if r["workload"] == w and r["demand_tps"] is not None]
        fig.add_trace(go.Bar(x=[f"{r['demand_tps']:,.0f}" for r in sel], y=[r["usd_per_hour"] for r in sel], name=w,
                             text=[f"{r['topology']}, {r['gpus_used']} GPUs" for r in sel], hovertext=[_hover(r) for r in sel]))
    fig.update_layout(title="Cheapest option per demand level", xaxis_title="demand (output tokens/s)", xaxis_type="category",
                      yaxis_title="$ per hour", barmode="group", template="plotly_white")
    return _fig_html(fig, "fig-demand")


# --------------------------------------------------------------------------- the page

_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      function key(r) { var c = r.cells[col]; return c.hasAttribute('data-v') ? parseFloat(c.getAttribute('data-v')) : c.textContent; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), nx = typeof x === 'number' && !isNaN(x), ny = typeof y === 'number' && !isNaN(y);
        var d = (nx && ny) ? x - y : (nx ? -1 : (ny ? 1 : String(x).localeCompare(String(y))));
        return asc ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.8em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
th[data-dir=asc]::after { content: ' \\25B2'; } th[data-dir=desc]::after { content: ' \\25BC'; }
td.num { text-align: right; } .note { color: #666; font-size: 0.9em; }
.scroll { max-height: 40em; overflow: auto; }
"""

TABLE_COLUMNS = tuple(n for n in NAMES if n not in ("scenario_id", "source", "domain_unit"))


def _cell(name: str, v: Any) -> str:
    if v is None:
        return '<td data-v="NaN"></td>' if name in _NUMERIC else "<td></td>"
    if name in _NUMERIC:
        shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        return f'<td class="num" data-v="{float(v)!r}">{html.escape(shown)}</td>'
    return f"<td>{html.escape(str(v))}</td>"


_NUMERIC = {n for n, t, _ in COLUMNS if t in ("int64", "float64")}


def _table(rows: list[dict], columns: tuple[str, ...]) -> str:
    head = "".join(f'<th title="{html.escape(_DESC[c])}">{html.escape(c)}</th>' for c in columns)
    body = "\n".join("<tr>" + "".join(_cell(c, r[c]) for c in columns) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>'


_DESC = {n: d for n, _, d in COLUMNS}


def page(table, title: str) -> str:
    """The whole HTML page (a string)."""
    from collections import Counter

    import plotly.offline

    rows = table.to_pylist()
    ok = [r for r in rows if r["status"] in OK and r["usd_per_mtok_all_in"] is not None and math.isfinite(r["usd_per_mtok_all_in"])]
    groups = sorted({group_of(r) for r in ok})
    shown = groups[:MAX_FIGURE_GROUPS]
    more = (f'<p class="note">Plots show {len(shown)} of {len(groups)} workload and traffic groups; the table and --csv have all.</p>'
            if len(shown) < len(groups) else "")
    counts = Counter(r["status"] for r in rows)
    status = ", ".join(f"{counts[s]} {s}" for s in ("optimal", "feasible", "infeasible", "time-limit", "error") if counts[s])
    best = cheapest_per_demand(rows)
    cut = f'<p class="note">The table shows the first {MAX_TABLE_ROWS} of {len(rows)} rows (by scenario index); --csv has all.</p>' if len(rows) > MAX_TABLE_ROWS else ""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>", f"<h1>{html.escape(title)}</h1>",
        f'<p>{len(rows)} scenarios: {html.escape(status)}.</p>',
        '<h2 id="frontier">Cost frontier per GPU generation</h2>',
        '<p class="note">For each accelerator, the cheapest plan found at each level of interactivity (a plan is on the line if no plan of that accelerator is both faster per user and cheaper).</p>',
        more, *_frontier_figs(ok, shown),
        '<h2 id="slo">$/Mtok vs SLO</h2>', *_slo_figs(ok, shown),
        '<h2 id="demand">Cheapest option per demand level</h2>',
        '<p class="note">Per workload and demand level: least $/hour that serves the demand; without a demand (blank), least $/Mtok on the whole inventory.</p>',
        _demand_fig(best) if any(r["demand_tps"] is not None for r in best) else "",
        _table(best, ("workload", "demand_tps", "topology", "domains", "mode_chosen", "layouts", "gpus_used", "usd_per_hour",
                      "usd_per_mtok_all_in", "tpot_ms", "ttft_ms")),
        '<h2 id="rows">All scenarios</h2>', '<p class="note">Click a column header to sort.</p>', cut,
        _table(rows[:MAX_TABLE_ROWS], TABLE_COLUMNS),
        f"<script>{_SORT_JS}</script>", "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_html(table, path: Path, title: str) -> None:
    atomic_write(path, page(table, title), flag="--html")
