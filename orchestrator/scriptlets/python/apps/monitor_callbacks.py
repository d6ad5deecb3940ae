"""The monitor's Dash callbacks: routing, filters and paging, and the live refresh of a run.

Live updates are cursor-driven. A 1 s `dcc.Interval` asks only "has the newest event id changed?" (one indexed
MAX query) and answers `no_update` when it has not, so an idle page costs one tiny request per second and
nothing is re-rendered. When the cursor moves (or every HEARTBEAT seconds while the run runs, so that times
"so far" advance), only the run's header, steps table and timeline are re-queried; the context table is
re-queried only when the context's own head (its newest change number) moves, and a log tail is re-read only
when the file's size or mtime changed, and the step graph image is fetched again when the runner has redrawn
it (its file's mtime). The tick is switched off SETTLE seconds after the run has ended.

Pages arrive filled in from the route callback, and every refreshing callback has prevent_initial_call: Dash
drops a callback's first call when an input is fed by another callback answering no_update, so nothing here
relies on first calls.
"""
from __future__ import annotations

import re
import time
from typing import Any, Optional
from urllib.parse import unquote

from dash import Dash, Input, Output, State, ctx, no_update

from . import monitor_layout as layout
from .monitor_context import context_head, context_keys, key_history
from .monitor_data import Database, RunFilter, parse_ts, utc_now

LOG_BYTES = 64 * 1024
HEARTBEAT = 5  # seconds between refreshes of a running run that has no new events
SETTLE = 5  # seconds a finished run's page keeps polling
RUN_PATH = re.compile(r"/run/([^/]+)/?")
COMPARE_PATH = re.compile(r"/compare/([^/]+)/([^/]+)/?")
FILTERS = ("f-recipe", "f-tester", "f-verdict", "f-dates")
PAGED = ("table", "children"), ("page", "data"), ("pageinfo", "children"), ("prev", "disabled"), \
    ("next", "disabled"), ("summary", "children")


def register(app: Dash, db: Database, interval_ms: int = 1000) -> None:
    """Attach every callback to `app`, reading from `db`."""
    _routing(app, db, interval_ms)
    _runs_page(app, db)
    _run_live(app, db)
    _context(app, db)
    _selection(app)
    _log(app, db)


# --------------------------------------------------------------------------- views shared by first render and refresh


def render(db: Database, pathname: Optional[str], interval_ms: int) -> Any:
    """The page for a path: / (runs), /run/<id>, /compare/<a>/<b>, else a not-found page."""
    path = unquote(pathname or "/")
    if path in ("/", "/runs"):
        return layout.runs_page(db.filter_options(), db.global_cursor(), interval_ms, runs_view(db, RunFilter(), 0))
    if match := RUN_PATH.fullmatch(path):
        return _run_page(db, match.group(1), interval_ms)
    if match := COMPARE_PATH.fullmatch(path):
        a, b = db.run(match.group(1)), db.run(match.group(2))
        if a is None or b is None:
            return layout.not_found(f"no run {match.group(1) if a is None else match.group(2)!r}")
        return layout.compare_page(a, b, db.compare(a["id"], b["id"]))
    return layout.not_found(f"no page at {path!r}")


def _run_page(db: Database, run_id: str, interval_ms: int) -> Any:
    run = db.run(run_id)
    if run is None:
        return layout.not_found(f"no run {run_id!r}")
    cursors = live_cursor(db, run_id)[0], context_head(run.get("ctx_path")), db.graph_version(run_id)
    return layout.run_page(run, layout.run_view(run, db.steps(run_id)), ctx_view(db, run_id, "", 0, None), cursors,
                           is_live(run), db.same_recipe_runs(run_id), interval_ms)


def runs_view(db: Database, filt: RunFilter, page: int) -> layout.PagedView:
    size = layout.RUNS_PAGE_SIZE
    total, runs = db.list_runs(filt, size, page * size)
    page, info, no_prev, no_next = layout.page_info(total, page, size)
    if not runs and total:  # past the end (runs were deleted meanwhile): show the last page
        runs = db.list_runs(filt, size, page * size)[1]
    return layout.PagedView(layout.runs_table(runs), page, info, no_prev, no_next, f"{total} run(s), newest first")


