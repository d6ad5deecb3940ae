"""The monitor's pages and figures: Dash components built from the plain data of monitor_data.

Pages come filled in (the route callback renders the first view) with stable ids; the callbacks
(monitor_callbacks) refresh parts of them. Tables are plain
HTML tables with a server-side pager (dash_table.DataTable is deprecated in Dash 4). Every text from the
database, a context or a log is passed as component *text*, which React escapes: nothing here renders HTML or
markdown from data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional
from urllib.parse import quote, unquote

import plotly.graph_objects as go
from dash import dcc, html

from .monitor_data import STEP_STATUSES, VERDICTS, elapsed, parse_ts, utc_now

STATUS_COLOURS = {"pending": "#9e9e9e", "running": "#1e88e5", "succeeded": "#43a047", "failed": "#e53935",
                  "skipped": "#9e9e9e", "aborted": "#fb8c00", "reused": "#00897b", "crashed": "#6d4c41"}
RUNS_PAGE_SIZE = 25
CTX_PAGE_SIZE = 15
CSS = """
body { margin: 0; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #212121; }
.bar { background: #263238; padding: 10px 16px; }
.bar a { color: #cfd8dc; margin-right: 16px; text-decoration: none; }
.bar a.brand { color: white; font-weight: 700; }
.page { padding: 6px 16px 40px; }
h3 { margin: 22px 0 6px; }
table.grid { border-collapse: collapse; font-size: 13px; width: 100%; }
table.grid th { background: #eceff1; text-align: left; padding: 5px 8px; border-bottom: 1px solid #cfd8dc;
                position: sticky; top: 0; }
table.grid td { padding: 4px 8px; border-bottom: 1px solid #eceff1; vertical-align: top; max-width: 520px;
                overflow-wrap: anywhere; }
table.grid tr:hover td { background: #f5f7f8; }
table.grid td.num, table.grid th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.grid tr.selected td { background: #e3f2fd; }
.status { color: white; font-weight: 600; border-radius: 10px; padding: 1px 9px; display: inline-block; }
.scroll { max-height: 560px; overflow: auto; border: 1px solid #eceff1; }
a.link { color: #1565c0; cursor: pointer; text-decoration: underline; }
.pager { display: flex; gap: 10px; align-items: center; margin: 8px 0; font-size: 13px; color: #546e7a; }
.filters { display: flex; gap: 10px; flex-wrap: wrap; align-items: center; margin-bottom: 6px; }
.muted { color: #546e7a; font-size: 13px; }
pre.log { background: #102027; color: #e0e0e0; padding: 10px; max-height: 420px; overflow: auto; font-size: 12px;
          white-space: pre-wrap; word-break: break-all; margin: 4px 0; }
.facts th { text-align: left; padding-right: 14px; color: #546e7a; font-weight: 500; }
""" + "".join(f".st-{s} {{ background: {c}; }}\n" for s, c in STATUS_COLOURS.items())
INDEX = """<!DOCTYPE html>
<html><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}<style>""" + CSS + """</style></head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>"""


def run_href(run_id: str) -> str:
    return f"/run/{quote(run_id, safe='')}"


def badge(status: str, element_id: Optional[str] = None) -> html.Span:
    """A status or verdict as a coloured pill (the colour comes from a class, the text is escaped)."""
    if element_id:
        return html.Span(status, id=element_id, className=f"status st-{status}")
    return html.Span(status, className=f"status st-{status}")


def grid(table_id: str, columns: list[tuple[str, str]], rows: list[list[Any]],
         row_ids: Optional[list[str]] = None, selected: Optional[str] = None) -> html.Table:
    """A plain table. columns: (heading, 'text'|'num'); rows: cell children; row_ids become data-row ids."""
    head = html.Thead(html.Tr([html.Th(name, className="num" if kind == "num" else None) for name, kind in columns]))
    body = []
    for i, row in enumerate(rows):
        cells = [html.Td(c, className="num" if kind == "num" else None)
                 for c, (_, kind) in zip(row, columns, strict=True)]
        rid = row_ids[i] if row_ids else None
        body.append(html.Tr(cells, className="selected" if rid is not None and rid == selected else None))
    return html.Table([head, html.Tbody(body)], id=table_id, className="grid")


@dataclass(frozen=True)
class PagedView:
    """One page of a paged table and its pager's state (what a paging callback returns, in this order)."""

    table: Any
    page: int
    info: str
    no_prev: bool
    no_next: bool
    summary: str

    def outputs(self) -> tuple[Any, ...]:
        return self.table, self.page, self.info, self.no_prev, self.no_next, self.summary


def page_info(total: int, page: int, size: int) -> tuple[int, str, bool, bool]:
    """(page clamped to the last one, 'page x of y', previous disabled, next disabled)."""
    pages = max(1, math.ceil(total / size))
    page = min(max(page, 0), pages - 1)
    return page, f"page {page + 1} of {pages}", page == 0, page >= pages - 1


def pager(prefix: str, view: PagedView) -> html.Div:
    """Previous/next buttons and a page counter; the page number lives in the store `<prefix>-page`."""
    return html.Div([html.Button("‹ previous", id=f"{prefix}-prev", disabled=view.no_prev),
                     html.Span(view.info, id=f"{prefix}-pageinfo"),
                     html.Button("next ›", id=f"{prefix}-next", disabled=view.no_next),
                     dcc.Store(id=f"{prefix}-page", data=view.page)], className="pager")


def _fmt_time(text: Optional[str]) -> str:
    ts = parse_ts(text)
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def _num(value: Optional[float], digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def fmt_seconds(value: Optional[float]) -> str:
    """1.234 -> '1.23 s', 75 -> '1m 15s', 4000 -> '1h 06m'."""
    if value is None:
        return ""
    if value < 60:
        return f"{value:.2f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m {seconds:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def counts_text(counts: dict[str, int]) -> str:
    """{'succeeded': 5, 'failed': 1} -> '6: 5 succeeded, 1 failed' (in status order)."""
    parts = [f"{counts[s]} {s}" for s in (*STEP_STATUSES, *sorted(set(counts) - set(STEP_STATUSES))) if counts.get(s)]
    return f"{sum(counts.values())}: " + ", ".join(parts) if parts else "0"


# --------------------------------------------------------------------------- the frame and the runs page


def shell() -> html.Div:
    """The frame every page sits in: a location, a title bar with links, and the page container."""
    bar = html.Div([dcc.Link("orchestrator monitor", href="/", className="brand"),
                    html.A("API", href="/api/v1/runs"), html.A("metrics", href="/metrics")], className="bar")
    return html.Div([dcc.Location(id="url"), bar, html.Div(id="page", className="page")])


def _dropdown(dd_id: str, placeholder: str, values: list[str]) -> dcc.Dropdown:
    return dcc.Dropdown(id=dd_id, options=[{"label": v, "value": v} for v in values], placeholder=placeholder,
                        clearable=True, style={"width": "220px"})


def runs_page(options: dict[str, list[str]], cursor: Any, interval_ms: int, view: PagedView) -> html.Div:
    """The runs list (first page filled in): filters, a server-side paged table, the tick that keeps it current."""
    filters = html.Div([
        _dropdown("f-recipe", "recipe", options["recipe_name"]), _dropdown("f-tester", "tester", options["tester"]),
        _dropdown("f-verdict", "verdict", sorted(set(options["verdict"]) | set(VERDICTS))),
        html.Div(dcc.DatePickerRange(id="f-dates", display_format="YYYY-MM-DD", clearable=True,
                                     start_date_placeholder_text="from", end_date_placeholder_text="to"),
                 style={"width": "340px"}),
    ], className="filters")
    return html.Div([html.H2("Runs"), filters, html.Div(view.summary, id="runs-summary", className="muted"),
                     pager("runs", view), html.Div(view.table, id="runs-table"),
                     dcc.Interval(id="runs-tick", interval=interval_ms),
                     dcc.Store(id="runs-cursor", data=cursor)])


RUN_COLUMNS = [("run", "text"), ("recipe", "text"), ("test id", "text"), ("tester", "text"), ("verdict", "text"),
               ("started (UTC)", "text"), ("duration", "num"), ("steps", "text")]


def runs_table(runs: list[dict[str, Any]], now: Optional[datetime] = None) -> html.Table:
    """The runs page's table: a link per run, readable times, the step counts per status."""
    now = now or utc_now()
    rows = []
    for r in runs:
        running = r["verdict"] == "running"
        took = elapsed(r, now) if running else r.get("duration")
        rows.append([dcc.Link(r["id"], href=run_href(r["id"])), r.get("recipe_name"), r.get("test_id"),
                     r.get("tester"), badge(r["verdict"]), _fmt_time(r.get("started")),
                     fmt_seconds(took) + (" so far" if running else ""), counts_text(r.get("step_counts", {}))])
    return grid("runs-grid", RUN_COLUMNS, rows)


# --------------------------------------------------------------------------- the run page


@dataclass(frozen=True)
class RunView:
    """The parts of a run page refreshed when the run changes (what run_refresh returns, in this order)."""

    header: Any
    steps: Any
    gantt: go.Figure
    log_options: list[dict[str, str]]

    def outputs(self) -> tuple[Any, ...]:
        return self.header, self.steps, self.gantt, self.log_options


def run_view(run: dict[str, Any], steps: list[dict[str, Any]]) -> RunView:
    options = [{"label": f"{s['name']} ({s['status']})", "value": s["name"]} for s in steps]
    return RunView(run_header(run, steps), steps_table(steps), gantt_figure(steps), options)


def run_page(run: dict[str, Any], view: RunView, ctx: PagedView, cursors: tuple[Any, int, str], live: bool,
             others: list[dict[str, Any]], interval_ms: int) -> html.Div:
    """The page of /run/<id>, filled in. cursors: (run cursor, context head, step graph version); the tick runs
    while the run is `live`."""
    run_id = run["id"]
    graph = html.Div([html.H3("Step graph"),
                      html.Img(id="step-graph", src=graph_src(run_id, cursors[2]), alt="step graph",
                               style={"maxWidth": "100%", "border": "1px solid #ddd"})],
                     id="graph-box", hidden=not cursors[2])
    compare = dcc.Dropdown(id="compare-with", placeholder="compare with another run of this recipe",
                           options=[{"label": f"{o['id']} ({o['verdict']})", "value": o["id"]} for o in others],
                           style={"width": "460px"})
    return html.Div([
        dcc.Store(id="run-id", data=run_id), dcc.Store(id="run-cursor", data=cursors[0]),
        dcc.Store(id="ctx-cursor", data=cursors[1]), dcc.Store(id="graph-cursor", data=cursors[2]),
        dcc.Store(id="ctx-key"), dcc.Store(id="log-cursor"), dcc.Store(id="log-scroll"),
        dcc.Location(id="run-url"),  # its fragment holds the log and the context key shown (selection_link)
        dcc.Interval(id="run-tick", interval=interval_ms, disabled=not live),
        html.Div(view.header, id="run-header"),
        html.H3("Steps"), html.Div(view.steps, id="steps-table", className="scroll"),
        html.H3("Timeline"), dcc.Graph(id="gantt", figure=view.gantt, config={"displaylogo": False}),
        html.H3("Log"),
        dcc.Dropdown(id="log-step", options=view.log_options, placeholder="pick a step (or click its name above)",
                     style={"width": "460px"}),
        html.Div(id="log-title", className="muted"), html.Pre(id="log-text", className="log"),
        html.H3("Context"),
        html.Div([dcc.Input(id="ctx-filter", type="text", placeholder="filter keys", debounce=True,
                            style={"width": "220px"}),
                  html.Span(ctx.summary, id="ctx-summary", className="muted")], className="filters"),
        pager("ctx", ctx), html.Div(ctx.table, id="ctx-table"),
        html.H4(id="ctx-history-title"), html.Div(id="ctx-history"),
        graph,
        html.H3("Compare"), compare, html.Div(id="compare-link", style={"marginTop": "6px"}),
    ])


def selection_link(kind: str, name: str) -> html.A:
    """A link that selects a step's log (`kind` "log") or a context key's history ("key") on the run page.

    The choice lives in the URL's fragment (#log=<step>), so a click is the browser's own navigation: the live
    redraw of the table under the pointer cannot swallow it, and the address can be bookmarked or shared."""
    return html.A(name, href=selection_fragment(kind, name), className="link")


def selection_fragment(kind: str, name: str) -> str:
    return f"#{kind}={quote(name, safe='')}"


def parse_selection(fragment: Optional[str]) -> Optional[tuple[str, str]]:
    """(kind, name) from a fragment made by selection_fragment, or None for any other fragment."""
    kind, sep, name = (fragment or "").lstrip("#").partition("=")
    return (kind, unquote(name)) if sep and kind in ("log", "key") and name else None


def graph_src(run_id: str, version: str) -> str:
    """The step graph's URL; the version (the file's mtime) changes with each drawing, so the browser refetches."""
    return f"/graph/{quote(run_id, safe='')}?v={version}"


def run_header(run: dict[str, Any], steps: list[dict[str, Any]], now: Optional[datetime] = None) -> html.Div:
    """The run's identity and verdict, as a small two-column table."""
    counts: dict[str, int] = {}
    for s in steps:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    verdict = run["verdict"]
    fields = [("recipe", f"{run.get('recipe_name')} ({run.get('recipe_path')})"), ("test id", run.get("test_id")),
              ("tester", run.get("tester")), ("description", run.get("description")),
              ("host / user", f"{run.get('host')} / {run.get('user')}"),
              ("mode", f"{run.get('mode')} ({run.get('slots')} slots)" if run.get("mode") == "parallel"
               else run.get("mode")),
              ("started (UTC)", _fmt_time(run.get("started"))), ("ended (UTC)", _fmt_time(run.get("ended"))),
              ("duration", fmt_seconds(elapsed(run, now)) + (" so far" if verdict == "running" else "")),
              ("steps", counts_text(counts)), ("resumes run", run.get("parent_run"))]
    rows = [html.Tr([html.Th(k), html.Td(str(v))]) for k, v in fields if v not in (None, "")]
    return html.Div([html.H2([html.Span(f"Run {run['id']} ", id="run-title"), badge(verdict, "run-verdict")]),
                     html.Table(html.Tbody(rows), className="facts")])


STEP_COLUMNS = [("#", "num"), ("step", "text"), ("status", "text"), ("attempts", "num"), ("started (UTC)", "text"),
                ("duration (s)", "num"), ("CPU (s)", "num"), ("peak RSS (MB)", "num"), ("exit", "num"),
                ("failure reason", "text")]


def steps_table(steps: list[dict[str, Any]], now: Optional[datetime] = None) -> html.Table:
    """The steps table; a step's name links to its log. Running steps show their time so far."""
    now = now or utc_now()
    rows = []
    for s in steps:
        took = (elapsed(s, now) if s["status"] == "running" else s.get("duration")) if s.get("started") else None
        rss = s.get("max_rss")
        rows.append([str((s.get("position") or 0) + 1),
                     selection_link("log", s["name"]),
                     badge(s["status"]), str(s.get("attempts") or 0), _fmt_time(s.get("started")), _num(took),
                     _num(s.get("cpu")) if s.get("started") else "", _num(rss / 1048576, 1) if rss else "",
                     "" if s.get("exit_code") is None else str(s["exit_code"]), s.get("reason") or ""])
    return grid("steps-grid", STEP_COLUMNS, rows)


def gantt_figure(steps: list[dict[str, Any]], now: Optional[datetime] = None) -> go.Figure:
    """A timeline: one horizontal bar per started step (base = start, length = duration), coloured by status."""
    now = now or utc_now()
    traces: dict[str, dict[str, list[Any]]] = {}
    for s in steps:
        start = parse_ts(s.get("started"))
        if start is None:
            continue
        took = max(elapsed(s, now) or 0.0, 0.001)
        t = traces.setdefault(s["status"], {"y": [], "x": [], "base": [], "text": []})
        t["y"].append(s["name"])
        t["x"].append(took * 1000)  # a date axis measures bar lengths in milliseconds
        t["base"].append(start.strftime("%Y-%m-%d %H:%M:%S.%f"))
        t["text"].append(f"{s['name']}: {s['status']}, {fmt_seconds(took)}, attempt(s) {s.get('attempts') or 0}")
    fig = go.Figure([go.Bar(name=status, orientation="h", y=t["y"], x=t["x"], base=t["base"],
                            hovertext=t["text"], hoverinfo="text", marker_color=STATUS_COLOURS.get(status, "#777"))
                     for status, t in traces.items()])
    names = [s["name"] for s in steps]
    fig.update_layout(barmode="overlay", height=min(120 + 22 * len(names), 6000), margin=dict(l=10, r=10, t=10, b=30),
                      xaxis=dict(type="date", title="UTC"), legend=dict(orientation="h", y=1.02, yanchor="bottom"),
                      yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=names, automargin=True),
                      plot_bgcolor="white")
    return fig


CTX_COLUMNS = [("key", "text"), ("current value (JSON)", "text"), ("changes", "num"), ("last by", "text"),
               ("when (UTC)", "text")]
HISTORY_COLUMNS = [("seq", "num"), ("who", "text"), ("attempt", "num"), ("when (UTC)", "text"), ("op", "text"),
                   ("old", "text"), ("new", "text"), ("undone by", "text")]


def ctx_table(keys: list[dict[str, Any]], selected: Optional[str] = None) -> html.Table:
    """The context's keys (one page); a key links to its history."""
    rows = [[selection_link("key", k["key"]), k["value"],
             str(k["changes"]), k["who"], _fmt_time(k["ts"])] for k in keys]
    return grid("ctx-grid", CTX_COLUMNS, rows, [k["key"] for k in keys], selected)


def history_table(history: list[dict[str, Any]]) -> html.Table:
    rows = [[str(h["seq"]), h["who"], "" if h["attempt"] is None else str(h["attempt"]), _fmt_time(h["ts"]), h["op"],
             h["old"], h["new"], h["undone_by"]] for h in history]
    return grid("history-grid", HISTORY_COLUMNS, rows)


def log_title(step: str, size: int, truncated: bool, running: bool, limit: int) -> str:
    shown = f"last {limit // 1024} KB of {size:,} bytes" if truncated else f"{size:,} bytes"
    return f"{step}: {shown}" + (" (following while the step runs)" if running else "")


def compare_link(run_id: str, other: str) -> dcc.Link:
    return dcc.Link(f"compare {run_id} with {other}", id="compare-go",
                    href=f"/compare/{quote(run_id, safe='')}/{quote(other, safe='')}")


# --------------------------------------------------------------------------- compare, and not found


COMPARE_COLUMNS = [("step", "text"), ("status A", "text"), ("duration A (s)", "num"), ("status B", "text"),
                   ("duration B (s)", "num"), ("B - A (s)", "num")]


def compare_page(a: dict[str, Any], b: dict[str, Any], rows: list[dict[str, Any]]) -> html.Div:
    """Two runs side by side: status and duration per step, and the durations as grouped bars."""
    cells = [[r["name"], badge(r["status_a"]) if r["status_a"] else "", _num(r["duration_a"], 3),
              badge(r["status_b"]) if r["status_b"] else "", _num(r["duration_b"], 3),
              "" if r["delta"] is None else f"{r['delta']:+.3f}"] for r in rows]
    warning = [] if a.get("recipe_path") == b.get("recipe_path") else [
        html.P("these runs are of different recipes", style={"color": "#e53935", "fontWeight": "600"})]
    names = [r["name"] for r in rows]
    fig = go.Figure([go.Bar(name=f"A {a['id']}", x=names, y=[r["duration_a"] for r in rows], marker_color="#1e88e5"),
                     go.Bar(name=f"B {b['id']}", x=names, y=[r["duration_b"] for r in rows], marker_color="#90a4ae")])
    fig.update_layout(barmode="group", height=360, yaxis_title="seconds", margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.05), plot_bgcolor="white")

    def who(label: str, run: dict[str, Any]) -> html.P:
        return html.P([f"{label}: ", dcc.Link(run["id"], href=run_href(run["id"])), " ", badge(run["verdict"]),
                       f" {fmt_seconds(run.get('duration'))}, started {_fmt_time(run.get('started'))}"])

    return html.Div([html.H2("Compare runs"), *warning, who("A", a), who("B", b),
                     grid("compare-grid", COMPARE_COLUMNS, cells),
                     dcc.Graph(id="compare-graph", figure=fig, config={"displaylogo": False})])


def not_found(message: str) -> html.Div:
    return html.Div([html.H2("Not found"), html.P(message, id="not-found"), dcc.Link("all runs", href="/")])
