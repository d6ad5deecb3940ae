# shellcheck shell=bash
# Shared helpers for shell scriptlets. Source it, do not run it:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# What it gives a scriptlet:
#   log_info/log_warn/log_error/log_debug MSG   log lines on stderr: `2026-11-21T23:13:59Z INFO name: msg`
#                                              (debug lines only when ORCH_DEBUG=1, or after --debug)
#   die MSG / die_usage MSG                     log an error and exit 1 (failed) / 2 (bad usage or input)
#   die_unknown_arg ARG                         exit 2 for an argument the script does not take, naming the
#                                              closest flag of the header's Arguments (did you mean --input?)
#   usage                                       print the script's header comment block (for --help)
#   require_value "$@" / require_flag FLAG VAL  flag-parsing checks that end in a clear exit 2
#   ctx_get KEY / ctx_set KEY VALUE             the run's context through `python context.py`
#   ctx_set_string KEY VALUE / ctx_require KEY [PRODUCER]
#   json_escape STR / json_out KEY VALUE ...    print a result as one JSON object on stdout
#   trap_errors                                 log the failing line and command when `set -e` stops a script
#
# It is written to work under `set -Eeuo pipefail`: every variable read has a default, and no
# function ends on a test that is false. It sets no shell options and installs no traps by itself.

# Source only once, even when several files source it.
if [[ -n "${_ORCH_COMMON_SH_LOADED:-}" ]]; then
    return 0
fi
_ORCH_COMMON_SH_LOADED=1

# ----------------------------------------------------------------------------- where things are

# The folder of this library, and the orchestrator folder three levels up (scriptlets/shell/lib).
# The runner sets ORCH_HOME for every step; a script run by hand computes it from this file.
ORCH_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ORCH_HOME="${ORCH_HOME:-$(cd "$ORCH_LIB_DIR/../../.." && pwd)}"
export ORCH_HOME

# The script that sourced this library (for --help and for the name in log lines).
# ORCH_SCRIPT_NAME can be set before sourcing to log under another name.
ORCH_SCRIPT_PATH="${BASH_SOURCE[1]:-$0}"
ORCH_SCRIPT_NAME="${ORCH_SCRIPT_NAME:-$(basename "$ORCH_SCRIPT_PATH" .sh)}"

# ----------------------------------------------------------------------------- logging

# The current UTC time as 2026-11-21T23:13:59Z. Bash >= 4.2 formats it without starting a process.
utc_now() {
    if (( BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 2) )); then
        TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T\n' -1
    else
        date -u +%Y-%m-%dT%H:%M:%SZ
    fi
}

# _log LEVEL MSG...: one line on stderr. Logs never go to stdout, which carries the JSON result.
_log() {
    local level=$1
    shift
    printf '%s %s %s: %s\n' "$(utc_now)" "$level" "$ORCH_SCRIPT_NAME" "$*" >&2
}

log_info() { _log INFO "$@"; }
log_warn() { _log WARNING "$@"; }
log_error() { _log ERROR "$@"; }

# Debug lines appear only when the runner runs with --debug (ORCH_DEBUG=1) or the script got --debug.
log_debug() {
    if [[ "${ORCH_DEBUG:-0}" == 1 ]]; then
        _log DEBUG "$@"
    fi
    return 0
}

# ----------------------------------------------------------------------------- exiting

# die MSG: the scriptlet failed (exit 1).
die() {
    log_error "$*"
    exit 1
}

# die_usage MSG: bad usage or bad input (exit 2). Say which flag or file is wrong and what to do.
die_usage() {
    log_error "$*"
    exit 2
}

# die_unknown_arg ARG: an argument the script does not take (exit 2), with the closest flag from the
# header's Arguments when one is near: "unknown argument '--inptu' (did you mean --input?); see --help".
die_unknown_arg() {
    local given=$1 flag best="" best_distance=3 distance
    if [[ "$given" == --* ]]; then
        while read -r flag; do
            distance=$(_edit_distance "${given%%=*}" "$flag")
            if (( distance < best_distance )); then
                best=$flag
                best_distance=$distance
            fi
        done < <(grep -oE '^#[[:space:]]+--[A-Za-z0-9][A-Za-z0-9-]*' "$ORCH_SCRIPT_PATH" | grep -oE -- '--[A-Za-z0-9-]+')
    fi
    die_usage "unknown argument '$given'${best:+ (did you mean $best?)}; see --help"
}

