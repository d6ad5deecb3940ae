#!/usr/bin/env bash
# Description:
#   Sanitize a CSV file so that later steps can read it without surprises:
#     - removes Windows line endings (CR) and a UTF-8 byte-order mark,
#     - drops blank and whitespace-only lines,
#     - trims spaces and tabs around every field (also inside quotes: " 3.5 " becomes 3.5),
#     - normalises the header: lowercase, quotes removed, runs of spaces/dashes become one
#       underscore ("Sample Value" -> sample_value, "peak-to-peak" -> peak_to_peak),
#     - keeps the data rows in their order, and re-quotes only the fields that need it
#       (those holding a comma or a double quote).
#   The output is written to a temporary file and moved into place only when the whole input
#   is valid, so a failed run never leaves a half-written output. Its folder is created.
#   Prints a JSON result on stdout: {"input": ..., "output": ..., "rows": N, "columns": N}.
#
# Usage:
#   bash scriptlets/shell/preprocess_csv.sh --input FILE --output FILE [--debug]
#   bash scriptlets/shell/preprocess_csv.sh --help
#
# Arguments:
#   --input FILE    the CSV to clean (required). The first non-blank line is the header.
#   --output FILE   where to write the cleaned CSV (required; may be the same as --input).
#   --debug         log debug lines on stderr (same as ORCH_DEBUG=1).
#   -h, --help      print this help and exit.
#
#   Exit codes: 0 success; 1 the CSV is invalid: no header, an empty or duplicate column name,
#   a row whose number of fields differs from the header (the message names the line), or an
#   unterminated quote; 2 bad usage: a missing flag, or an input file that is missing or unreadable.
#
# Examples:
#   bash scriptlets/shell/preprocess_csv.sh --input Data/raw.csv --output Data/clean.csv
#
#   In a recipe:
#     - name: preprocess_csv
#       type: shell
#       cmd: scriptlets/shell/preprocess_csv.sh
#       args: {input: Data/raw.csv, output: Data/clean.csv}
#       success: {files_exist: [Data/clean.csv]}
#
# Limitations:
#   The separator is a comma. Quoted fields may hold commas and doubled quotes ("a ""b"""), but
#   not line breaks: a field spanning lines is reported as an unterminated quote. Old Mac files
#   with CR-only line endings are read as a single line. Lowercasing is ASCII only. Line numbers
#   in messages count every physical line of the input, blank ones included.

set -Eeuo pipefail

# Load the shared helpers (logging, die/die_usage, usage, json_out) from lib/ beside this script.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
trap_errors

# ----------------------------------------------------------------------------- flags

input=""
output=""
while (( $# )); do
    case "$1" in
        --input) require_value "$@"; input=$2; shift 2 ;;
        --input=*) input=${1#*=}; shift ;;
        --output) require_value "$@"; output=$2; shift 2 ;;
        --output=*) output=${1#*=}; shift ;;
        --debug) export ORCH_DEBUG=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die_unknown_arg "$1" ;;
    esac
done
require_flag --input "$input"
require_flag --output "$output"

# ----------------------------------------------------------------------------- check the input

# A missing or unreadable input is bad input (exit 2), not a failed step: the message says what to fix.
if [[ -d "$input" ]]; then
    die_usage "--input '$input' is a folder; give the path of a CSV file"
elif [[ ! -e "$input" ]]; then
    die_usage "--input '$input' does not exist (relative paths start from $(pwd)); check the path"
elif [[ ! -r "$input" ]]; then
    die_usage "--input '$input' is not readable; check its permissions"
fi

# Create the output folder. Failing to create it is a bad --output path (exit 2).
out_dir="$(dirname "$output")"
if ! mkdir -p "$out_dir" 2>/dev/null; then
    die_usage "--output '$output': cannot create the folder '$out_dir'; check the path and permissions"
fi
if [[ -d "$output" ]]; then
    die_usage "--output '$output' is a folder; give a file path"
fi

# Work files: the new CSV beside the output (so the final `mv` is an atomic rename), and the
# messages and counts that awk reports back. All are removed on exit, whatever happens.
tmp_out="$output.tmp.$$"
work_dir="$(mktemp -d)"
cleanup() { rm -rf "$work_dir" "$tmp_out"; }
trap cleanup EXIT
errors_file="$work_dir/errors"
stats_file="$work_dir/stats"

log_info "cleaning $input -> $output"

# ----------------------------------------------------------------------------- clean with awk

