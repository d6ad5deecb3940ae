"""The monitor in a real browser (dash_duo, headless Chromium): the pages, a step's log, the context history,
comparing runs, and a run watched live while the runner runs it. Screenshots go to tests/artifacts/."""
from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any, Optional

import pytest
from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from conftest import ORCH, PY, Workdir
from monitor.bench_monitor import BIG_RUN, build
from monitor.conftest import need_browser
from scriptlets.python.apps.monitor import create_app
from scriptlets.python.apps.monitor_data import Database

TICKER = """#!/usr/bin/env bash
# prints a tick every 0.2 s until the test creates the file `gate` (at most 30 s), then records that it is done
for i in $(seq 1 150); do echo "tick $i <i>not italic</i>"; [ -e gate ] && break; sleep 0.2; done
python "$ORCH_HOME/context.py" set phase '"done"'
"""
QUICK = """
steps:
  - {name: quick, type: shell, cmd: scripts/ok.sh, args: {set: "phase=\\"start\\""}}
"""
LIVE = QUICK + """  - {name: slow, type: shell, cmd: scripts/ticker.sh, depends_on: [quick]}
"""
STEP_STATUS_JS = """
for (const row of document.querySelectorAll('#steps-grid tbody tr')) {
  const cells = row.querySelectorAll('td');
  if (cells[1].innerText.trim() === arguments[0]) { return cells[2].innerText.trim(); }
}
return null;"""


@pytest.fixture(autouse=True)
def _browser_available() -> None:
    need_browser()


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid one-colour PNG (stands in for the step graph the runner renders)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def screenshot(dash_duo: Any, path: Path) -> None:
    """The whole page (the window grows to the page's height for the shot)."""
    driver = dash_duo.driver
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height) + 150, 900), 5000))  # + the window frame
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    assert path.stat().st_size > 10_000


def click_link(dash_duo: Any, table: str, text: str) -> None:
    """Click the row's link. A live table is redrawn at each change and every few seconds while a run runs, so a
    link found an instant before a redraw can be gone when clicked: find it again then."""
    link = f"//table[@id='{table}']//a[normalize-space()='{text}']"
    for tries_left in range(2, -1, -1):
        try:
            dash_duo.driver.find_element(By.XPATH, link).click()
            return
        except StaleElementReferenceException:
            if not tries_left:
                raise


def count(dash_duo: Any, selector: str) -> int:
    """How many elements match, at once (find_elements would wait 2 s, dash_duo's implicit wait, for none)."""
    return int(dash_duo.driver.execute_script("return document.querySelectorAll(arguments[0]).length;", selector))


def step_status(dash_duo: Any, name: str) -> Optional[str]:
    return dash_duo.driver.execute_script(STEP_STATUS_JS, name)


def rows(dash_duo: Any, table: str) -> list[list[str]]:
    return dash_duo.driver.execute_script(
        f"return Array.from(document.querySelectorAll('#{table} tbody tr'))"
        ".map(r => Array.from(r.querySelectorAll('td')).map(c => c.innerText.trim()));")


def test_runs_page_run_page_log_context_and_compare(dash_duo: Any, real_db: Database, real_wd: Workdir,
                                                     artifacts: Path) -> None:
    older, newer = real_wd.run_ids()
    run_dir = Path(real_db.run(newer)["ctx_path"]).parent
    if not list(run_dir.glob("step_sequence.*")):  # the runner draws it when graphviz is installed
        (run_dir / "step_sequence.png").write_bytes(png(320, 90, (96, 125, 139)))
    dash_duo.start_server(create_app(real_db))

    # the runs page: newest first, verdicts, step counts, filters
    dash_duo.wait_for_contains_text("#runs-summary", "2 run(s)")
    listed = rows(dash_duo, "runs-grid")
    assert [r[0] for r in listed] == [newer, older] and listed[0][4] == "failed"
    assert listed[0][7] == "5: 3 succeeded, 1 failed, 1 skipped" and listed[0][1:4] == ["mixed", "T-1", "pytest"]
    dash_duo.select_dcc_dropdown("#f-verdict", value="succeeded")
    dash_duo.wait_for_contains_text("#runs-summary", "0 run(s)")
    dash_duo.select_dcc_dropdown("#f-verdict", value="failed")
    dash_duo.wait_for_contains_text("#runs-summary", "2 run(s)")
    screenshot(dash_duo, artifacts / "monitor_runs.png")

    # open the newest run: steps, timeline, graph image
    dash_duo.find_element("#runs-grid tbody tr a").click()
    dash_duo.wait_for_text_to_equal("#run-verdict", "failed")
    dash_duo.wait_for_contains_text("#steps-grid", "exit code 7")
    assert step_status(dash_duo, "broken") == "failed" and step_status(dash_duo, "after_broken") == "skipped"
    until(lambda: count(dash_duo, "#gantt g.point") == 4, timeout=10)  # 4 steps ran
    until(lambda: dash_duo.driver.execute_script(
        "const i = document.getElementById('step-graph'); return i && i.complete && i.naturalWidth > 50;"), 10)

    # a step's log: HTML in it is shown as text
    click_link(dash_duo, "steps-grid", "html_log")
    dash_duo.wait_for_contains_text("#log-text", '<b>bold</b><script>alert(1)</script>')
    assert count(dash_duo, "#log-text script, #log-text b") == 0
    dash_duo.wait_for_contains_text("#log-title", "html_log:")

    # the context: current values, and a key's history with who/old/new
    dash_duo.wait_for_contains_text("#ctx-grid", "threshold")
    assert count(dash_duo, "#ctx-grid b, #ctx-grid script") == 0
    click_link(dash_duo, "ctx-grid", "threshold")
    dash_duo.wait_for_contains_text("#ctx-history-title", "history of threshold (2 change(s))")
    assert [(r[1], r[5], r[6]) for r in rows(dash_duo, "history-grid")] == [("prepare", "", "5"),
                                                                            ("measure", "5", "7")]
    screenshot(dash_duo, artifacts / "monitor_run.png")

    # the choice is in the address: the dropdown writes it, a link after the dropdown still works, a link opens it
    assert dash_duo.driver.current_url.endswith("#key=threshold")
    dash_duo.select_dcc_dropdown("#log-step", value="prepare (succeeded)")
    dash_duo.wait_for_contains_text("#log-title", "prepare:")
    until(lambda: dash_duo.driver.current_url.endswith("#log=prepare"), timeout=5)
    click_link(dash_duo, "steps-grid", "html_log")
    dash_duo.wait_for_contains_text("#log-title", "html_log:")
    dash_duo.driver.get(f"{dash_duo.server_url}/run/{newer}#log=html_log")  # a bookmarked step log
    dash_duo.wait_for_contains_text("#log-text", '<b>bold</b><script>alert(1)</script>')
    assert dash_duo.driver.current_url.endswith("#log=html_log")

    # compare with the other run of the recipe
    dash_duo.select_dcc_dropdown("#compare-with", value=f"{older} (failed)")
    dash_duo.wait_for_element("#compare-go").click()
    dash_duo.wait_for_contains_text("#compare-grid", "after_broken")
    compared = {r[0]: r for r in rows(dash_duo, "compare-grid")}
    assert compared["broken"][1] == compared["broken"][3] == "failed" and compared["after_broken"][2] == ""
    screenshot(dash_duo, artifacts / "monitor_compare.png")
    assert dash_duo.get_logs() == []


