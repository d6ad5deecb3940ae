"""The JSON API, /metrics and basic auth, over real HTTP (urllib) against the monitor's server in a thread."""
from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from conftest import Workdir
from monitor.conftest import Server
from monitor.test_data import tampered_copy
from scriptlets.python.apps.monitor_auth import Credentials, bind_refusal, credentials_from_env, is_loopback
from scriptlets.python.apps.monitor_data import Database, RunFilter


def fetch(url: str, auth: Optional[tuple[str, str]] = None, data: Optional[bytes] = None,
          header: Optional[str] = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    if header:
        request.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(url: str) -> tuple[int, Any]:
    status, _, body = fetch(url)
    return status, json.loads(body)


@pytest.fixture(scope="module")
def run_ids(real_wd: Workdir) -> list[str]:
    return real_wd.run_ids()


def test_health_and_runs(serve: Any, real_db: Database, run_ids: list[str]) -> None:
    url = serve(real_db).url
    assert get_json(f"{url}/api/v1/health") == (200, {"status": "ok", "runs": 2, "cursor": real_db.global_cursor(),
                                                      "db": "orchestrator.db"})
    status, page = get_json(f"{url}/api/v1/runs?limit=1")
    assert status == 200 and page["total"] == 2 and [r["id"] for r in page["runs"]] == [run_ids[1]]
    assert page["runs"][0]["step_counts"] == {"succeeded": 3, "failed": 1, "skipped": 1}
    assert [r["id"] for r in get_json(f"{url}/api/v1/runs?limit=1&offset=1")[1]["runs"]] == [run_ids[0]]
    assert get_json(f"{url}/api/v1/runs?tester=pytest&verdict=failed&recipe=mixed")[1]["total"] == 2
    assert get_json(f"{url}/api/v1/runs?tester=nobody")[1] == {"total": 0, "limit": 50, "offset": 0, "runs": []}
    assert get_json(f"{url}/api/v1/runs?since=2000-01-01&until=2000-01-02")[1]["total"] == 0
    for bad in ("limit=ten", "since=yesterday", "offset=-"):
        status, body = get_json(f"{url}/api/v1/runs?{bad}")
        assert status == 400 and "error" in body, bad


def test_run_detail_and_log(serve: Any, real_db: Database, run_ids: list[str]) -> None:
    url = serve(real_db).url
    status, body = get_json(f"{url}/api/v1/runs/{run_ids[0]}")
    assert status == 200 and body["run"]["id"] == run_ids[0] and body["run"]["test_meta"]["tester"] == "pytest"
    assert {s["name"]: s["status"] for s in body["steps"]} == {
        "prepare": "succeeded", "measure": "succeeded", "html_log": "succeeded", "broken": "failed",
        "after_broken": "skipped"}
    assert get_json(f"{url}/api/v1/runs/nope")[0] == 404
    status, headers, text = fetch(f"{url}/api/v1/runs/{run_ids[0]}/steps/html_log/log")
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and headers["X-Content-Type-Options"]
    assert b"<script>alert(1)</script>" in text and int(headers["X-Log-Size"]) == len(text)
    assert fetch(f"{url}/api/v1/runs/{run_ids[0]}/steps/html_log/log?bytes=20")[2].endswith(b"=====\n")
    assert fetch(f"{url}/api/v1/runs/{run_ids[0]}/steps/after_broken/log")[0] == 404  # never ran


@pytest.mark.parametrize("path", [
    "/api/v1/runs/../../../../etc/passwd", "/api/v1/runs/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/runs/RUN/steps/..%2F..%2F..%2Fetc%2Fpasswd/log", "/api/v1/runs/RUN/steps/%2Fetc%2Fpasswd/log",
    "/graph/..%2F..%2F..%2Fetc%2Fpasswd", "/_dash-component-suites/..%2F..%2F..%2F..%2Fetc/passwd",
])
def test_path_traversal_reads_nothing(serve: Any, real_db: Database, run_ids: list[str], path: str) -> None:
    status, _, body = fetch(serve(real_db).url + path.replace("RUN", run_ids[0]))
    assert b"root:" not in body
    assert status in (400, 404) or (status == 200 and b"react-entry-point" in body)  # Dash's page for any path


def test_recorded_log_paths_outside_logs_are_refused(serve: Any, real_wd: Workdir, tmp_path: Path) -> None:
    db = tampered_copy(real_wd, tmp_path)
    url = serve(db).url
    run_id = db.list_runs(RunFilter(), 1)[1][0]["id"]
    for step in ("prepare", "measure", "html_log"):
        status, _, body = fetch(f"{url}/api/v1/runs/{run_id}/steps/{step}/log")
        assert status == 403 and b"outside the Logs folder" in body and b"root:" not in body, step


def test_metrics(serve: Any, real_db: Database) -> None:
    status, headers, body = fetch(serve(real_db).url + "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'orch_runs{verdict="failed"} 2' in text.splitlines() and "orch_steps_running 0" in text
    assert "orch_step_duration_seconds_count 8" in text


def test_graph_image_served_only_when_present(serve: Any, real_wd: Workdir, tmp_path: Path) -> None:
    db = tampered_copy(real_wd, tmp_path)
    url = serve(db).url
    run_id = db.list_runs(RunFilter(), 1)[1][0]["id"]
    shutil.rmtree(db.workdir / "Assets", ignore_errors=True)  # the runner's drawing, when graphviz is installed
    assert fetch(f"{url}/graph/{run_id}")[0] == 404
    (db.workdir / "Assets").mkdir()
    (db.workdir / "Assets" / "step_sequence.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    status, headers, body = fetch(f"{url}/graph/{run_id}")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml") and body.startswith(b"<svg")
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_dash_endpoints_answer(serve: Any, real_db: Database) -> None:
    url = serve(real_db).url
    status, _, page = fetch(url + "/run/whatever")
    assert status == 200 and b"orchestrator monitor" in page and b"react-entry-point" in page
    assert fetch(url + "/_dash-layout")[0] == 200 and fetch(url + "/_dash-dependencies")[0] == 200


# ------------------------------------------------------------------------------------------------ auth

PROTECTED = ["/", "/run/x", "/_dash-layout", "/_dash-dependencies", "/api/v1/health", "/api/v1/runs",
             "/api/v1/runs/x", "/api/v1/runs/x/steps/y/log", "/metrics", "/graph/x", "/assets/x.css",
             "/_dash-component-suites/dash/dcc/dash_core_components.js"]


@pytest.fixture(scope="module")
def guarded(real_db: Database) -> Iterator[str]:
    from scriptlets.python.apps.monitor import create_app

    server = Server(create_app(real_db, Credentials("lab", "s3cr:et")))
    yield server.url
    server.stop()


@pytest.mark.parametrize("path", PROTECTED)
def test_every_route_needs_credentials(guarded: str, path: str) -> None:
    for auth, header in [(None, None), (("lab", "wrong"), None), (("other", "s3cr:et"), None),
                         (("lab", "s3cr"), None), (None, "Basic !!notbase64"), (None, "Bearer s3cr:et")]:
        status, headers, body = fetch(guarded + path, auth=auth, header=header)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm="), (path, auth, header)
        assert b"root:" not in body and b"react" not in body
    assert fetch(guarded + path, auth=("lab", "s3cr:et"))[0] != 401


def test_dash_callbacks_need_credentials(guarded: str) -> None:
    body = json.dumps({"output": "page.children", "outputs": {"id": "page", "property": "children"},
                       "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
                       "changedPropIds": ["url.pathname"]}).encode()
    assert fetch(guarded + "/_dash-update-component", data=body)[0] == 401
    status, _, answer = fetch(guarded + "/_dash-update-component", data=body, auth=("lab", "s3cr:et"))
    assert status == 200 and b"runs-table" in answer


def test_credentials_from_env_and_address_rules() -> None:
    assert credentials_from_env({}) is None
    assert credentials_from_env({"ORCH_MONITOR_USER": "u", "ORCH_MONITOR_PASSWORD": "p"}) == Credentials("u", "p")
    for partial in ({"ORCH_MONITOR_USER": "u"}, {"ORCH_MONITOR_PASSWORD": "p"}):
        with pytest.raises(ValueError, match="set both"):
            credentials_from_env(partial)
    assert "***" in repr(Credentials("u", "p")) and "'p'" not in repr(Credentials("u", "p"))
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.10", "::", "example.com", ""]))
    assert bind_refusal("127.0.0.1", None) is None and bind_refusal("0.0.0.0", Credentials("u", "p")) is None
    assert "refusing to listen on 0.0.0.0" in (bind_refusal("0.0.0.0", None) or "")
