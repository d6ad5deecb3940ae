"""The monitor's queries and page builders on real runs and on synthetic databases (no server, no browser)."""
from __future__ import annotations

import datetime
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Workdir
from context import ContextStore
from monitor.bench_monitor import BIG_RUN, build
from scriptlets.python.apps import monitor_layout as layout
from scriptlets.python.apps.monitor_api import prometheus_text
from scriptlets.python.apps.monitor_context import context_head, context_keys, key_history
from scriptlets.python.apps.monitor_data import Database, MonitorError, RunFilter

TODAY = datetime.datetime.now(datetime.timezone.utc).date()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Database:
    """300 runs, one of 40 steps with 500 context changes over 50 keys."""
    workdir = tmp_path_factory.mktemp("synthetic")
    build(workdir, runs=300, big_steps=40, changes=500, keys=50)
    return Database(workdir / "Data" / "orchestrator.db", workdir)


def tampered_copy(real_wd: Workdir, tmp_path: Path) -> Database:
    """A copy of the real work folder whose database points step logs outside Logs/ in three ways."""
    work = tmp_path / "copy"
    shutil.copytree(real_wd.path, work)
    (work / "Logs" / "evil.log").symlink_to("/etc/passwd")
    conn = sqlite3.connect(work / "Data" / "orchestrator.db")
    run_id = conn.execute("SELECT id FROM runs ORDER BY started DESC LIMIT 1").fetchone()[0]
    for step, path in [("prepare", "/etc/passwd"), ("measure", str(work / "Logs" / ".." / "Data" / "orchestrator.db")),
                       ("html_log", str(work / "Logs" / "evil.log"))]:
        conn.execute("UPDATE steps SET log_path = ? WHERE run_id = ? AND name = ?", (path, run_id, step))
    conn.commit()
    conn.close()
    return Database(work / "Data" / "orchestrator.db", work)


def test_runs_newest_first_with_step_counts(real_db: Database, real_wd: Workdir) -> None:
    total, runs = real_db.list_runs(RunFilter())
    assert total == 2 and [r["id"] for r in runs] == real_wd.run_ids()[::-1]
    assert runs[0]["step_counts"] == {"succeeded": 3, "failed": 1, "skipped": 1}
    assert (runs[0]["recipe_name"], runs[0]["tester"], runs[0]["test_id"], runs[0]["verdict"]) == (
        "mixed", "pytest", "T-1", "failed")


@pytest.mark.parametrize("filt, expected", [
    (RunFilter(tester="pytest"), 2), (RunFilter(tester="nobody"), 0), (RunFilter(verdict="failed"), 2),
    (RunFilter(verdict="succeeded"), 0), (RunFilter(recipe="mixed"), 2), (RunFilter(recipe="other"), 0),
    (RunFilter(since=TODAY.isoformat(), until=TODAY.isoformat()), 2),
    (RunFilter(until=(TODAY - datetime.timedelta(days=1)).isoformat()), 0),
    (RunFilter(since=(TODAY + datetime.timedelta(days=1)).isoformat()), 0),
])
def test_run_filters(real_db: Database, filt: RunFilter, expected: int) -> None:
    assert real_db.list_runs(filt)[0] == expected


def test_bad_date_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        RunFilter(since="yesterday").where()


def test_paging_is_disjoint_and_ordered(synthetic: Database) -> None:
    total, first = synthetic.list_runs(RunFilter(), 25, 0)
    _, second = synthetic.list_runs(RunFilter(), 25, 25)
    assert total == 301 and len(first) == len(second) == 25
    assert first[0]["id"] == BIG_RUN  # the newest
    starts = [r["started"] for r in first + second]
    assert starts == sorted(starts, reverse=True) and not {r["id"] for r in first} & {r["id"] for r in second}
    failed_total, failed = synthetic.list_runs(RunFilter(verdict="failed", tester="bob"), 500, 0)
    assert failed_total == len(failed) > 0 and all(r["verdict"] == "failed" and r["tester"] == "bob" for r in failed)
    assert all(r["step_counts"] == {"succeeded": 4, "failed": 1, "skipped": 1} for r in failed)


