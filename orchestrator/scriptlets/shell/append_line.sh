#!/usr/bin/env bash
# Description:
#   Append one line, prefixed with the UTC time, to a text file: a minimal notification hook
#   (a run journal, a shift log, a file another tool watches). The file and its folder are created.
#   Prints a JSON result on stdout: {"file": ..., "line": ...}.
#
# Usage:
#   bash scriptlets/shell/append_line.sh --file FILE --line TEXT
#
# Arguments:
#   --file FILE   the file to append to (required)
#   --line TEXT   the text to append (required); one line: newlines are replaced by spaces
#   -h, --help    print this help and exit
#
#   Exit codes: 0 appended; 1 the file could not be written; 2 bad usage.
#
# Examples:
#   bash scriptlets/shell/append_line.sh --file Data/run_journal.txt --line "bench 3 ready"
#
#   As a recipe hook:
#     hooks:
#       on_step_failure:
#         - type: shell
#           cmd: scriptlets/shell/append_line.sh
#           args: {file: Data/failures.txt, line: "{{ run.id }} {{ step.name }}: {{ step.reason }}"}
#
# Limitations:
#   Concurrent writers may interleave whole lines but never split one (a single append per line).
#   No rotation: prune the file yourself.

set -Eeuo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

file=""
line=""
while (( $# )); do
    case "$1" in
        --file) require_value "$@"; file=$2; shift 2 ;;
        --line) require_value "$@"; line=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die_unknown_arg "$1" ;;
    esac
done
[[ -n "$file" ]] || die_usage "--file FILE is required"
[[ -n "$line" ]] || die_usage "--line TEXT is required"

# One line only: a newline in the text would make the file ambiguous to read back.
line=${line//$'\n'/ }
mkdir -p "$(dirname "$file")" || die "cannot create the folder of $file"
printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >> "$file" || die "cannot append to $file"
log_info "appended to $file"
json_out file "$file" line "$line"