def ctx_view(db: Database, run_id: str, match: str, page: int, key: Optional[str]) -> layout.PagedView:
    size, ctx_path = layout.CTX_PAGE_SIZE, (db.run(run_id) or {}).get("ctx_path")
    total, keys = context_keys(ctx_path, match, size, page * size)
    page, info, no_prev, no_next = layout.page_info(total, page, size)
    if not keys and total:
        keys = context_keys(ctx_path, match, size, page * size)[1]
    return layout.PagedView(layout.ctx_table(keys, key), page, info, no_prev, no_next,
                            f"{total} key(s); click a key for its history")


def live_cursor(db: Database, run_id: str) -> tuple[list[Any], Optional[str]]:
    """([newest event id, heartbeat number], verdict). The heartbeat number changes every HEARTBEAT seconds
    while the run runs, so times "so far" stay current; it is None once the run has ended."""
    events, verdict = db.run_cursor(run_id)
    return [events, int(time.time() // HEARTBEAT) if verdict == "running" else None], verdict


def is_live(run: dict[str, Any]) -> bool:
    """Keep polling while the run runs, and SETTLE seconds after it ended (the runner's last drawing of the step
    graph and the last log lines land just after its final event)."""
    if not run:
        return False
    ended = parse_ts(run.get("ended"))
    return run.get("verdict") == "running" or ended is None or (utc_now() - ended).total_seconds() < SETTLE


def turn_page(trigger: Any, page: Optional[int], prefix: str, resets: tuple[str, ...]) -> int:
    """The page to show after `trigger`: previous/next move by one, a changed filter goes back to the first."""
    page = page or 0
    if trigger == f"{prefix}-prev":
        return max(0, page - 1)
    if trigger == f"{prefix}-next":
        return page + 1
    return 0 if trigger in resets else page


def _paged_outputs(prefix: str) -> list[Output]:
    return [Output(f"{prefix}-{part}", prop) for part, prop in PAGED]


# --------------------------------------------------------------------------- the callbacks


def _routing(app: Dash, db: Database, interval_ms: int) -> None:
    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: Optional[str]) -> Any:
        return render(db, pathname, interval_ms)


def _runs_page(app: Dash, db: Database) -> None:
    @app.callback(Output("runs-cursor", "data"), Input("runs-tick", "n_intervals"), State("runs-cursor", "data"),
                  prevent_initial_call=True)
    def runs_poll(_: Any, cursor: Any) -> Any:
        new = db.global_cursor()
        return no_update if new == cursor else new

    @app.callback(*_paged_outputs("runs"), Input("runs-cursor", "data"), Input("runs-prev", "n_clicks"),
                  Input("runs-next", "n_clicks"), Input("f-recipe", "value"), Input("f-tester", "value"),
                  Input("f-verdict", "value"), Input("f-dates", "start_date"), Input("f-dates", "end_date"),
                  State("runs-page", "data"), prevent_initial_call=True)
    def runs_table(_c: Any, _p: Any, _n: Any, recipe: Optional[str], tester: Optional[str], verdict: Optional[str],
                   since: Optional[str], until: Optional[str], page: Optional[int]) -> tuple[Any, ...]:
        page = turn_page(ctx.triggered_id, page, "runs", FILTERS)
        return runs_view(db, RunFilter(recipe, tester, verdict, since, until), page).outputs()


def _run_live(app: Dash, db: Database) -> None:
    @app.callback(Output("run-cursor", "data"), Output("ctx-cursor", "data"), Output("graph-cursor", "data"),
                  Output("run-tick", "disabled"), Input("run-tick", "n_intervals"), State("run-id", "data"),
                  State("run-cursor", "data"), State("ctx-cursor", "data"), State("graph-cursor", "data"),
                  prevent_initial_call=True)
    def run_poll(_: Any, run_id: str, cursor: Any, ctx_cursor: Any, graph_cursor: Any) -> tuple[Any, ...]:
        new, _verdict = live_cursor(db, run_id)
        run = db.run(run_id) or {}
        moved = not isinstance(cursor, list) or cursor[0] != new[0]  # new events, not just the heartbeat
        head = context_head(run.get("ctx_path")) if moved else ctx_cursor
        graph = db.graph_version(run_id)
        # each output is sent only when it differs from what the page has (the tick starts enabled: False)
        return tuple(no_update if value == last else value for value, last in
                     [(new, cursor), (head, ctx_cursor), (graph, graph_cursor), (not is_live(run), False)])

    @app.callback(Output("run-header", "children"), Output("steps-table", "children"), Output("gantt", "figure"),
                  Output("log-step", "options"), Input("run-cursor", "data"), State("run-id", "data"),
                  prevent_initial_call=True)
    def run_refresh(_: Any, run_id: str) -> tuple[Any, ...]:
        run = db.run(run_id)
        if run is None:
            return layout.not_found(f"no run {run_id!r}"), "", no_update, []
        return layout.run_view(run, db.steps(run_id)).outputs()

    @app.callback(Output("step-graph", "src"), Output("graph-box", "hidden"), Input("graph-cursor", "data"),
                  State("run-id", "data"), prevent_initial_call=True)
    def graph_refresh(version: str, run_id: str) -> tuple[Any, bool]:
        return layout.graph_src(run_id, version), not version  # the runner redrew it: fetch the new drawing

    @app.callback(Output("compare-link", "children"), Input("compare-with", "value"), State("run-id", "data"),
                  prevent_initial_call=True)
    def compare(other: Optional[str], run_id: str) -> Any:
        return layout.compare_link(run_id, other) if other else ""


def _context(app: Dash, db: Database) -> None:
    @app.callback(*_paged_outputs("ctx"), Input("ctx-cursor", "data"), Input("ctx-prev", "n_clicks"),
                  Input("ctx-next", "n_clicks"), Input("ctx-filter", "value"), Input("ctx-key", "data"),
                  State("ctx-page", "data"), State("run-id", "data"), prevent_initial_call=True)
    def ctx_table(_c: Any, _p: Any, _n: Any, match: Optional[str], key: Optional[str], page: Optional[int],
                  run_id: str) -> tuple[Any, ...]:
        page = turn_page(ctx.triggered_id, page, "ctx", ("ctx-filter",))
        return ctx_view(db, run_id, match or "", page, key).outputs()

    @app.callback(Output("ctx-history", "children"), Output("ctx-history-title", "children"),
                  Input("ctx-key", "data"), Input("ctx-cursor", "data"), State("run-id", "data"),
                  prevent_initial_call=True)
    def ctx_history(key: Optional[str], _: Any, run_id: str) -> tuple[Any, Any]:
        if not key:
            return "", ""
        history = key_history((db.run(run_id) or {}).get("ctx_path"), key)
        return layout.history_table(history), f"history of {key} ({len(history)} change(s))"


def _selection(app: Dash) -> None:
    """The URL's fragment (#log=<step>, #key=<key>, set by the tables' links) picks the log and the context key
    shown; picking a step in the log's dropdown writes the fragment back, so the address always shows the log."""
    @app.callback(Output("log-step", "value"), Output("ctx-key", "data"), Output("run-url", "hash"),
                  Input("run-url", "hash"), Input("log-step", "value"))
    def select(fragment: Optional[str], step: Optional[str]) -> tuple[Any, Any, Any]:
        if ctx.triggered_id == "log-step":
            return no_update, no_update, layout.selection_fragment("log", step) if step else ""
        kind, name = layout.parse_selection(fragment) or ("", "")
        return (name if kind == "log" else no_update), (name if kind == "key" else no_update), no_update


def _log(app: Dash, db: Database) -> None:
    @app.callback(Output("log-text", "children"), Output("log-title", "children"), Output("log-cursor", "data"),
                  Input("log-step", "value"), Input("run-tick", "n_intervals"), State("run-id", "data"),
                  State("log-cursor", "data"), prevent_initial_call=True)
    def log_view(step: Optional[str], _: Any, run_id: str, last: Any) -> tuple[Any, Any, Any]:
        if not step:
            return "", "", None
        stat = [step, db.log_stat(run_id, step)]
        if ctx.triggered_id == "run-tick" and stat == last:
            return no_update, no_update, no_update  # the file has not changed: send nothing
        tail = db.log_tail(run_id, step, LOG_BYTES)
        if tail.error:
            return "", f"{step}: {tail.error}", stat
        running = db.step_status(run_id, step) == "running"
        return tail.text, layout.log_title(step, tail.size, tail.truncated, running, LOG_BYTES), stat

    app.clientside_callback(  # keep the newest lines in view while following
        "function(text) { const e = document.getElementById('log-text');"
        " if (e) { setTimeout(() => { e.scrollTop = e.scrollHeight; }, 0); } return null; }",
        Output("log-scroll", "data"), Input("log-text", "children"), prevent_initial_call=True)
