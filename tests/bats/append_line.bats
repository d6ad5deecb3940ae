#!/usr/bin/env bats
# Tests of scriptlets/shell/append_line.sh.
# shellcheck disable=SC2154  # $output and $lines are set by bats' `run`
bats_require_minimum_version 1.5.0

load helpers

setup() {
    common_setup
    SCRIPT="$SHELL_DIR/append_line.sh"
}

@test "appends UTC-stamped lines, creating the folder" {
    run bash "$SCRIPT" --file "$BATS_TEST_TMPDIR/sub/log.txt" --line "first"
    [ "$status" -eq 0 ]
    run bash "$SCRIPT" --file "$BATS_TEST_TMPDIR/sub/log.txt" --line $'second\nline'
    [ "$status" -eq 0 ]
    [[ "$output" == *'"line": "second line"'* ]]
    run cat "$BATS_TEST_TMPDIR/sub/log.txt"
    [ "${#lines[@]}" -eq 2 ]
    [[ "${lines[0]}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\ first$ ]]
    [[ "${lines[1]}" == *"Z second line" ]]
}

@test "missing flags exit 2 naming the flag; --help exits 0" {
    run -2 bash "$SCRIPT" --line x
    [[ "$output" == *"--file FILE is required"* ]]
    run -0 bash "$SCRIPT" --help
    [[ "$output" == *"Description:"* && "$output" == *"Limitations:"* ]]
}
