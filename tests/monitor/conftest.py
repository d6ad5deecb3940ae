"""Monitor test setup: headless Chromium for dash_duo, and work folders holding real runs.

tests/monitor is a package (it has __init__.py) so this conftest is imported as `monitor.conftest` and does not
shadow tests/conftest.py, which other test modules import as `conftest`. The warning filters dash[testing]
needs (selenium 4.2, urllib3 1.26, its pytest plugin) are in pyproject.toml.
"""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from conftest import Workdir

os.environ.setdefault("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# A recipe that leaves a bit of everything: context history (threshold written twice), HTML in a log and in
# the context, a failed step with its reason, and a step skipped because of it.
RECIPE = """
execution: {mode: parallel, max_parallel: 2}
steps:
  - {name: prepare, type: shell, cmd: scripts/ok.sh, args: {set: "threshold=5"}}
  - {name: measure, type: shell, cmd: scripts/ok.sh, args: {set: "threshold=7"}, depends_on: [prepare]}
  - name: html_log
    type: shell
    cmd: scripts/ok.sh
    args: {set: 'note="<b>bold</b><script>alert(1)</script>"'}
    depends_on: [prepare]
  - {name: broken, type: shell, cmd: scripts/fail.sh, args: {code: 7}, depends_on: [measure]}
  - {name: after_broken, type: shell, cmd: scripts/ok.sh, depends_on: [broken]}
"""


def pytest_setup_options() -> Any:
    """dash_duo's webdriver options: a stable headless window that works as root in a container."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        options.add_argument(arg)
    return options


def need_browser() -> None:
    """Skip (with the apt-get line) when the browser or its driver is missing."""
    if not (shutil.which("chromedriver") and Path(os.environ["DASH_TEST_CHROMEPATH"]).exists()):
        pytest.skip("needs chromium and chromedriver: apt-get install -y chromium chromium-driver")


@pytest.fixture(scope="session")
def real_wd(tmp_path_factory: pytest.TempPathFactory) -> Workdir:
    """A work folder with two real runs of RECIPE (both failed at `broken`)."""
    wd = Workdir(tmp_path_factory.mktemp("monitor") / "work")
    recipe = wd.recipe(RECIPE, name="mixed.yaml")
    for _ in range(2):
        result = wd.run(recipe)
        assert result.returncode == 1, result.stdout + result.stderr
    return wd


@pytest.fixture(scope="session")
def real_db(real_wd: Workdir) -> Any:
    from scriptlets.python.apps.monitor_data import Database

    return Database(real_wd.path / "Data" / "orchestrator.db", real_wd.path)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Server:
    """The monitor's Flask server on a free loopback port, in a thread (werkzeug, threaded)."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(db, creds=None) -> Server; stopped after the test."""
    from scriptlets.python.apps.monitor import create_app

    servers: list[Server] = []

    def start(db: Any, creds: Optional[Any] = None) -> Server:
        servers.append(Server(create_app(db, creds)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
