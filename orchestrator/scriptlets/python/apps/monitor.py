"""Watch runs live in the browser: a Dash app over the run database, context files and step logs.

Description:
    Serves a small web app that reads the run database (<workdir>/Data/orchestrator.db) read-only, plus each
    run's context file and the step logs under <workdir>/Logs. It never writes anything and never imports the
    engine, so it can run beside the runner at any time.

    Pages: `/` lists every run (recipe, test id, tester, verdict, start, duration, step counts per status),
    newest first, filtered by recipe, tester, verdict and date, paged on the server. `/run/<id>` shows the
    steps (status, attempts, duration, CPU, peak RSS, failure reason), a timeline, the step graph image when
    one exists, the context with each key's history, and a step's log tail that follows while the step runs.
    `/compare/<a>/<b>` puts two runs side by side. While a run is in progress its page updates itself about
    once a second, fetching only what changed.

    Also served: a JSON API (`/api/v1/health`, `/api/v1/runs`, `/api/v1/runs/<id>`,
    `/api/v1/runs/<id>/steps/<step>/log`) and `/metrics` in the Prometheus text format.

Usage:
    cd orchestrator && python -m scriptlets.python.apps.monitor [--host 127.0.0.1] [--port 8050]
                                                              [--db PATH] [--workdir DIR] [--interval-ms 1000]

Arguments:
    --host HOST         address to listen on (default 127.0.0.1). A non-loopback address is refused unless
                        ORCH_MONITOR_USER and ORCH_MONITOR_PASSWORD are set.
    --port PORT         TCP port, 1-65535 (default 8050).
    --db PATH           the run database (default <workdir>/Data/orchestrator.db).
    --workdir DIR       the work folder holding Data/, Logs/, Assets/ (default: the folder above the --db
                        file's Data/ when --db is given, else $ORCH_WORKDIR, else the orchestrator folder).
    --interval-ms N     how often an open page asks whether anything changed (default 1000, 200-60000).
    Environment: ORCH_MONITOR_USER and ORCH_MONITOR_PASSWORD (both or neither) make every page, Dash
    endpoint and API route require HTTP basic auth with these credentials.
    Exit codes: 0 after Ctrl-C or SIGTERM, 2 for a bad flag, a missing or unreadable database, a refused address or a
    port that cannot be bound.

Examples:
    python -m scriptlets.python.apps.monitor                     # http://127.0.0.1:8050/
    python -m scriptlets.python.apps.monitor --workdir /data/bench3 --port 8060
    ORCH_MONITOR_USER=lab ORCH_MONITOR_PASSWORD=s3cret python -m scriptlets.python.apps.monitor --host 0.0.0.0
    curl -s http://127.0.0.1:8050/api/v1/runs?verdict=failed&limit=5
    curl -s http://127.0.0.1:8050/metrics

Limitations:
    Plain HTTP: basic-auth credentials cross the network unencrypted, so put a TLS reverse proxy in front of
    an exposed monitor. The database folder must be writable for SQLite to create the WAL's shared-memory file
    (read-only media need a copy). The step graph shown is the run folder's copy, else Assets/ (the latest
    run's graph). Logs are shown as their last 64 KB. Times are UTC.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from helpformat import Parser

from .monitor_auth import Credentials, bind_refusal, credentials_from_env
from .monitor_data import Database, MonitorError

ORCH_HOME = Path(__file__).resolve().parents[3]
EXIT_OK, EXIT_USAGE = 0, 2


def create_app(db: Database, creds: Optional[Credentials] = None, interval_ms: int = 1000) -> Any:
    """The Dash app (its Flask server is `app.server`), with auth installed before any other request hook."""
    from dash import Dash
    from flask import Flask

    from . import monitor_api, monitor_auth, monitor_callbacks, monitor_layout

    server = Flask(__name__)
    monitor_auth.install(server, creds)  # first hook: nothing is served without credentials
    monitor_api.register(server, db)
    app = Dash(__name__, server=server, title="orchestrator monitor", update_title=None,  # type: ignore[arg-type]
               suppress_callback_exceptions=True, use_async=False)  # (Dash's hints omit Flask servers and None)
    app.index_string = monitor_layout.INDEX  # the page frame with the monitor's stylesheet inline
    app.layout = monitor_layout.shell()
    monitor_callbacks.register(app, db, interval_ms)
    return app


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {value}")
    return value


def _interval(text: str) -> int:
    value = int(text)
    if not 200 <= value <= 60000:
        raise argparse.ArgumentTypeError(f"interval must be 200-60000 ms, got {value}")
    return value


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = Parser(prog="python -m scriptlets.python.apps.monitor",
                    description="Watch orchestrator runs live in the browser.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8050, help="TCP port (default 8050)")
    parser.add_argument("--db", type=Path, help="run database (default <workdir>/Data/orchestrator.db)")
    parser.add_argument("--workdir", type=Path, help="work folder with Data/, Logs/, Assets/")
    parser.add_argument("--interval-ms", type=_interval, default=1000, help="live refresh period (default 1000)")
    return parser.parse_args(argv)


def locate(args: argparse.Namespace, env: Mapping[str, str]) -> Database:
    """The database and work folder the flags (or defaults) name; MonitorError when unusable."""
    if args.db is not None:
        db_path = args.db.expanduser().resolve()
        workdir = args.workdir or db_path.parent.parent
    else:
        workdir = args.workdir or Path(env.get("ORCH_WORKDIR") or ORCH_HOME)
        db_path = Path(workdir) / "Data" / "orchestrator.db"
    workdir = Path(workdir).expanduser().resolve()
    if not workdir.is_dir():
        raise MonitorError(f"{workdir}: the work folder does not exist")
    if not db_path.is_file():
        raise MonitorError(f"{db_path}: no run database here (run a recipe first, or pass --db)")
    if not os.access(db_path, os.R_OK):
        raise MonitorError(f"{db_path}: not readable by this user")
    db = Database(db_path, workdir)
    db.check()
    return db


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(app: Any, host: str, port: int) -> int:
    """Serve with waitress (threads) until Ctrl-C; EXIT_USAGE when the address cannot be bound."""
    from waitress import create_server

    try:
        server = create_server(app.server, host=host, port=port, threads=8, ident="orchestrator-monitor")
    except OSError as exc:
        print(f"monitor: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"monitor: serving on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop ends it as cleanly as Ctrl-C
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """Check flags, credentials and database, then serve. Returns the exit code."""
    args = parse_args(argv)
    env = os.environ if env is None else env
    try:
        creds = credentials_from_env(env)
        refusal = bind_refusal(args.host, creds)
        if refusal:
            raise MonitorError(refusal)
        db = locate(args, env)
    except (MonitorError, ValueError) as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"monitor: {db.path} (work folder {db.workdir}){', basic auth on' if creds else ''}", flush=True)
    return serve(create_app(db, creds, args.interval_ms), args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