def test_run_watched_live_without_reload(dash_duo: Any, tmp_path: Path, artifacts: Path) -> None:
    wd = Workdir(tmp_path / "work")
    ticker = wd.path / "scripts" / "ticker.sh"
    ticker.write_text(TICKER)
    ticker.chmod(0o755)
    assert wd.run(wd.recipe(QUICK, name="quick.yaml")).returncode == 0  # the database exists before the page
    dash_duo.start_server(create_app(Database(wd.path / "Data" / "orchestrator.db", wd.path)))
    dash_duo.wait_for_contains_text("#runs-summary", "1 run(s)")
    dash_duo.driver.execute_script("window.noReload = 'still here';")

    cmd = [PY, str(ORCH / "runner.py"), "--recipe", str(wd.recipe(LIVE, name="live.yaml")), "--workdir", str(wd.path)]
    runner = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        dash_duo.wait_for_contains_text("#runs-summary", "2 run(s)", timeout=10)  # the new run appears by itself
        dash_duo.wait_for_contains_text("#runs-grid", "running", timeout=5)
        dash_duo.find_element("#runs-grid tbody tr a").click()  # the newest run
        dash_duo.wait_for_text_to_equal("#run-verdict", "running", timeout=10)
        until(lambda: step_status(dash_duo, "slow") == "running", timeout=10)
        click_link(dash_duo, "steps-grid", "slow")
        dash_duo.wait_for_contains_text("#log-title", "following while the step runs", timeout=5)
        dash_duo.wait_for_contains_text("#log-text", "tick 2 <i>not italic</i>", timeout=5)
        dash_duo.wait_for_contains_text("#log-text", "tick 15", timeout=10)  # the tail follows the step
        screenshot(dash_duo, artifacts / "monitor_live_running.png")
        assert step_status(dash_duo, "slow") == "running"

        (wd.path / "gate").touch()  # let the step finish
        dash_duo.wait_for_text_to_equal("#run-verdict", "succeeded", timeout=15)
        until(lambda: step_status(dash_duo, "slow") == "succeeded", timeout=5)
        dash_duo.wait_for_contains_text("#log-text", "===== attempt 1 ended", timeout=5)
        dash_duo.wait_for_contains_text("#ctx-grid", '"done"', timeout=5)  # the context refreshed too
        db = Database(wd.path / "Data" / "orchestrator.db", wd.path)
        until(lambda: dash_duo.driver.execute_script(  # the runner's final drawing of the step graph is shown
            "return document.getElementById('step-graph').getAttribute('src');").endswith(
            f"?v={db.graph_version(wd.run_ids()[-1])}"), 10)
        assert count(dash_duo, "#log-text i") == 0
        assert dash_duo.driver.execute_script("return window.noReload") == "still here"  # never reloaded
        screenshot(dash_duo, artifacts / "monitor_live_done.png")
    finally:
        out, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, out
    assert dash_duo.get_logs() == []


def test_runs_are_paged_on_the_server(dash_duo: Any, tmp_path: Path) -> None:
    build(tmp_path, runs=60, big_steps=3, changes=10, keys=5)
    dash_duo.start_server(create_app(Database(tmp_path / "Data" / "orchestrator.db", tmp_path)))
    dash_duo.wait_for_text_to_equal("#runs-pageinfo", "page 1 of 3")
    first = [r[0] for r in rows(dash_duo, "runs-grid")]
    assert len(first) == 25 and first[0] == BIG_RUN
    dash_duo.find_element("#runs-next").click()
    dash_duo.wait_for_text_to_equal("#runs-pageinfo", "page 2 of 3")
    second = [r[0] for r in rows(dash_duo, "runs-grid")]
    assert len(second) == 25 and not set(first) & set(second) and max(second) < min(first)  # newest first
    dash_duo.select_dcc_dropdown("#f-tester", value="bob")  # a filter starts again at page 1
    dash_duo.wait_for_text_to_equal("#runs-pageinfo", "page 1 of 1")
    assert {r[3] for r in rows(dash_duo, "runs-grid")} == {"bob"} and dash_duo.get_logs() == []
