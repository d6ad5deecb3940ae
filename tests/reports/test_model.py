"""Loading a run: resolving run references, the context history's old values, log tails, odd records."""
from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from context import ContextStore
from engine.paths import Paths
from engine.status import StepStatus
from reports import excel, model
from synthetic_runs import FakeStep, load_report, write_run

IDS = ["20260101T000000Z-ab12", "20260102T000000Z-cd34", "20260102T120000Z-ef56"]


@pytest.fixture
def three_runs(tmp_path: Path) -> Path:
    for n, run_id in enumerate(IDS):
        write_run(tmp_path, run_id, [FakeStep("s")], [], started=f"2026-01-0{n + 1}T00:00:00.000000Z")
    return tmp_path


@pytest.mark.parametrize("ref, expected", [("latest", IDS[2]), (IDS[0], IDS[0]), ("20260101", IDS[0]),
                                           ("cd34", IDS[1]), ("0Z-ef56", IDS[2])])
def test_run_references(three_runs: Path, ref: str, expected: str) -> None:
    db = model.open_db(Paths.for_workdir(three_runs))
    assert model.resolve_run_id(db, ref) == expected
    db.close()


@pytest.mark.parametrize("ref, message", [("20260102", "ambiguous"), ("zz99", "not found"), ("  ", "empty"),
                                          ("%", "not found"), ("_", "not found")])
def test_bad_run_references(three_runs: Path, ref: str, message: str) -> None:
    db = model.open_db(Paths.for_workdir(three_runs))
    with pytest.raises(model.ReportError, match=message):
        model.resolve_run_id(db, ref)
    db.close()


def test_history_old_values_match_the_context_store(tmp_path: Path) -> None:
    write_run(tmp_path, IDS[0], [FakeStep("a"), FakeStep("b")],
              [("a", "k", 1), ("b", "k", {"x": 2}), ("a", "other", "o"), ("b", "k", None), ("a", "k", [3])])
    report = load_report(tmp_path)
    mine = [(c.op, c.old, c.new, c.who) for c in report.history if c.key == "k"]
    store = ContextStore(tmp_path / "Data" / "runs" / IDS[0] / "context.db")
    theirs = [(h["op"], h["old"], h["new"], h["who"]) for h in store.history("k")]
    store.close()
    assert [(op, json.loads(o) if o else None, json.loads(n) if n else None, w) for op, o, n, w in mine] == theirs
    assert report.context == {"k": "[3]", "other": '"o"'}


def test_log_tail_edges(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"one\r\ntwo\r\nthree")  # CRLF, no newline at the end
    assert model.read_tail(log, 2) == ["two", "three"]
    log.write_bytes(b"y" * 1_000_000)  # one huge line: read at most the byte cap from the end
    (line,) = model.read_tail(log, 20)
    assert 0 < len(line) <= 300 * 1024
    log.write_bytes(b"\xff\xfebad utf-8\n")
    assert model.read_tail(log, 5) == ["\ufffd\ufffdbad utf-8"]
    assert model.read_tail(tmp_path / "missing.log")[0].startswith("(log not readable")


def test_unknown_status_and_verdict_do_not_break_the_report(tmp_path: Path) -> None:
    write_run(tmp_path, IDS[0], [FakeStep("future", "teleported")], [], verdict="exotic",
              test_meta={"test_id": 7, "nested": {"a": [1]}})
    report = load_report(tmp_path)
    assert report.steps[0].status is StepStatus.PENDING  # a newer orchestrator's status: shown as not finished
    wb = openpyxl.load_workbook(excel.write_run_report(report, tmp_path / "r.xlsx"))
    fields = {r[0]: r[1] for r in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    assert fields["Verdict"] == "exotic" and fields["Test id"] == 7 and fields["nested"] == '{"a": [1]}'
