"""JUnit XML: parsed with junitparser (what CI plugins do) and checked against the junit-4 XSD's structure
(the schema Jenkins' xUnit plugin uses: allowed elements, their order, required attributes, value types)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from conftest import Workdir
from reports import junit
from synthetic_runs import FakeStep, load_report, real_run, write_run

# junit-4.xsd, reduced to what a validator checks: attributes allowed/required and children in order
ATTRS = {
    "testsuites": ({"name", "time", "tests", "failures", "disabled", "errors"}, set()),
    "testsuite": ({"name", "tests", "failures", "errors", "group", "time", "disabled", "skipped", "timestamp",
                   "hostname", "id", "package", "file", "log", "url", "version"}, {"name", "tests"}),
    "property": ({"name", "value"}, {"name", "value"}),
    "testcase": ({"name", "assertions", "time", "classname", "status", "group", "file", "line"}, {"name"}),
    "skipped": ({"message"}, set()), "failure": ({"message", "type"}, set()), "error": ({"message", "type"}, set()),
    "properties": (set(), set()), "system-out": (set(), set()), "system-err": (set(), set()),
}
CHILD_ORDER = {
    "testsuites": ["testsuite"],
    "testsuite": ["properties", "testcase", "system-out", "system-err"],
    "properties": ["property"],
    "testcase": ["skipped", "error", "failure", "system-out", "system-err"],
}
SINGLE = {("testsuite", "properties"), ("testsuite", "system-out"), ("testsuite", "system-err"),
          ("testcase", "skipped")}
INTEGER = {"tests", "failures", "errors", "skipped", "disabled"}
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")  # xs:dateTime as junit-4.xsd restricts it


def validate(element: ET.Element) -> None:
    """Fail with the element's tag when it breaks the junit-4 structure."""
    allowed, required = ATTRS[element.tag]
    assert set(element.attrib) <= allowed, (element.tag, set(element.attrib) - allowed)
    assert required <= set(element.attrib), (element.tag, required - set(element.attrib))
    for name, value in element.attrib.items():
        if name in INTEGER:
            assert value.isdigit(), (element.tag, name, value)
        if name == "time":
            assert re.fullmatch(r"\d+(\.\d+)?", value), (element.tag, value)
        if name == "timestamp":
            assert DATETIME.match(value), value
    order = CHILD_ORDER.get(element.tag, [])
    positions = [order.index(child.tag) for child in element]  # ValueError: an element not allowed here
    assert positions == sorted(positions), (element.tag, [c.tag for c in element])
    for child in element:
        if (element.tag, child.tag) in SINGLE:
            assert len(element.findall(child.tag)) == 1, (element.tag, child.tag)
        validate(child)


@pytest.fixture(scope="module")
def real_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wd = Workdir(tmp_path_factory.mktemp("junit") / "work")
    real_run(wd)
    return junit.write(load_report(wd.path), wd.path / "junit.xml")


def test_structure_follows_the_junit_schema(real_xml: Path) -> None:
    validate(ET.parse(real_xml).getroot())


def test_one_suite_per_run_one_case_per_step(real_xml: Path) -> None:
    suites = list(JUnitXml.fromfile(str(real_xml)))
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == ("reportme", 5, 1, 0, 1)
    assert suite.time > 0 and suite.hostname and DATETIME.match(suite.timestamp)
    props = {p.name: p.value for p in suite.properties()}
    assert props["test_id"] == "T-1" and props["tester"] == "pytest" and props["verdict"] == "failed"
    cases = {case.name: case for case in suite}
    assert set(cases) == {"first", "formula", "broken", "after_broken", "flaky"}
    assert all(case.classname == "reportme" for case in cases.values())
    failure = cases["broken"].result[0]
    assert isinstance(failure, Failure) and failure.message == "exit code 7: failing with 7"
    assert "failing with 7" in failure.text
    skipped = cases["after_broken"].result[0]
    assert isinstance(skipped, Skipped) and "upstream step 'broken' failed" in skipped.message
    assert cases["first"].is_passed and cases["flaky"].is_passed and cases["first"].time > 0


def test_aborted_is_an_error_not_run_is_skipped_and_odd_text_stays_valid(tmp_path: Path) -> None:
    steps = [FakeStep("ok"), FakeStep("cut", "aborted", reason="interrupted by SIGINT", exit_code=None,
                                      log_lines=["\x1b[1mbold\x1b[0m", "nul\x00 and <tags> & \"quotes\""]),
             FakeStep("later", "pending", duration=None, reason=None),
             FakeStep("tolerated", "failed", reason="exit code 1", exit_code=1, tolerated=True)]
    write_run(tmp_path, "20260101T000000Z-abrt", steps, [], verdict="aborted",
              test_meta={"test_id": "A-1", "limits": {"v": [1, 2]}, "bad\x01": "x\x02"})
    root = ET.fromstring(junit.to_string(load_report(tmp_path)))  # parses: no character XML forbids
    validate(root)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures"), suite.get("skipped")) == ("1", "1", "1")
    error = root.find(".//testcase[@name='cut']/error")
    assert error is not None and error.get("message") == "interrupted by SIGINT" and error.get("type") == "aborted"
    assert "bold" in (error.text or "") and "\x1b" not in (error.text or "") and "<tags> &" in (error.text or "")
    skipped = root.find(".//testcase[@name='later']/skipped")
    assert skipped is not None and skipped.get("message") == "pending"
    tolerated = root.find(".//testcase[@name='tolerated']/failure")
    assert tolerated is not None and tolerated.get("message") == "tolerated: exit code 1"
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["limits"] == '{"v": [1, 2]}' and props["bad\ufffd"] == "x\ufffd"
    parsed = JUnitXml.fromstring(junit.to_string(load_report(tmp_path)).encode())
    results = {case.name: case.result for suite in parsed for case in suite}
    assert isinstance(results["cut"][0], Error)
