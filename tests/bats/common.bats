#!/usr/bin/env bats
# Tests of scriptlets/shell/lib/common.sh: logging, usage, exits, flag checks, JSON output, context.
# shellcheck disable=SC2154  # $output, $stderr and $lines are set by bats' `run`
bats_require_minimum_version 1.5.0

load helpers

setup() {
    common_setup
    # A tiny scriptlet that sources the library and runs its arguments as one library call,
    # e.g. `bash demo_tool.sh log_info hello`. Its header block is what `usage` must print.
    TOOL="$BATS_TEST_TMPDIR/demo_tool.sh"
    cat >"$TOOL" <<EOF
#!/usr/bin/env bash
# Description:
#   A demo tool.
#
#   Indented text stays indented.
# Usage:
#   demo_tool.sh [--help]
set -Eeuo pipefail
# not part of the help
source "$LIB"
"\$@"
EOF
}

# ----------------------------------------------------------------------------- logging

@test "log_info/log_warn/log_error write 'TIMESTAMP LEVEL name: msg' to stderr only" {
    run --separate-stderr bash "$TOOL" log_info "hello world"
    [ "$status" -eq 0 ]
    [ "$output" = "" ]
    [[ "$stderr" =~ ^${TS_RE}\ INFO\ demo_tool:\ hello\ world$ ]]

    run --separate-stderr bash "$TOOL" log_warn "careful"
    [[ "$stderr" =~ ^${TS_RE}\ WARNING\ demo_tool:\ careful$ ]]

    run --separate-stderr bash "$TOOL" log_error "broken"
    [[ "$stderr" =~ ^${TS_RE}\ ERROR\ demo_tool:\ broken$ ]]
}

@test "the timestamp is UTC whatever TZ says" {
    before="$(date -u +%Y-%m-%dT%H)"
    run --separate-stderr env TZ=Asia/Tokyo bash "$TOOL" log_info x
    after="$(date -u +%Y-%m-%dT%H)"
    [[ "$stderr" == "$before"* || "$stderr" == "$after"* ]]
}

@test "log_debug is silent unless ORCH_DEBUG=1" {
    run --separate-stderr bash "$TOOL" log_debug "details"
    [ "$status" -eq 0 ]
    [ "$stderr" = "" ]

    ORCH_DEBUG=1 run --separate-stderr bash "$TOOL" log_debug "details"
    [ "$status" -eq 0 ]
    [[ "$stderr" =~ ^${TS_RE}\ DEBUG\ demo_tool:\ details$ ]]
}

@test "ORCH_SCRIPT_NAME overrides the name in log lines" {
    ORCH_SCRIPT_NAME=other run --separate-stderr bash "$TOOL" log_info x
    [[ "$stderr" =~ ^${TS_RE}\ INFO\ other:\ x$ ]]
}

# ----------------------------------------------------------------------------- usage and exits

@test "usage prints the header comment block without the shebang and the '# ' prefix" {
    run --separate-stderr bash "$TOOL" usage
    [ "$status" -eq 0 ]
    expected=$'Description:\n  A demo tool.\n\n  Indented text stays indented.\nUsage:\n  demo_tool.sh [--help]'
    [ "$output" = "$expected" ]
}

@test "die exits 1 and die_usage exits 2, each with an ERROR line" {
    run --separate-stderr bash "$TOOL" die "it broke"
    [ "$status" -eq 1 ]
    [[ "$stderr" =~ ERROR\ demo_tool:\ it\ broke$ ]]

    run --separate-stderr bash "$TOOL" die_usage "--input is required"
    [ "$status" -eq 2 ]
    [[ "$stderr" =~ ERROR\ demo_tool:\ --input\ is\ required$ ]]
}

@test "die_unknown_arg exits 2 and suggests the closest flag of the header's Arguments" {
    cat >"$BATS_TEST_TMPDIR/flags_tool.sh" <<EOF
#!/usr/bin/env bash
# Arguments:
#   --input FILE      the measurements
#   --output-dir DIR  where results go
source "$LIB"
die_unknown_arg "\$1"
EOF
    run -2 --separate-stderr bash "$BATS_TEST_TMPDIR/flags_tool.sh" --inptu
    [[ "$stderr" == *"ERROR flags_tool: unknown argument '--inptu' (did you mean --input?); see --help" ]]
    run -2 --separate-stderr bash "$BATS_TEST_TMPDIR/flags_tool.sh" --output_dir=x
    [[ "$stderr" == *"(did you mean --output-dir?)"* ]]
    run -2 --separate-stderr bash "$BATS_TEST_TMPDIR/flags_tool.sh" --colour
    [[ "$stderr" == *"unknown argument '--colour'; see --help" ]]
    run -2 --separate-stderr bash "$BATS_TEST_TMPDIR/flags_tool.sh" stray
    [[ "$stderr" == *"unknown argument 'stray'; see --help" ]]
}

@test "require_value refuses a flag without a value, or followed by another flag" {
    run -2 --separate-stderr bash "$TOOL" require_value --input
    [[ "$stderr" == *"--input needs a value"* ]]
    run -2 --separate-stderr bash "$TOOL" require_value --input --output
    [[ "$stderr" == *"--input needs a value"* ]]
    run -0 bash "$TOOL" require_value --input data.csv
}

@test "require_flag refuses an empty value and names the flag" {
    run -2 --separate-stderr bash "$TOOL" require_flag --output ""
    [[ "$stderr" == *"--output is required"* ]]
    run -0 bash "$TOOL" require_flag --output x.csv
}