def test_cursors_follow_the_event_log(real_db: Database, real_wd: Workdir) -> None:
    conn = sqlite3.connect(real_db.path)
    newest = conn.execute("SELECT MAX(id) FROM events").fetchone()[0]
    first = real_wd.run_ids()[0]
    first_max = conn.execute("SELECT MAX(id) FROM events WHERE run_id = ?", (first,)).fetchone()[0]
    conn.close()
    assert real_db.global_cursor() == newest
    assert real_db.run_cursor(first) == (first_max, "failed")
    assert real_db.run_cursor("nope") == (0, None)


def test_database_without_event_log_still_has_cursors(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE runs(id TEXT, verdict TEXT, started TEXT, ended TEXT);"
                       "CREATE TABLE steps(run_id TEXT, name TEXT, position INT, status TEXT, attempts INT, "
                       "ended TEXT);"
                       "INSERT INTO runs VALUES ('r1', 'running', '2026-01-01T00:00:00Z', NULL);"
                       "INSERT INTO steps VALUES ('r1', 'a', 0, 'running', 1, NULL);")
    conn.close()
    db = Database(path, tmp_path)
    db.check()
    before = (db.global_cursor(), db.run_cursor("r1"))
    conn = sqlite3.connect(path)
    conn.execute("UPDATE steps SET status = 'succeeded', ended = '2026-01-01T00:00:05Z'")
    conn.commit()
    conn.close()
    assert db.run_cursor("r1") != before[1] and db.steps("r1")[0]["status"] == "succeeded"


