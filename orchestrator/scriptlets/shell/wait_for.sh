#!/usr/bin/env bash
# Description:
#   Wait until something is ready, then succeed; give up after a timeout. Use it as a health check
#   before the steps that need a file written by another process, or a service listening on a port.
#     --file PATH       ready when PATH exists (a file, a folder or anything else)
#     --tcp HOST:PORT   ready when a TCP connection to HOST:PORT opens (bash's /dev/tcp; the
#                       connection is closed at once, nothing is sent)
#   The target is checked at once, then every --interval seconds until --timeout seconds passed.
#   Result (stdout): {"target": ..., "kind": "file"|"tcp", "waited_s": X} with X in seconds.
#
# Usage:
#   bash scriptlets/shell/wait_for.sh (--file PATH | --tcp HOST:PORT) [--timeout S] [--interval S] [--debug]
#   bash scriptlets/shell/wait_for.sh --help
#
# Arguments:
#   --file PATH       wait until PATH exists (relative paths start from the current folder).
#   --tcp HOST:PORT   wait until HOST:PORT accepts a TCP connection; an IPv6 host goes in
#                     brackets: [::1]:8080. Give exactly one of --file and --tcp.
#   --timeout S       give up after S seconds (default 30; decimals allowed; 0 checks once).
#   --interval S      seconds between checks (default 1; decimals allowed, more than 0).
#   --debug           log every check on stderr (same as ORCH_DEBUG=1).
#   -h, --help        print this help and exit.
#
#   Exit codes: 0 ready; 1 not ready when the timeout expired; 2 bad usage (no target, both
#   targets, a malformed HOST:PORT, a timeout or interval that is not a number).
#
# Examples:
#   bash scriptlets/shell/wait_for.sh --file Data/dut/ready.flag --timeout 60
#   bash scriptlets/shell/wait_for.sh --tcp localhost:8050 --timeout 10 --interval 0.5
#
#   In a recipe:
#     - name: wait_for_dut
#       type: shell
#       cmd: scriptlets/shell/wait_for.sh
#       args: {tcp: "dut.local:22", timeout: 120, interval: 2}
#
# Limitations:
#   No arbitrary commands as checks (no shell strings, by design: write a scriptlet instead).
#   A file counts as ready as soon as it exists, even if its writer is still writing it: have the
#   writer create it under another name and rename it. A TCP check only proves that something
#   accepts connections, not that the service answers correctly. Each connection attempt is cut
#   at the time left when coreutils `timeout` is installed; without it a filtered port can make
#   one attempt last as long as the system's connect timeout.

set -Eeuo pipefail

# Load the shared helpers (logging, die/die_usage, usage, json_out) from lib/ beside this script.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
trap_errors

# ----------------------------------------------------------------------------- flags

file=""
tcp=""
timeout_s=30
interval_s=1
while (( $# )); do
    case "$1" in
        --file) require_value "$@"; file=$2; shift 2 ;;
        --file=*) file=${1#*=}; shift ;;
        --tcp) require_value "$@"; tcp=$2; shift 2 ;;
        --tcp=*) tcp=${1#*=}; shift ;;
        --timeout) require_value "$@"; timeout_s=$2; shift 2 ;;
        --timeout=*) timeout_s=${1#*=}; shift ;;
        --interval) require_value "$@"; interval_s=$2; shift 2 ;;
        --interval=*) interval_s=${1#*=}; shift ;;
        --debug) export ORCH_DEBUG=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die_unknown_arg "$1" ;;
    esac
done

# Exactly one target.
if [[ -n "$file" && -n "$tcp" ]]; then
    die_usage "give either --file or --tcp, not both (run the script twice to wait for two things)"
elif [[ -z "$file" && -z "$tcp" ]]; then
    die_usage "nothing to wait for: give --file PATH or --tcp HOST:PORT (see --help)"
fi

# ----------------------------------------------------------------------------- time in microseconds

