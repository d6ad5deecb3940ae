"""The JSON summary: its shape (what scripts rely on) and its values for a real run."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Workdir
from reports import jsonsummary
from synthetic_runs import big_run, load_report, real_run

RUN_FIELDS = {"id": str, "recipe": str, "recipe_path": str, "verdict": str, "started": str, "ended": str,
              "duration": float, "test_meta": dict, "host": str, "user": str, "mode": str, "slots": int,
              "argv": list, "ctx_path": str, "log_prefix": str}
STEP_FIELDS = {"name": str, "status": str, "attempts": int, "started": (str, type(None)),
               "duration": (float, type(None)), "cpu": (float, type(None)), "max_rss_mb": (float, type(None)),
               "exit_code": (int, type(None)), "reason": (str, type(None)), "log_path": (str, type(None)),
               "tolerated": bool, "attempt_details": list}


def check_types(obj: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, kind in fields.items():
        assert isinstance(obj[name], kind), (name, obj[name])


def test_shape_and_values_of_a_real_run(wd: Workdir) -> None:
    run_id = real_run(wd)
    target = jsonsummary.write(load_report(wd.path), wd.path / "s.json")
    data = json.loads(target.read_text())
    assert (data["schema"], data["version"]) == ("orchestrator.run-summary", 1)
    assert set(data) == {"schema", "version", "run", "counts", "steps", "failures", "context", "notes"}
    check_types(data["run"], RUN_FIELDS)
    assert data["run"]["id"] == run_id and data["run"]["verdict"] == "failed"
    assert data["run"]["test_meta"] == {"test_id": "T-1", "tester": "pytest", "description": "test"}
    counts = data["counts"]
    assert counts["total"] == len(data["steps"]) == 5
    assert sum(v for k, v in counts.items() if k != "total") == 5
    assert (counts["succeeded"], counts["failed"], counts["skipped"]) == (3, 1, 1)
    for step in data["steps"]:
        check_types(step, STEP_FIELDS)
    steps = {s["name"]: s for s in data["steps"]}
    assert [a["attempt"] for a in steps["flaky"]["attempt_details"]] == [1, 2]
    assert steps["flaky"]["attempt_details"][0]["reason"].startswith("exit code 1: run 1 at ")
    assert data["failures"] == [{"step": "broken", "status": "failed", "reason": "exit code 7: failing with 7",
                                 "exit_code": 7,
                                 "log_path": steps["broken"]["log_path"],
                                 "log_tail": data["failures"][0]["log_tail"]}]
    assert any("failing with 7" in line for line in data["failures"][0]["log_tail"])
    assert data["context"] == {"keys": 3, "changes": 3}


def test_log_tail_is_the_last_twenty_lines(tmp_path: Path) -> None:
    big_run(tmp_path, steps=60, changes=10)
    data = jsonsummary.summary(load_report(tmp_path))
    tail = data["failures"][0]["log_tail"]
    assert len(tail) == 20 and tail[-1].startswith("step 7 line 199:") and tail[0].startswith("step 7 line 180:")
    json.dumps(data)  # everything serialises