@test "trap_errors logs the failing line and command, and the exit code is kept" {
    cat >"$BATS_TEST_TMPDIR/failing.sh" <<EOF
#!/usr/bin/env bash
set -Eeuo pipefail
source "$LIB"
trap_errors
false
EOF
    run -1 --separate-stderr bash "$BATS_TEST_TMPDIR/failing.sh"
    [[ "$stderr" == *"ERROR failing: line 5: 'false' failed with exit code 1"* ]]
}

@test "ORCH_HOME defaults to the orchestrator folder, found from the library's location" {
    # shellcheck disable=SC2016  # expanded by the tool, not here
    run -0 bash "$TOOL" eval 'echo "$ORCH_HOME"'
    [ "$output" = "$ORCH" ]
    # shellcheck disable=SC2016
    ORCH_HOME=/somewhere run -0 bash "$TOOL" eval 'echo "$ORCH_HOME"'
    [ "$output" = /somewhere ]
}

# ----------------------------------------------------------------------------- JSON output

@test "json_out prints one object with string values" {
    run -0 --separate-stderr bash "$TOOL" json_out input Data/raw.csv rows 12
    [ "$output" = '{"input": "Data/raw.csv", "rows": "12"}' ]
}

@test "json_out typed keys: :num, :bool, :json and :str" {
    run -0 --separate-stderr bash "$TOOL" json_out rows:num 12 mean:num -1.5e3 ok:bool true \
        extra:json '{"a": [1, 2]}' id:str 007
    [ "$output" = '{"rows": 12, "mean": -1.5e3, "ok": true, "extra": {"a": [1, 2]}, "id": "007"}' ]
}

@test "json_out refuses an odd number of arguments and values of the wrong type" {
    run -2 --separate-stderr bash "$TOOL" json_out a 1 b
    [[ "$stderr" == *"needs KEY VALUE pairs"* ]]
    run -2 --separate-stderr bash "$TOOL" json_out rows:num twelve
    [[ "$stderr" == *"'twelve' is not a JSON number"* ]]
    run -2 --separate-stderr bash "$TOOL" json_out ok:bool yes
    [[ "$stderr" == *"'yes' is not true or false"* ]]
}

@test "json_escape escapes quotes, backslashes and control characters" {
    run -0 bash "$TOOL" json_escape $'a "quoted" \\ back\tslash\nnew\rline\x01\x1f'
    [ "$output" = '"a \"quoted\" \\ back\tslash\nnew\rline\u0001\u001f"' ]
}

@test "json_out round-trips awkward strings through a JSON parser, keys included" {
    export WEIRD=$'quote " backslash \\ tab \t newline \n bell \a amp & é 中 $HOME `x` \\n'
    run -0 --separate-stderr bash "$TOOL" json_out "k\"ey" "$WEIRD" plain x
    run -0 "$ORCH_PYTHON" -c '
import json, os, sys
d = json.loads(sys.argv[1])
assert d == {"k\"ey": os.environ["WEIRD"], "plain": "x"}, d
' "$output"
}

# ----------------------------------------------------------------------------- context

@test "ctx_set / ctx_get round-trip through a context file (ORCH_CTX_FILE)" {
    run -0 bash "$TOOL" ctx_set threshold 5
    run -0 bash "$TOOL" ctx_get threshold
    [ "$output" = 5 ]

    run -0 bash "$TOOL" ctx_set metrics '{"v": {"mean": 1.5}}'
    run -0 bash "$TOOL" ctx_get metrics
    [ "$output" = '{"v": {"mean": 1.5}}' ]

    # Values that are not JSON are stored as strings; ctx_set_string forces a string.
    run -0 bash "$TOOL" ctx_set station "bench 3"
    run -0 bash "$TOOL" ctx_get station
    [ "$output" = '"bench 3"' ]
    run -0 bash "$TOOL" ctx_set_string id 007
    run -0 bash "$TOOL" ctx_get id
    [ "$output" = '"007"' ]

    # A value starting with dashes is a value, not a flag of context.py.
    run -0 bash "$TOOL" ctx_set_string flaglike --verbose
    run -0 bash "$TOOL" ctx_get flaglike
    [ "$output" = '"--verbose"' ]

    # The file is plain JSON, readable by anything (and by the context CLI with --ctx).
    run -0 ctx --ctx "$ORCH_CTX_FILE" get threshold
    [ "$output" = 5 ]
}

@test "ctx writes are recorded in the history" {
    run -0 bash "$TOOL" ctx_set n 1
    run -0 bash "$TOOL" ctx_set n 2
    run -0 ctx history n
    [ "$(json_get "$output" '[(h["old"], h["new"]) for h in d]')" = "[(None, 1), (1, 2)]" ]
}

@test "ctx_get of a missing key exits 1" {
    run -1 bash "$TOOL" ctx_get nothing_here
}

@test "ctx_require exits 2 naming the missing key and what writes it" {
    run -2 --separate-stderr bash "$TOOL" ctx_require metrics "the compute_metrics scriptlet"
    [[ "$stderr" == *"context key 'metrics' is missing; it is written by the compute_metrics scriptlet: run that first"* ]]
    run -2 --separate-stderr bash "$TOOL" ctx_require metrics
    [[ "$stderr" == *"context key 'metrics' is missing (or set it with 'python context.py set metrics ...')"* ]]

    bash "$TOOL" ctx_set metrics '[1, 2]'
    run -0 bash "$TOOL" ctx_require metrics compute_metrics
    [ "$output" = "[1, 2]" ]
}