# Bash has no floating point: times are kept as integer microseconds.
# to_us VAR SECONDS FLAG: store SECONDS ("1.5") in VAR as microseconds (1500000); anything but a
# plain non-negative number is bad usage. It sets a variable instead of printing, so that its
# die_usage runs in the main shell and really ends the script with exit 2.
to_us() {
    local var=$1 value=$2 flag=$3 whole frac
    if [[ ! "$value" =~ ^([0-9]+)(\.([0-9]{0,6})[0-9]*)?$ ]]; then
        die_usage "$flag '$value' is not a number of seconds (examples: 30, 0.5)"
    fi
    whole=${BASH_REMATCH[1]}
    frac="${BASH_REMATCH[3]}000000"
    printf -v "$var" '%d' $(( 10#$whole * 1000000 + 10#${frac:0:6} ))
}

# now_us: the current time in microseconds (EPOCHREALTIME is bash 5; date +%s%N elsewhere on Linux).
now_us() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then
        local t=${EPOCHREALTIME//[!0-9]/}  # drop the decimal point, whatever the locale's is
        echo $(( 10#$t ))
    else
        echo $(( $(date +%s%N) / 1000 ))
    fi
}

# seconds US: 1500000 -> 1.50 (two decimals, for messages and the result).
seconds() {
    local us=$1
    printf '%d.%02d' $(( us / 1000000 )) $(( us % 1000000 / 10000 ))
}

timeout_us=0
interval_us=0
to_us timeout_us "$timeout_s" --timeout
to_us interval_us "$interval_s" --interval
if (( interval_us == 0 )); then
    die_usage "--interval must be more than 0 seconds"
fi

# ----------------------------------------------------------------------------- the check

if [[ -n "$file" ]]; then
    kind="file"
    target=$file
else
    # Split HOST:PORT at the last colon; [IPv6]:PORT loses its brackets.
    kind="tcp"
    target=$tcp
    host=${tcp%:*}
    port=${tcp##*:}
    if [[ "$tcp" != *:* || -z "$host" ]]; then
        die_usage "--tcp '$tcp' is not HOST:PORT (example: localhost:8050)"
    fi
    if [[ "$host" == \[*\] ]]; then
        host=${host:1:${#host}-2}
    fi
    if [[ ! "$port" =~ ^[0-9]{1,5}$ ]] || (( 10#$port < 1 || 10#$port > 65535 )); then
        die_usage "--tcp '$tcp': the port must be a number from 1 to 65535"
    fi
fi

# try_once LIMIT_US: succeed when the target is ready now. A TCP attempt is cut after LIMIT_US
# (at least 1 s) when coreutils `timeout` exists, so a silent host cannot outlast --timeout by much.
try_once() {
    local limit_s=$(( ($1 + 999999) / 1000000 ))
    if [[ "$kind" == file ]]; then
        [[ -e "$file" ]]
        return
    fi
    (( limit_s < 1 )) && limit_s=1
    # The connection opens on file descriptor 3 of a child shell and closes when it exits.
    # shellcheck disable=SC2016  # $1/$2 are the child shell's arguments
    local probe='exec 3<>"/dev/tcp/$1/$2"'
    if command -v timeout >/dev/null 2>&1; then
        timeout "$limit_s" bash -c "$probe" _ "$host" "$port" 2>/dev/null
    else
        bash -c "$probe" _ "$host" "$port" 2>/dev/null
    fi
}

# ----------------------------------------------------------------------------- wait

log_info "waiting up to $(seconds "$timeout_us") s for $kind $target (every $(seconds "$interval_us") s)"
start=$(now_us)
deadline=$(( start + timeout_us ))
checks=0
while true; do
    now=$(now_us)
    checks=$(( checks + 1 ))
    if try_once $(( deadline - now )); then
        break
    fi
    now=$(now_us)
    log_debug "check $checks: $kind $target is not ready ($(seconds $(( now - start ))) s)"
    if (( now >= deadline )); then
        die "timed out after $(seconds $(( now - start ))) s: $kind $target is not ready ($checks checks, --timeout $timeout_s); is the producer running? raise --timeout if it is slow"
    fi
    # Sleep one interval, but never past the deadline.
    pause=$(( deadline - now < interval_us ? deadline - now : interval_us ))
    sleep "$(printf '%d.%06d' $(( pause / 1000000 )) $(( pause % 1000000 )))"
done

# ----------------------------------------------------------------------------- result

waited=$(seconds $(( $(now_us) - start )))
log_info "$kind $target is ready after $waited s"
json_out target "$target" kind "$kind" waited_s:num "$waited"
