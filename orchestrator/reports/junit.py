"""JUnit XML of one run, for Jenkins, GitLab and other CI tools that show test results.

One <testsuite> per run (name = recipe name) inside <testsuites>; one <testcase> per step (classname = recipe
name, name = step). A failed step gets <failure message=reason> with the end of its log, an aborted step
<error>, a skipped or never-run step <skipped message=reason/>. A failure tolerated by continue_on_error is
still a <failure> (its message says it was tolerated): the step did fail. test_meta and the run's identity
go into <properties>. The structure follows the junit-4 XSD Jenkins uses (attributes it requires, element
order properties, testcase*, system-out, system-err).
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

from engine.status import StepStatus

from .model import Failure, RunReport, StepInfo, parse_ts

# characters XML 1.0 cannot carry at all (ElementTree would write them and make the file unparsable)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
NOT_RUN = (StepStatus.SKIPPED, StepStatus.PENDING, StepStatus.RUNNING)


def xml_text(text: Any) -> str:
    """Text safe in an XML 1.0 document: terminal escapes removed, forbidden characters replaced."""
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", str(text)))


def build(report: RunReport) -> ET.Element:
    """The <testsuites> element of the run."""
    run, counts = report.run, report.counts
    started = parse_ts(run.started)
    failures = {f.step: f for f in report.failures}
    root = ET.Element("testsuites", name=xml_text(run.recipe_name))
    suite = ET.SubElement(root, "testsuite", {
        "name": xml_text(run.recipe_name), "tests": str(len(report.steps)),
        "failures": str(counts[StepStatus.FAILED.value]), "errors": str(counts[StepStatus.ABORTED.value]),
        "skipped": str(sum(counts[s.value] for s in NOT_RUN)), "time": _seconds(run.duration),
        "hostname": xml_text(run.host or "localhost"), "id": "0", "package": xml_text(run.recipe_name)})
    if started:
        suite.set("timestamp", started.isoformat(timespec="seconds"))  # xs:dateTime without a zone: UTC here
    for key in ("tests", "failures", "errors", "time"):  # the totals junit-4's <testsuites> allows
        root.set(key, suite.get(key, ""))
    _properties(suite, report)
    for step in report.steps:
        _testcase(suite, run.recipe_name, step, failures.get(step.name))
    ET.SubElement(suite, "system-out").text = xml_text(f"run {run.id}: {run.verdict}")
    ET.SubElement(suite, "system-err")
    return root


def _properties(suite: ET.Element, report: RunReport) -> None:
    props = ET.SubElement(suite, "properties")
    run = report.run
    fixed = {"run_id": run.id, "verdict": run.verdict, "recipe_path": run.recipe_path, "parent_run": run.parent_run,
             "user": run.user, "mode": run.mode}
    for name, value in [*run.test_meta.items(), *fixed.items()]:
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            ET.SubElement(props, "property", name=xml_text(name), value=xml_text(text))


def _testcase(suite: ET.Element, classname: str, step: StepInfo, failure: Optional[Failure]) -> None:
    case = ET.SubElement(suite, "testcase", name=xml_text(step.name), classname=xml_text(classname),
                         time=_seconds(step.duration))
    reason = step.reason or step.status.value
    if step.status is StepStatus.FAILED:
        message = f"tolerated: {reason}" if step.tolerated else reason
        element = ET.SubElement(case, "failure", message=xml_text(message), type="failed")
        element.text = _failure_text(step, failure)
    elif step.status is StepStatus.ABORTED:
        element = ET.SubElement(case, "error", message=xml_text(reason), type="aborted")
        element.text = _failure_text(step, failure)
    elif step.status in NOT_RUN:
        not_run = "still running when the report was made" if step.status is StepStatus.RUNNING else reason
        ET.SubElement(case, "skipped", message=xml_text(not_run))
    if step.log_path or step.note:
        ET.SubElement(case, "system-out").text = xml_text("\n".join(filter(None, [step.note, _log_line(step)])))


def _failure_text(step: StepInfo, failure: Optional[Failure]) -> str:
    lines = [f"{step.status.value} after {step.attempts} attempt(s): {step.reason or 'no reason recorded'}"]
    if failure and failure.log_tail:
        lines += [f"last {len(failure.log_tail)} lines of {failure.log_path}:", *failure.log_tail]
    return xml_text("\n".join(lines))


def _log_line(step: StepInfo) -> str:
    return f"log: {step.log_path}" if step.log_path else ""


def _seconds(value: Optional[float]) -> str:
    return f"{value or 0.0:.3f}"


def to_string(report: RunReport) -> str:
    """The JUnit XML document as text (UTF-8 declaration included)."""
    root = build(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(report: RunReport, target: Path) -> Path:
    """Write the JUnit XML of the run to target and return the path."""
    from .jsonsummary import write_text

    return write_text(to_string(report), target)
