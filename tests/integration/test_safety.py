"""Secrets never reach anything the runner writes; limits and path rules hold."""
from __future__ import annotations

import base64
import os
import urllib.parse

import pytest

from conftest import Workdir

SECRET = "Sup3r-S3cret/Token+42"


def forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(b"user:" + raw), urllib.parse.quote(secret, safe="").encode(),
            base64.urlsafe_b64encode(b"xy" + raw)]


def test_secret_is_masked_in_every_file_the_run_writes(wd: Workdir) -> None:
    recipe = wd.recipe("""
secrets: [API_TOKEN]
steps:
  - {name: leaky, type: shell, cmd: scripts/leaky.sh}
""")
    proc = wd.run(recipe, env={"API_TOKEN": SECRET})
    assert proc.returncode == 1
    log = wd.logs("leaky")
    assert "plain: ***" in log and "mid-line: token=***&user=x" in log and "split: ***" in log
    assert "RuntimeError: failed while using ***" in log
    leaky = wd.steps()["leaky"]
    assert leaky["status"] == "failed" and leaky["reason"] == "exit code 1: RuntimeError: failed while using ***"
    assert "warning" not in proc.stderr  # every sink stayed attached
    written = [p for p in wd.path.rglob("*") if p.is_file() and "scripts" not in p.parts]
    assert any(p.suffix == ".db" for p in written)
    for path in written:
        data = path.read_bytes()
        for form in forms(SECRET):
            assert form not in data, f"{form!r} found in {path}"
    for form in forms(SECRET):
        assert form.decode() not in proc.stdout + proc.stderr


def test_missing_or_short_secrets_are_refused_before_the_run(wd: Workdir) -> None:
    recipe = wd.recipe("secrets: [API_TOKEN]\nsteps:\n  - {name: a, type: shell, cmd: scripts/ok.sh}\n")
    env = {k: v for k, v in os.environ.items() if k != "API_TOKEN"}
    missing = wd.run(recipe, env={**env, "API_TOKEN": ""})
    assert missing.returncode == 2 and "secret API_TOKEN is not set" in missing.stderr
    short = wd.run(recipe, env={"API_TOKEN": "abc"})
    assert short.returncode == 2 and "shorter than 4 characters" in short.stderr
    assert not (wd.path / "Logs").exists() or not list((wd.path / "Logs").glob("*_a.log"))


def test_step_secrets_reach_only_their_step(wd: Workdir) -> None:
    recipe = wd.recipe("""
steps:
  - {name: with_secret, type: shell, cmd: scripts/env.sh, secrets: [DUT_PASSWORD]}
  - {name: without, type: shell, cmd: scripts/env.sh}
""")
    env_script = wd.path / "scripts" / "env.sh"
    env_script.write_text(env_script.read_text() + 'echo "password=${DUT_PASSWORD:-unset}"\n')
    assert wd.run(recipe, env={"DUT_PASSWORD": "hunter2-long"}).returncode == 0
    assert "password=***" in wd.logs("with_secret")
    assert "password=unset" in wd.logs("without")


@pytest.mark.parametrize("what, limit, reason", [
    ("memory", "memory_mb: 200", "memory_mb limit (200 MB) hit"),
    ("cpu", "cpu_seconds: 1", "cpu_seconds limit (1 s) hit"),
    ("files", "open_files: 64", "open_files limit (64) hit"),
])
def test_limits_are_applied_and_named(wd: Workdir, what: str, limit: str, reason: str) -> None:
    recipe = wd.recipe(f"""
steps:
  - {{name: hog, type: shell, cmd: scripts/hog.sh, args: {{what: {what}}}, timeout: 30, limits: {{{limit}}}}}
""")
    assert wd.run(recipe).returncode == 1
    assert reason in wd.steps()["hog"]["reason"]


def test_scripts_outside_the_folders_need_allow_external(wd: Workdir, tmp_path) -> None:
    outside = tmp_path / "elsewhere.sh"
    outside.write_text("#!/usr/bin/env bash\necho outside\n")
    body = "steps:\n  - {name: a, type: shell, cmd: ../elsewhere.sh}\n"
    proc = wd.run(wd.recipe(body))
    assert proc.returncode == 2 and "is outside" in proc.stderr and "allow_external: true" in proc.stderr
    assert wd.run(wd.recipe("allow_external: true\n" + body)).returncode == 0
