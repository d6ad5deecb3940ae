#!/usr/bin/env bats
# Tests of scriptlets/shell/write_summary.sh.
# shellcheck disable=SC2154  # $output, $stderr and $lines are set by bats' `run`
bats_require_minimum_version 1.5.0

load helpers

setup() {
    common_setup
    SCRIPT="$SHELL_DIR/write_summary.sh"
}

# Fill the test's context file the way compute_metrics, check_threshold, histogram and the runner would.
full_context() {
    ctx set metrics '{"voltage_v": {"count": 4, "mean": 3.3125, "std": 0.0853913, "min": 3.2, "max": 3.41},
                      "temp|c": {"count": 4, "mean": 22.0, "std": 0.5, "min": 21.5, "max": 22.5}}'
    ctx set threshold_check '{"key": "metrics.voltage_v.max", "value": 3.41, "min": null, "max": 3.45, "passed": true}'
    ctx set test_meta '{"test_id": "T-042", "tester": "alice", "description": "bench smoke test", "station": "bench 3"}'
    ctx set histogram '{"column": "voltage_v", "edges": [3.2, 3.3, 3.41], "counts": [1, 3]}'
}

@test "a full context gives a Markdown summary, the summary_path key and a JSON result" {
    full_context
    run -0 --separate-stderr bash "$SCRIPT" --output reports/summary.md
    [ "$output" = '{"output": "reports/summary.md", "passed": true, "columns": 2, "histogram": true}' ]

    summary="$(cat reports/summary.md)"
    [[ "$summary" == "# Test summary: T-042"* ]]
    [[ "$summary" == *"**Verdict: PASSED**"* ]]
    [[ "$summary" == *"| Tester | alice |"* ]]
    [[ "$summary" == *"| Description | bench smoke test |"* ]]
    [[ "$summary" == *"| station | bench 3 |"* ]]                 # extra test_meta keys are kept
    [[ "$summary" == *"| Run | (outside a run) |"* ]]
    [[ "$summary" == *"| max | 3.45 |"* ]]                         # the threshold check's fields
    [[ "$summary" == *"| Column | count | mean | std | min | max |"* ]]
    [[ "$summary" == *"| voltage_v | 4 | 3.3125 | 0.0853913 | 3.2 | 3.41 |"* ]]
    [[ "$summary" == *'| temp\|c | 4 | 22 | 0.5 | 21.5 | 22.5 |'* ]]  # a pipe in a name is escaped
    [[ "$summary" == *"## Histogram of voltage_v"* ]]

    run -0 ctx get summary_path
    [ "$output" = '"reports/summary.md"' ]
}

@test "the default output is Data/demo/summary.md, relative to the current folder" {
    full_context
    run -0 --separate-stderr bash "$SCRIPT"
    [ -f Data/demo/summary.md ]
    [ "$(json_get "$output" 'd["output"]')" = Data/demo/summary.md ]
}

@test "a failed threshold check gives a FAILED verdict (and the step itself still succeeds)" {
    full_context
    ctx set threshold_check '{"key": "metrics.voltage_v.max", "value": 3.6, "max": 3.45, "passed": false}'
    run -0 --separate-stderr bash "$SCRIPT" --output s.md
    [ "$(json_get "$output" 'd["passed"]')" = False ]
    grep -q '^\*\*Verdict: FAILED\*\*$' s.md
}

@test "the optional keys may be missing: no histogram section, a warning for test_meta" {
    ctx set metrics '{"v": {"count": 1, "mean": 1, "std": 0, "min": 1, "max": 1}}'
    ctx set threshold_check '{"passed": true}'
    run -0 --separate-stderr bash "$SCRIPT" --output s.md
    [ "$(json_get "$output" 'd["histogram"]')" = False ]
    [[ "$stderr" == *"WARNING write_summary: context key 'test_meta' is not set"* ]]
    run ! grep -q Histogram s.md
}

@test "a missing metrics key exits 2 and names the key and the scriptlet that writes it" {
    ctx set threshold_check '{"passed": true}'
    run -2 --separate-stderr bash "$SCRIPT" --output s.md
    [ "$output" = "" ]
    [[ "$stderr" == *"context key 'metrics' is missing; it is written by the compute_metrics scriptlet"* ]]
    [ ! -e s.md ]
    run -1 ctx get summary_path
}

@test "a missing threshold_check key exits 2 and names check_threshold" {
    ctx set metrics '{"v": {"count": 1, "mean": 1, "std": 0, "min": 1, "max": 1}}'
    run -2 --separate-stderr bash "$SCRIPT" --output s.md
    [[ "$stderr" == *"context key 'threshold_check' is missing; it is written by the check_threshold scriptlet"* ]]
}

@test "values of the wrong shape exit 2 with a message, not a traceback" {
    ctx set metrics '{"v": {"count": 1, "mean": 1, "std": 0, "min": 1, "max": 1}}'
    ctx set threshold_check '{"passed": "yes"}'
    run -2 --separate-stderr bash "$SCRIPT" --output s.md
    [[ "$stderr" == *"'threshold_check' must be an object with a boolean 'passed'"* ]]
    [[ "$stderr" != *Traceback* ]]

    ctx set threshold_check '{"passed": true}'
    ctx set metrics '[1, 2]'
    run -2 --separate-stderr bash "$SCRIPT" --output s.md
    [[ "$stderr" == *"'metrics' must be a non-empty object"* ]]
}

@test "bad flags exit 2; --help prints every section and exits 0" {
    run -2 --separate-stderr bash "$SCRIPT" --output
    [[ "$stderr" == *"--output needs a value"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --input x
    [[ "$stderr" == *"unknown argument '--input'"* ]]
    mkdir folder
    run -2 --separate-stderr bash "$SCRIPT" --output folder
    [[ "$stderr" == *"--output 'folder' is a folder"* ]]

    run -0 bash "$SCRIPT" --help
    for section in Description: Usage: Arguments: Examples: Limitations:; do
        [[ "$output" == *"$section"* ]]
    done
}