# The awk program reads the file once. It splits each line into fields (a fast path when the line
# has no quotes, a small character scanner when it does), normalises the header, checks that every
# row has as many fields as the header and writes the cleaned lines to stdout.
# Errors go to errors_file (one message per line); "rows columns" goes to stats_file.
# LC_ALL=C makes awk work on bytes, so gawk and mawk behave the same on any input.
# shellcheck disable=SC2016  # the $ in the program are awk's, not the shell's
awk_program='
function trim(s) {
    sub(/^[ \t]+/, "", s)
    sub(/[ \t]+$/, "", s)
    return s
}

# Split one line into fld[1..n] (unquoted and trimmed); return n, or -1 for an unterminated quote.
function split_csv(line, fld,    n, i, c, len, val, inq) {
    if (index(line, "\"") == 0) {               # fast path: no quotes at all
        n = split(line, fld, ",")
        for (i = 1; i <= n; i++) fld[i] = trim(fld[i])
        return n
    }
    n = 0; val = ""; inq = 0; len = length(line)
    for (i = 1; i <= len; i++) {
        c = substr(line, i, 1)
        if (inq) {                               # inside "...": "" is a quote, " ends the field
            if (c == "\"") {
                if (substr(line, i + 1, 1) == "\"") { val = val "\""; i++ }
                else inq = 0
            } else val = val c
        } else if (c == "\"" && val ~ /^[ \t]*$/) {
            inq = 1; val = ""                    # a quote at the start of a field opens it
        } else if (c == ",") {
            fld[++n] = trim(val); val = ""
        } else val = val c                       # a quote inside a bare field is kept as is
    }
    if (inq) return -1
    fld[++n] = trim(val)
    return n
}

# Quote a field for output only when it holds a comma or a quote.
function csv_field(s) {
    if (s ~ /[,"]/) { gsub(/"/, "\"\"", s); return "\"" s "\"" }
    return s
}

function fail(msg) {
    print src ": " msg >> errors_file
    failed = 1
}

BEGIN { ncols = 0; rows = 0; ragged = 0; failed = 0 }

{
    line = $0
    if (NR == 1) sub(/^\357\273\277/, "", line)  # UTF-8 byte-order mark
    gsub(/\r+$/, "", line)                       # CRLF line endings
    if (line ~ /^[ \t]*$/) next                  # blank or whitespace-only line

    n = split_csv(line, fld)
    if (n < 0) { fail("line " NR ": unterminated quoted field (fields may not span lines)"); next }

    if (ncols == 0) {                            # the first non-blank line is the header
        ncols = n; header_line = NR; out = ""
        for (i = 1; i <= n; i++) {
            name = tolower(fld[i])
            gsub(/["\047]/, "", name)            # strip double and single quotes
            name = trim(name)
            gsub(/[ \t-]+/, "_", name)           # spaces and dashes -> one underscore
            if (name == "") fail("line " NR ": header column " i " has no name; name every column")
            else if (name in seen) fail("line " NR ": header columns " seen[name] " and " i " are both named \"" name "\" after normalising; rename one")
            else seen[name] = i
            names = names (i > 1 ? "," : "") name
            out = out (i > 1 ? "," : "") csv_field(name)
        }
        print out
        next
    }

    if (n != ncols) {                            # a ragged row: report the first few
        ragged++
        if (ragged <= 5) fail("line " NR ": " n " field" (n == 1 ? "" : "s") ", but the header (line " header_line ") has " ncols " (" names ")")
        next
    }
    out = csv_field(fld[1])
    for (i = 2; i <= n; i++) out = out "," csv_field(fld[i])
    print out
    rows++
}

END {
    if (ncols == 0) fail("no header: the file has no non-blank lines; the first line must name the columns")
    if (ragged > 5) fail((ragged - 5) " more rows have the wrong number of fields")
    print rows, ncols > stats_file
    exit failed
}'

awk_rc=0
LC_ALL=C awk -v src="$input" -v errors_file="$errors_file" -v stats_file="$stats_file" \
    "$awk_program" "$input" >"$tmp_out" || awk_rc=$?

# Report every message awk collected, then fail (exit 1: the data is invalid).
if [[ -s "$errors_file" ]]; then
    while IFS= read -r message; do
        log_error "$message"
    done <"$errors_file"
    die "$input is not a valid CSV; fix the lines above and run again ($output was not written)"
elif (( awk_rc != 0 )); then
    die "awk failed on $input (exit $awk_rc)"
fi

# ----------------------------------------------------------------------------- publish the result

mv -f "$tmp_out" "$output"
read -r rows columns <"$stats_file"
log_info "wrote $output: $rows rows, $columns columns"
json_out input "$input" output "$output" rows:num "$rows" columns:num "$columns"
