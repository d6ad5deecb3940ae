"""User hooks: called on run and step events with templated arguments; failures never change the verdict."""
from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import ORCH, PY, Workdir


@pytest.fixture
def http_sink():
    """A loopback HTTP server recording the JSON bodies posted to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200 if not self.path.endswith("/fail") else 500)
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_hooks_are_called_with_templates(wd: Workdir, http_sink) -> None:
    url, received = http_sink
    journal = wd.path / "journal.txt"
    recipe = wd.recipe(f"""
hooks:
  on_run_start:
    - {{type: shell, cmd: scriptlets/shell/append_line.sh, args: {{file: {journal}, line: 'start {{{{ run.id }}}}'}}}}
  on_step_start:
    - {{type: shell, cmd: scriptlets/shell/append_line.sh,
       args: {{file: {journal}, line: 'begin {{{{ step.name }}}}'}}}}
  on_step_success:
    - {{type: shell, cmd: scriptlets/shell/append_line.sh, args: {{file: {journal}, line: 'ok {{{{ step.name }}}}'}}}}
  on_step_failure:
    - {{type: shell, cmd: scriptlets/shell/append_line.sh,
       args: {{file: {journal}, line: 'failed {{{{ step.name }}}} {{{{ step.status }}}}: {{{{ step.reason }}}}'}}}}
  on_run_end:
    - type: python
      module: scriptlets.python.steps.post_json
      params: {{url: '{url}/runs', payload: '{{"run": "{{{{ run.id }}}}", "verdict": "{{{{ run.verdict }}}}"}}'}}
    - {{type: python, module: scriptlets.python.steps.post_json, params: {{url: '{url}/fail', payload: '{{}}'}}}}
execution: {{mode: parallel}}
steps:
  - {{name: good, type: shell, cmd: scripts/ok.sh}}
  - {{name: bad, type: shell, cmd: scripts/fail.sh, args: {{code: 4}}}}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 1  # the failing step decides; the failing hook does not
    run_id = wd.run_ids()[-1]
    lines = [line.split(" ", 1)[1] for line in journal.read_text().splitlines()]
    assert lines[0] == f"start {run_id}"
    assert {"begin good", "begin bad", "ok good", "failed bad failed: exit code 4: failing with 4"} <= set(lines)
    assert received == [{"run": run_id, "verdict": "failed"}, {}]
    hooks_log = next(wd.path.glob("Logs/*_hooks.log")).read_text()
    assert "on_run_end (scriptlets.python.steps.post_json): exit code 1" in hooks_log
    assert "answered 500" in hooks_log
    assert "hook on_run_end" in proc.stderr


def test_hook_timeout_is_enforced_and_logged(wd: Workdir) -> None:
    recipe = wd.recipe("""
hooks:
  on_run_start:
    - {type: shell, cmd: scripts/ignore_term.sh, timeout: 0.5}
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh}
""")
    proc = wd.run(recipe)
    assert proc.returncode == 0
    assert "timed out after 0.5 s" in next(wd.path.glob("Logs/*_hooks.log")).read_text()


def test_bad_hook_is_refused_at_load(wd: Workdir) -> None:
    proc = wd.run(wd.recipe("""
hooks:
  on_step_sucess: []
steps:
  - {name: a, type: shell, cmd: scripts/ok.sh}
"""), "--validate")
    assert proc.returncode == 2 and "did you mean 'on_step_success'?" in proc.stderr


def test_hooks_read_the_context_but_cannot_change_it(wd: Workdir) -> None:
    """A hook's write would bypass the steps' journals, the masking of secrets and the record of who wrote what."""
    seen = wd.path / "seen.txt"
    hook = wd.path / "scripts" / "ctx_hook.sh"
    hook.write_text('#!/usr/bin/env bash\npython "$ORCH_HOME/context.py" get answer > "$2"\n'  # --out PATH
                    'python "$ORCH_HOME/context.py" set leaked "$API_TOKEN"\n')
    hook.chmod(0o755)
    recipe = wd.recipe(f"""
secrets: [API_TOKEN]
hooks:
  on_run_end: [{{type: shell, cmd: scripts/ctx_hook.sh, args: {{out: {seen}}}}}]
steps:
  - {{name: a, type: shell, cmd: scripts/ok.sh, args: {{set: "answer=42"}}}}
""")
    proc = wd.run(recipe, env={"API_TOKEN": "s3cr3t-token-value"})
    assert proc.returncode == 0, proc.stderr
    assert seen.read_text().strip() == "42"
    hooks_log = next(wd.path.glob("Logs/*_hooks.log")).read_text()
    assert "the context is read-only here: hooks observe a run" in hooks_log and "exit code 2" in hooks_log
    export = subprocess.run([PY, str(ORCH / "context.py"), "--run", "latest", "--workdir", str(wd.path), "export"],
                            capture_output=True, text=True)
    assert json.loads(export.stdout).keys() == {"answer", "test_meta"}, export.stdout + export.stderr


def test_every_run_and_step_field_the_load_check_accepts_is_there_in_a_hook(wd: Workdir) -> None:
    """templating.HOOK_FIELDS is what --validate accepts in hooks; HookRunner must provide each of them."""
    from engine.templating import HOOK_FIELDS

    journal = wd.path / "journal.txt"
    line = " ".join(f"{root}.{name}={{{{ {root}.{name} }}}}" for root, names in HOOK_FIELDS.items()
                    for name in names)
    recipe = wd.recipe(f"""
hooks:
  on_step_failure:
    - {{type: shell, cmd: scriptlets/shell/append_line.sh, args: {{file: {journal}, line: '{line}'}}}}
steps:
  - {{name: bad, type: shell, cmd: scripts/fail.sh, args: {{code: 4}}}}
""")
    assert wd.run(recipe).returncode == 1
    written = journal.read_text()
    for root, names in HOOK_FIELDS.items():
        for name in names:
            assert f"{root}.{name}=" in written and f"{root}.{name}= " not in written, written
