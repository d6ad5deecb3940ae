"""The monitor's plain HTTP routes on its Flask server: the JSON API, /metrics and the step graph image.

    GET /api/v1/health                          {"status": "ok", "runs": N, "cursor": newest event id}
    GET /api/v1/runs?recipe=&tester=&verdict=&since=YYYY-MM-DD&until=YYYY-MM-DD&limit=50&offset=0
    GET /api/v1/runs/<run_id>                   the run and its steps
    GET /api/v1/runs/<run_id>/steps/<step>/log?bytes=65536   the log's tail as text/plain
    GET /metrics                                Prometheus text format
    GET /graph/<run_id>                         the step graph image (SVG or PNG), 404 when there is none

Path parameters are only ever looked up in the database; files are served from paths the database records,
after checking they lie inside the work folder (Logs/ for logs).
"""
from __future__ import annotations

from typing import Any

from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request, send_file

from .monitor_data import Database, MonitorError, RunFilter

MAX_LIMIT = 500
MAX_LOG_BYTES = 4 * 1024 * 1024


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter clamped to [low, high]; ValueError names it when it is not a number."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return max(low, min(high, int(raw)))
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def register(server: Flask, db: Database) -> None:
    """Add the routes to the Dash app's Flask server."""

    @server.errorhandler(MonitorError)
    def _db_error(exc: MonitorError) -> tuple[Response, int]:
        return _error(503, str(exc))

    @server.errorhandler(DependencyException)
    def _no_such_bundle(_: DependencyException) -> tuple[Response, int]:
        return _error(404, "no such component bundle")  # Dash itself would answer 500 and log a traceback

    @server.route("/api/v1/health")
    def health() -> Response:
        with db.read() as conn:
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return jsonify({"status": "ok", "runs": runs, "cursor": db.global_cursor(), "db": db.path.name})

    @server.route("/api/v1/runs")
    def runs() -> Any:
        try:
            filt = RunFilter(**{k: request.args.get(k) or None for k in ("recipe", "tester", "verdict", "since",
                                                                         "until")})
            filt.where()  # validates the dates
            limit = _int_arg("limit", 50, 1, MAX_LIMIT)
            offset = _int_arg("offset", 0, 0, 10**9)
        except ValueError as exc:
            return _error(400, str(exc))
        total, rows = db.list_runs(filt, limit, offset)
        return jsonify({"total": total, "limit": limit, "offset": offset, "runs": rows})

    @server.route("/api/v1/runs/<run_id>")
    def run(run_id: str) -> Any:
        found = db.run(run_id)
        if found is None:
            return _error(404, f"no run {run_id!r}")
        return jsonify({"run": found, "steps": db.steps(run_id)})

    @server.route("/api/v1/runs/<run_id>/steps/<step>/log")
    def log(run_id: str, step: str) -> Any:
        try:
            size = _int_arg("bytes", 65536, 1, MAX_LOG_BYTES)
        except ValueError as exc:
            return _error(400, str(exc))
        tail = db.log_tail(run_id, step, size)
        if tail.error:
            return _error(403 if tail.error.startswith("refused") else 404, tail.error)
        return Response(tail.text, mimetype="text/plain", headers={"X-Log-Size": str(tail.size),
                                                                   "X-Content-Type-Options": "nosniff"})

    @server.route("/metrics")
    def metrics() -> Response:
        return Response(prometheus_text(db.metrics()), mimetype="text/plain; version=0.0.4")

    @server.route("/graph/<run_id>")
    def graph(run_id: str) -> Any:
        image = db.graph_image(run_id)
        if image is None:
            return _error(404, "no step graph image")
        response = send_file(image, max_age=0)
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        return response


def _prom_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(m: dict[str, Any]) -> str:
    """The figures of Database.metrics in the Prometheus text exposition format (version 0.0.4)."""
    lines = ["# HELP orch_runs Runs in the run database, by verdict.", "# TYPE orch_runs gauge"]
    lines += [f'orch_runs{{verdict="{_prom_label(str(v))}"}} {n}' for v, n in m["runs"].items()]
    lines += ["# HELP orch_steps_running Steps running now.", "# TYPE orch_steps_running gauge",
              f"orch_steps_running {m['running_steps']}",
              "# HELP orch_step_duration_seconds Wall time of finished steps (succeeded, failed, aborted).",
              "# TYPE orch_step_duration_seconds histogram"]
    lines += [f'orch_step_duration_seconds_bucket{{le="{b}"}} {n}' for b, n in m["duration_buckets"]]
    lines += [f'orch_step_duration_seconds_bucket{{le="+Inf"}} {m["duration_count"]}',
              f"orch_step_duration_seconds_sum {float(m['duration_sum'])}",
              f"orch_step_duration_seconds_count {m['duration_count']}"]
    return "\n".join(lines) + "\n"
