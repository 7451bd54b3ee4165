"""planner report: the HTML page is self-contained and correct, structurally
(always) and in a headless browser with the network cut off (where one is installed)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from planner.analysis.sweep import load_study, run_study
from planner.analysis.sweep import report as rep

PLANNER = str(Path(sys.executable).parent / "planner")
HOSTILE = "w<img src=y onerror=alert(1)>.yaml"  # a workload file name that is also HTML


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    shipped = Path(__file__).resolve().parent.parent / "workloads" / "llama-3.1-8b.yaml"
    (d / HOSTILE).write_text(shipped.read_text())
    study = {
        "name": "report <test>",
        "axes": {
            "workloads": ["llama-3.1-70b", HOSTILE],
            "topologies": [{"name": "hgx-h100", "domains": [1]}, {"name": "hgx-h200", "domains": [1]}],
            "slo": [{"tpot_ms": 10}, {"tpot_ms": 30}, {"tpot_ms": 100}],
            "demand_tps": [None, 1500, 6000],
            "modes": ["agg"],
        },
    }
    (d / "study.yaml").write_text(yaml.safe_dump(study))
    out = d / "r.parquet"
    run_study(load_study(d / "study.yaml"), out, workers=1)
    html = d / "report.html"
    res = subprocess.run([PLANNER, "report", str(out), "--html", str(html), "--csv", str(d / "r.csv")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return out, html


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._in_script = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "script":
            self._in_script = []
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "script":
            self.scripts.append("".join(self._in_script))
            self._in_script = None
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script.append(data)
        elif self._cell is not None:
            self._cell.append(data)


def test_html_is_self_contained_and_holds_every_view(results):
    out, html = results
    text = html.read_text()
    page = Page()
    page.feed(text)
    # offline: nothing is fetched (no src/href to anywhere), plotly.js is inline, once
    for tag, attrs in page.tags:
        assert "src" not in attrs or tag == "img", (tag, attrs)
        assert not str(attrs.get("href", "")).startswith(("http:", "https:", "//")), (tag, attrs)
    assert sum("Plotly" in s and len(s) > 1_000_000 for s in page.scripts) == 1
    # a hostile workload name is text, never markup
    assert not any(tag == "img" for tag, _ in page.tags)
    rows = pq.read_table(out).to_pylist()
    ids = {a.get("id") for _, a in page.tags}
    n_workloads = len({rep.group_of(r) for r in rows if r["status"] in rep.OK})
    assert {f"fig-frontier-{k}" for k in range(n_workloads)} | {f"fig-slo-{k}" for k in range(n_workloads)} | {"fig-demand"} <= ids
    all_ids = [a["id"] for _, a in page.tags if "id" in a]
    assert len(all_ids) == len(set(all_ids))  # a plot bound to a heading's id would draw in the wrong place
    # the sortable table: a header per column, one line per scenario, in study order
    main = page.tables[-1]
    assert main[0] == list(rep.TABLE_COLUMNS)
    assert len(main) - 1 == len(rows)
    col = rep.TABLE_COLUMNS.index("workload")
    assert [r[col] for r in main[1:]] == [r["workload"] for r in rows]
    assert HOSTILE in {r[col] for r in main[1:]}
    # same results, same bytes
    assert rep.page(pq.read_table(out), "t") == rep.page(pq.read_table(out), "t")


def test_cheapest_per_demand_matches_a_groupby(results):
    """Independent oracle: pandas picks the least $/hour (with a demand) or least
    $/Mtok (without) per workload and demand level."""
    out, html = results
    df = pq.read_table(out).to_pandas()
    ok = df[df.status.isin(["optimal", "feasible"])]
    best = {(r["workload"], r["demand_tps"]): r for r in rep.cheapest_per_demand(pq.read_table(out).to_pylist())}
    assert len(best) == ok.groupby(["workload", ok.demand_tps.fillna(-1)]).ngroups
    for (w, d), r in best.items():
        same = ok[(ok.workload == w) & (ok.demand_tps == d if d is not None else ok.demand_tps.isna())]
        key = "usd_per_hour" if d is not None else "usd_per_mtok_all_in"
        assert r[key] == same[key].min()


def test_frontier_keeps_exactly_the_undominated_points():
    rng = random.Random(7)
    for _ in range(50):
        pts = [(rng.choice([10, 20, 30, 40]) + rng.random(), rng.random(), {}) for _ in range(rng.randint(1, 30))]
        got = {(x, y) for x, y, _ in rep.frontier(pts)}
        brute = {(x, y) for x, y, _ in pts if not any((x2 >= x and y2 < y) or (x2 > x and y2 <= y) for x2, y2, _ in pts)}
        assert got == brute


def test_csv_has_every_row(results):
    out, html = results
    import csv

    with open(html.with_name("r.csv"), newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert [r["scenario_id"] for r in lines] == pq.read_table(out).column("scenario_id").to_pylist()


def test_report_rejects_what_is_not_sweep_results(tmp_path):
    bad = tmp_path / "x.parquet"
    bad.write_text("not parquet")
    res = subprocess.run([PLANNER, "report", str(bad), "--html", str(tmp_path / "r.html")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith(f"error: {bad}: not a Parquet file") and len(res.stderr.splitlines()) == 1


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_opens_in_a_headless_browser_offline(results):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    exe = _browser()
    if exe is None:
        pytest.skip("no chromium/chrome installed")
    out, html = results
    errors, requests, dialogs = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            def route(r):
                if not r.request.url.startswith("file:"):
                    requests.append(r.request.url)
                    return r.abort()
                return r.continue_()

            page.route("**/*", route)
            page.goto(html.as_uri(), wait_until="load")
            plots = page.eval_on_selector_all(".js-plotly-plot", "els => els.length")
            n_workloads = len({rep.group_of(r) for r in pq.read_table(out).to_pylist() if r["status"] in rep.OK})
            assert plots == 2 * n_workloads + 1
            # sort the big table by $/hour, ascending: numbers in order, blanks last
            col = rep.TABLE_COLUMNS.index("usd_per_hour")
            page.locator("table.sortable").last.locator("th").nth(col).click()
            values = page.eval_on_selector_all(
                "table.sortable >> nth=-1 >> tbody tr", f"rs => rs.map(r => r.cells[{col}].getAttribute('data-v'))")
        finally:
            browser.close()
    assert errors == [] and requests == [] and dialogs == []
    nums = [float(v) for v in values if v != "NaN"]
    assert nums == sorted(nums) and values[len(nums):] == ["NaN"] * (len(values) - len(nums))