# _edit_distance A B: the Levenshtein distance of two short strings (flag names).
_edit_distance() {
    local a=$1 b=$2 i j cost
    local -a previous current
    for (( j = 0; j <= ${#b}; j++ )); do previous[j]=$j; done
    for (( i = 1; i <= ${#a}; i++ )); do
        current=("$i")
        for (( j = 1; j <= ${#b}; j++ )); do
            cost=1
            [[ "${a:i-1:1}" == "${b:j-1:1}" ]] && cost=0
            current[j]=$(( previous[j] + 1 < current[j-1] + 1 ? previous[j] + 1 : current[j-1] + 1 ))
            (( previous[j-1] + cost < current[j] )) && current[j]=$(( previous[j-1] + cost ))
        done
        previous=("${current[@]}")
    done
    echo "${previous[${#b}]}"
}

# usage: print the header comment block of the calling script: the `#` lines after the shebang,
# up to the first line that is not a comment, with the leading `# ` removed.
usage() {
    local line first=1
    while IFS= read -r line || [[ -n "$line" ]]; do
        if (( first )); then
            first=0
            if [[ "$line" == '#!'* ]]; then
                continue
            fi
        fi
        if [[ "$line" != '#'* ]]; then
            break
        fi
        line="${line#\#}"
        printf '%s\n' "${line# }"
    done <"$ORCH_SCRIPT_PATH"
}

# trap_errors: when `set -e` stops the script on an unexpected failure, log where it happened.
# Call it once after `set -Eeuo pipefail` (the -E makes the trap fire inside functions too).
trap_errors() {
    trap '_orch_on_error $? "$LINENO" "$BASH_COMMAND"' ERR
}

_orch_on_error() {
    log_error "line $2: '$3' failed with exit code $1"
}

# ----------------------------------------------------------------------------- flag parsing

# require_value "$@": inside a `case "$1" in --flag)` branch, check that the flag has a value.
#     --input) require_value "$@"; input=$2; shift 2 ;;
require_value() {
    if (( $# < 2 )) || [[ "$2" == --* ]]; then
        die_usage "$1 needs a value (see --help)"
    fi
    return 0
}

# require_flag FLAG VALUE: after parsing, check that a required flag was given.
require_flag() {
    if [[ -z "${2:-}" ]]; then
        die_usage "$1 is required (see --help)"
    fi
    return 0
}

# ----------------------------------------------------------------------------- the context

# orch_python: the interpreter for context.py and small `python -c` helpers. Under the runner,
# `python` on PATH is the runner's own interpreter. ORCH_PYTHON overrides; by hand, the repository's
# .venv is used when there is no `python` on PATH, and python3 last.
orch_python() {
    if [[ -n "${ORCH_PYTHON:-}" ]]; then
        printf '%s\n' "$ORCH_PYTHON"
    elif command -v python >/dev/null 2>&1; then
        printf '%s\n' python
    elif [[ -x "$ORCH_HOME/../.venv/bin/python" ]]; then
        printf '%s\n' "$ORCH_HOME/../.venv/bin/python"
    else
        printf '%s\n' python3
    fi
}

# _ctx ARGS...: run the context CLI. Inside a run it finds the run's context from the ORCH_CTX_*
# variables the runner sets; outside one, ORCH_CTX_FILE names a standalone JSON context file.
# The wrappers below pass `--` before KEY and VALUE, so that a value starting with a dash
# ("--x", "-5") is taken as a value, not as a flag of context.py.
_ctx() {
    local py
    py="$(orch_python)"
    "$py" "$ORCH_HOME/context.py" "$@"
}

# ctx_get KEY: print the key's value as JSON. Exit status 1 when the key is missing, 2 on other errors.
ctx_get() { _ctx get -- "$1"; }

# ctx_set KEY VALUE: store VALUE, parsed as JSON when it parses (5, true, {"a": 1}), else as a string.
ctx_set() { _ctx set -- "$1" "$2"; }

# ctx_set_string KEY VALUE: store VALUE as a string even when it looks like JSON ("5" stays "5").
ctx_set_string() { _ctx set --string -- "$1" "$2"; }

# ctx_require KEY [PRODUCER]: print the key's JSON value, or exit 2 naming the key and what writes it
# (PRODUCER is free text, e.g. "the compute_metrics scriptlet"). Best redirected to a file (`ctx_require metrics compute_metrics >"$tmp/metrics.json"`)
# so that it runs in the script's own shell. In `value=$(ctx_require ...)` it runs in a subshell:
# under `set -e` the script still stops with exit 2, and trap_errors logs one more line about it.
ctx_require() {
    local key=$1 producer=${2:-} rc=0 value written_by=""
    value="$(_ctx get -- "$key" 2>/dev/null)" || rc=$?
    if [[ -n "$producer" ]]; then
        written_by="; it is written by $producer: run that first"
    fi
    if (( rc == 1 )); then
        die_usage "context key '$key' is missing$written_by (or set it with 'python context.py set $key ...')"
    elif (( rc != 0 )); then
        _ctx get -- "$key" >/dev/null || true  # repeat to show context.py's own message
        die_usage "cannot read context key '$key' (context.py exit $rc)"
    fi
    printf '%s\n' "$value"
}

# ----------------------------------------------------------------------------- JSON output

# json_escape STR: print STR as a JSON string literal, quotes included.
# Escapes backslash, double quote and every control character; other characters pass through.
json_escape() {
    local s=${1-} code ch esc
    # The replacements are quoted so that neither `&` (bash 5.2 patsub_replacement) nor a
    # backslash in them is interpreted.
    s=${s//\\/"\\\\"}
    s=${s//\"/"\\\""}
    s=${s//$'\n'/"\\n"}
    s=${s//$'\r'/"\\r"}
    s=${s//$'\t'/"\\t"}
    s=${s//$'\b'/"\\b"}
    s=${s//$'\f'/"\\f"}
    # Any other control character becomes \u00XX (bash strings cannot hold NUL).
    if [[ "$s" == *[[:cntrl:]]* ]]; then
        for code in {1..31} 127; do
            printf -v ch '%b' "\\x$(printf '%02x' "$code")"
            printf -v esc '\\u%04x' "$code"
            s=${s//"$ch"/"$esc"}
        done
    fi
    printf '"%s"' "$s"
}

# json_value TYPE VALUE: print one JSON value. TYPE is str (default), num, bool or json (raw, trusted).
json_value() {
    local type=$1 value=${2-}
    case "$type" in
        str) json_escape "$value" ;;
        num)
            if [[ ! "$value" =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]]; then
                log_error "json_value: '$value' is not a JSON number"
                return 2
            fi
            printf '%s' "$value" ;;
        bool)
            if [[ "$value" != true && "$value" != false ]]; then
                log_error "json_value: '$value' is not true or false"
                return 2
            fi
            printf '%s' "$value" ;;
        json) printf '%s' "${value:-null}" ;;
        *)
            log_error "json_value: unknown type '$type' (use str, num, bool or json)"
            return 2 ;;
    esac
}

# json_out KEY VALUE [KEY VALUE ...]: print one JSON object on stdout, e.g.
#     json_out input "$input" rows:num "$rows" ok:bool true extra:json '{"a": 1}'
#   -> {"input": "Data/raw.csv", "rows": 12, "ok": true, "extra": {"a": 1}}
# Values are strings unless the key ends in :num, :bool or :json (:str forces a string).
json_out() {
    if (( $# % 2 != 0 )); then
        log_error "json_out: needs KEY VALUE pairs, got $# arguments"
        return 2
    fi
    local out="" sep="" key type value
    while (( $# )); do
        key=$1 type=str
        case "$key" in
            *:str | *:num | *:bool | *:json)
                type=${key##*:}
                key=${key%:*} ;;
        esac
        value="$(json_value "$type" "$2")" || return 2
        out+="$sep$(json_escape "$key"): $value"
        sep=", "
        shift 2
    done
    printf '{%s}\n' "$out"
}