def test_check_refuses_files_that_are_not_run_databases(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("hello, not sqlite " * 100)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE t(x)").connection.close()
    for path, message in [(text, "cannot be read"), (empty, "not a run database"), (tmp_path / "no.db", "no such")]:
        with pytest.raises(MonitorError, match=message):
            Database(path, tmp_path).check()


def test_context_keys_and_history(real_db: Database, real_wd: Workdir) -> None:
    ctx = real_db.run(real_wd.run_ids()[-1])["ctx_path"]
    total, keys = context_keys(ctx)
    by_key = {k["key"]: k for k in keys}
    assert total == len(keys) and {"threshold", "note", "test_meta"} <= set(by_key)
    assert by_key["threshold"]["value"] == "7" and by_key["threshold"]["changes"] == 2
    assert by_key["note"]["value"] == '"<b>bold</b><script>alert(1)</script>"'  # raw here; escaped when shown
    history = key_history(ctx, "threshold")
    assert [(h["who"], h["old"], h["new"], h["op"]) for h in history] == [("prepare", None, "5", "set"),
                                                                         ("measure", "5", "7", "set")]
    assert context_keys(ctx, "thresh")[0] == 1 and context_keys(ctx, "%")[0] == 0  # LIKE wildcards are literal
    assert context_head(ctx) == max(h["seq"] for h in history) or context_head(ctx) > 0


def test_context_deleted_and_undone_keys(tmp_path: Path) -> None:
    store = ContextStore(tmp_path / "ctx.db")
    store.set("gone", 1, who="a")
    store.commit([{"key": "gone", "op": "delete"}], who="b", attempt=1, run_id="r")
    store.set("undone", "x", who="c", run_id="r")
    store.roll_back({"c"}, "r2")
    store.set("long", "y" * 500, who="d")
    store.close()
    keys = {k["key"]: k for k in context_keys(str(tmp_path / "ctx.db"), value_chars=50)[1]}
    assert keys["gone"]["value"] == "(deleted)" and keys["undone"]["value"].startswith("(unset")
    assert keys["long"]["value"].endswith("(502 chars)") and len(keys["long"]["value"]) < 80
    assert [h["undone_by"] for h in key_history(str(tmp_path / "ctx.db"), "undone")][0] == "r2"
    assert context_keys(None) == (0, []) and key_history(str(tmp_path / "none.db"), "x") == []


def test_context_paging(synthetic: Database) -> None:
    ctx = synthetic.run(BIG_RUN)["ctx_path"]
    total, page = context_keys(ctx, "", 15, 45)
    assert total == 50 and [k["key"] for k in page] == [f"key_{i:05d}" for i in range(45, 50)]
    assert all(k["changes"] == 10 for k in page) and len(key_history(ctx, "key_00003")) == 10


def test_log_tail(real_db: Database, real_wd: Workdir, synthetic: Database) -> None:
    run_id = real_wd.run_ids()[-1]
    tail = real_db.log_tail(run_id, "html_log")
    assert "<script>alert(1)</script>" in tail.text and not tail.truncated and tail.error is None
    short = synthetic.log_tail(BIG_RUN, "step_000", 1000)
    assert short.truncated and short.text.startswith("line ") and short.text.endswith("x\n") and short.size > 10**6
    assert real_db.log_tail(run_id, "after_broken").error == "no log yet (the step has not started)"
    assert "no step" in (real_db.log_tail(run_id, "../../etc/passwd").error or "")
    assert real_db.log_stat(run_id, "html_log")[0] == tail.size


def test_log_paths_outside_logs_are_refused(real_wd: Workdir, tmp_path: Path) -> None:
    db = tampered_copy(real_wd, tmp_path)
    run_id = db.list_runs(RunFilter(), 1)[1][0]["id"]
    for step in ("prepare", "measure", "html_log"):  # absolute, '..' and a symlink out of Logs/
        tail = db.log_tail(run_id, step)
        assert tail.text == "" and tail.error and tail.error.startswith("refused"), step
        assert db.log_stat(run_id, step) is None


def test_graph_image_from_run_folder_then_assets(real_db: Database, real_wd: Workdir, tmp_path: Path) -> None:
    run_id = real_wd.run_ids()[-1]
    if shutil.which("dot"):  # the runner drew the graph into the run's folder (and Assets/)
        assert real_db.graph_image(run_id) == Path(real_db.run(run_id)["ctx_path"]).parent / "step_sequence.svg"
    db = tampered_copy(real_wd, tmp_path)  # its database still names run folders in the original work folder
    shutil.rmtree(db.workdir / "Assets", ignore_errors=True)
    assert db.graph_image(run_id) is None  # ... which are outside this work folder, so they are not used
    assert db.graph_version(run_id) == ""
    (db.workdir / "Assets").mkdir()
    (db.workdir / "Assets" / "step_sequence.png").write_bytes(b"\x89PNG")
    assert db.graph_image(run_id) == db.workdir / "Assets" / "step_sequence.png"
    assert db.graph_version(run_id).endswith("-4")  # mtime_ns-size: a redraw changes it


def test_a_run_page_polls_while_the_run_runs_and_briefly_after() -> None:
    from scriptlets.python.apps.monitor_callbacks import SETTLE, is_live

    def stamp(seconds_ago: float) -> str:
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    assert is_live({"verdict": "running", "ended": None})
    assert is_live({"verdict": "succeeded", "ended": stamp(1)})
    assert not is_live({"verdict": "failed", "ended": stamp(SETTLE + 1)}) and not is_live({})


def test_a_selection_link_round_trips_through_the_fragment() -> None:
    from scriptlets.python.apps.monitor_layout import parse_selection, selection_link

    for kind, name in [("log", "build_fw"), ("key", "dut.serial #2/a=b"), ("key", "clé")]:
        href = selection_link(kind, name).href
        assert href.startswith(f"#{kind}=") and " " not in href and parse_selection(href) == (kind, name)
    for other in [None, "", "#", "#log=", "#top", "#step=a", "log"]:
        assert parse_selection(other) is None


def test_prometheus_text(real_db: Database) -> None:
    text = prometheus_text(real_db.metrics())
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines}
    assert values['orch_runs{verdict="failed"}'] == 2 and values['orch_runs{verdict="running"}'] == 0
    assert values["orch_steps_running"] == 0
    assert values['orch_step_duration_seconds_bucket{le="+Inf"}'] == values["orch_step_duration_seconds_count"] == 8
    buckets = [v for k, v in values.items() if k.startswith("orch_step_duration_seconds_bucket")]
    assert buckets == sorted(buckets) and "# TYPE orch_step_duration_seconds histogram" in text
    assert prometheus_text({**real_db.metrics(), "runs": {'we"ird\n': 1}}).count('verdict="we\\"ird\\n"') == 1


