#!/usr/bin/env bats
# Tests of scriptlets/shell/wait_for.sh.
# shellcheck disable=SC2154  # $output, $stderr and $lines are set by bats' `run`
bats_require_minimum_version 1.5.0

load helpers

setup() {
    common_setup
    SCRIPT="$SHELL_DIR/wait_for.sh"
    LISTENER_PID=""
}

teardown() {
    if [[ -n "$LISTENER_PID" ]]; then
        kill "$LISTENER_PID" 2>/dev/null || true
    fi
}

# Start a TCP listener on a free port of 127.0.0.1 in the background; its port goes to port.txt
# (written under another name and renamed, so the file is complete once it exists).
# Background jobs close fd 3, else bats waits for them to end.
start_listener() {
    "$ORCH_PYTHON" -c '
import os, socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(5)
open("port.tmp", "w").write(str(s.getsockname()[1]))
os.rename("port.tmp", "port.txt")
time.sleep(60)
' >/dev/null 2>&1 3>&- &
    LISTENER_PID=$!
}

# A port with nothing listening: bind a free one and close it again.
free_port() {
    "$ORCH_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "--file: ready once a background job creates the file" {
    (sleep 1; touch flag.txt) >/dev/null 2>&1 3>&- &
    run -0 --separate-stderr bash "$SCRIPT" --file flag.txt --timeout 10 --interval 0.2
    [ "$(json_get "$output" 'd["target"], d["kind"]')" = "('flag.txt', 'file')" ]
    # It waited for the file (about 1 s), not much longer.
    [ "$(json_get "$output" '0.5 <= d["waited_s"] < 5')" = True ]
    [[ "$stderr" == *"INFO wait_for: file flag.txt is ready after"* ]]
}

@test "--file: an existing file is ready at once" {
    touch here.txt
    run -0 --separate-stderr bash "$SCRIPT" --file here.txt
    [ "$output" = '{"target": "here.txt", "kind": "file", "waited_s": 0.00}' ]
}

@test "--file: a timeout exits 1 with a clear message and prints no result" {
    SECONDS=0
    run -1 --separate-stderr bash "$SCRIPT" --file never.txt --timeout 1 --interval 0.3
    [ "$output" = "" ]
    [[ "$stderr" == *"ERROR wait_for: timed out after 1."*" s: file never.txt is not ready"* ]]
    [[ "$stderr" == *"--timeout 1"* ]]
    (( SECONDS < 5 ))
}

@test "--timeout 0 checks once" {
    run -1 --separate-stderr bash "$SCRIPT" --file never.txt --timeout 0
    [[ "$stderr" == *"(1 checks, --timeout 0)"* ]]
}

@test "--tcp: ready when a listener accepts connections" {
    start_listener
    run -0 bash "$SCRIPT" --file port.txt --timeout 10 --interval 0.1
    port="$(cat port.txt)"
    run -0 --separate-stderr bash "$SCRIPT" --tcp "127.0.0.1:$port" --timeout 5
    [ "$(json_get "$output" 'd["target"], d["kind"]')" = "('127.0.0.1:$port', 'tcp')" ]
}

@test "--tcp: a closed port times out with exit 1" {
    port="$(free_port)"
    run -1 --separate-stderr bash "$SCRIPT" --tcp "127.0.0.1:$port" --timeout 1 --interval 0.5
    [[ "$stderr" == *"timed out after"*"tcp 127.0.0.1:$port is not ready"* ]]
}

@test "bad usage exits 2 with a message naming the flag" {
    run -2 --separate-stderr bash "$SCRIPT"
    [[ "$stderr" == *"nothing to wait for: give --file PATH or --tcp HOST:PORT"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --file a --tcp localhost:80
    [[ "$stderr" == *"give either --file or --tcp, not both"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --tcp localhost
    [[ "$stderr" == *"--tcp 'localhost' is not HOST:PORT"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --tcp localhost:70000
    [[ "$stderr" == *"the port must be a number from 1 to 65535"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --file a --timeout soon
    [[ "$stderr" == *"--timeout 'soon' is not a number of seconds"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --file a --interval -1
    [[ "$stderr" == *"--interval '-1' is not a number of seconds"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --file a --interval 0
    [[ "$stderr" == *"--interval must be more than 0 seconds"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --file
    [[ "$stderr" == *"--file needs a value"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --cmd "curl x"
    [[ "$stderr" == *"unknown argument '--cmd'"* ]]
}

@test "--help prints every section and exits 0" {
    run -0 --separate-stderr bash "$SCRIPT" --help
    [ "${lines[0]}" = "Description:" ]
    for section in Usage: Arguments: Examples: Limitations:; do
        [[ "$output" == *"$section"* ]]
    done
}