def texts(component: Any) -> list[str]:
    """Every text child in a component tree, depth first."""
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    return [t for child in (children if isinstance(children, list) else [children]) if child is not None
            for t in texts(child)]


def test_layout_builders(real_db: Database, real_wd: Workdir, synthetic: Database) -> None:
    run_id = real_wd.run_ids()[-1]
    steps = real_db.steps(run_id)
    fig = layout.gantt_figure(steps)
    assert sum(len(t.y) for t in fig.data) == 4  # after_broken never started
    assert {t.name for t in fig.data} == {"succeeded", "failed"}
    body = layout.steps_table(steps).children[1].children
    broken = texts(body[3])
    assert broken[:3] == ["4", "broken", "failed"] and broken[-2:] == ["7", "exit code 7: failing with 7"]
    assert texts(body[4])[-1] == "upstream step 'broken' failed" and texts(body[4])[5] == ""  # never ran: no time
    runs = synthetic.list_runs(RunFilter(), 3)[1]
    first = layout.runs_table(runs).children[1].children[0].children[0].children
    assert first.children == BIG_RUN and first.href == f"/run/{BIG_RUN}"
    assert texts(layout.runs_table(runs).children[1].children[0])[6].endswith("so far")  # still running
    assert layout.run_href("a/../b c") == "/run/a%2F..%2Fb%20c"
    assert layout.counts_text({"failed": 1, "succeeded": 4}) == "5: 4 succeeded, 1 failed"
    assert [layout.fmt_seconds(v) for v in (1.234, 75, 4000, None)] == ["1.23 s", "1m 15s", "1h 06m", ""]


def test_compare_rows(real_db: Database, real_wd: Workdir) -> None:
    a, b = real_wd.run_ids()
    rows = real_db.compare(a, b)
    assert [r["name"] for r in rows] == ["prepare", "measure", "html_log", "broken", "after_broken"]
    broken = rows[3]
    assert broken["status_a"] == broken["status_b"] == "failed"
    assert broken["delta"] == pytest.approx(broken["duration_b"] - broken["duration_a"])
    assert rows[4]["delta"] is None and [o["id"] for o in real_db.same_recipe_runs(b)] == [a]


def test_render_routes(real_db: Database, real_wd: Workdir) -> None:
    from scriptlets.python.apps.monitor_callbacks import render

    a, b = real_wd.run_ids()

    def ids(component: Any) -> set[str]:
        found = {component.id} if isinstance(getattr(component, "id", None), str) else set()
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if child is not None and not isinstance(child, str):
                found |= ids(child)
        return found

    assert {"runs-table", "runs-tick", "f-verdict"} <= ids(render(real_db, "/", 1000))
    assert {"steps-table", "gantt", "ctx-table", "log-text", "run-tick"} <= ids(render(real_db, f"/run/{a}", 1000))
    assert "compare-grid" in ids(render(real_db, f"/compare/{a}/{b}", 1000))
    for path in ("/run/nope", "/run/..%2F..%2Fetc%2Fpasswd", "/compare/nope/x", "/etc/passwd"):
        assert "not-found" in ids(render(real_db, path, 1000)), path
