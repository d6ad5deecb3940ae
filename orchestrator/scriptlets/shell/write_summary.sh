#!/usr/bin/env bash
# Description:
#   Write a human-readable Markdown summary of a test run from the context: the test's identity
#   (test_meta), the verdict of the threshold check, a table of the metrics of every column and,
#   when a histogram step ran, its bins as a text chart.
#   The file is written to a temporary name and renamed, so readers never see half a summary.
#
#   Context read:
#     metrics          required  {column: {mean, std, min, max, count}}   (scriptlet compute_metrics)
#     threshold_check  required  {passed: true|false, key, value, min, max} (scriptlet check_threshold)
#     histogram        optional  {column, edges: [N+1], counts: [N]}      (scriptlet histogram)
#     test_meta        optional  {test_id, tester, description, ...}      (the runner, from the recipe)
#   Context written:   summary_path = the --output path (a string)
#   Result (stdout):   {"output": ..., "passed": true|false, "columns": N, "histogram": true|false}
#
# Usage:
#   bash scriptlets/shell/write_summary.sh [--output FILE] [--debug]
#   bash scriptlets/shell/write_summary.sh --help
#
# Arguments:
#   --output FILE   the Markdown file to write (default Data/demo/summary.md; relative paths start
#                   from the current folder, which is the orchestrator folder under the runner).
#                   Its folder is created.
#   --debug         log debug lines on stderr (same as ORCH_DEBUG=1).
#   -h, --help      print this help and exit.
#
#   Exit codes: 0 written; 1 could not write the file; 2 a required context key is missing (the
#   message names it and the scriptlet that writes it) or has the wrong shape.
#
# Examples:
#   In a recipe, after compute_metrics and check_threshold:
#     - name: write_summary
#       type: shell
#       cmd: scriptlets/shell/write_summary.sh
#       args: {output: "Data/{{ run.id }}/summary.md"}
#       depends_on: [compute_metrics, check_threshold]
#       success: {ctx_has_keys: [summary_path]}
#
#   By hand, with a standalone context file:
#     python context.py --ctx /tmp/ctx.json set metrics '{"v": {"mean": 1, "std": 0, "min": 1, "max": 1, "count": 3}}'
#     python context.py --ctx /tmp/ctx.json set threshold_check '{"passed": true}'
#     ORCH_CTX_FILE=/tmp/ctx.json bash scriptlets/shell/write_summary.sh --output /tmp/summary.md
#
# Limitations:
#   Reads the keys named above only (a check stored under another --result-key is not shown).
#   Numbers are shown with 6 significant digits. The histogram table shows at most 50 bins.
#   JSON is parsed with the runner's python (`python` on PATH, or ORCH_PYTHON), not jq.

set -Eeuo pipefail

# Load the shared helpers (logging, die/die_usage, usage, ctx_*, json_out) from lib/ beside this script.
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
trap_errors

# ----------------------------------------------------------------------------- flags

output="Data/demo/summary.md"
while (( $# )); do
    case "$1" in
        --output) require_value "$@"; output=$2; shift 2 ;;
        --output=*) output=${1#*=}; shift ;;
        --debug) export ORCH_DEBUG=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die_unknown_arg "$1" ;;
    esac
done
require_flag --output "$output"
if [[ -d "$output" ]]; then
    die_usage "--output '$output' is a folder; give a file path such as $output/summary.md"
fi

# ----------------------------------------------------------------------------- read the context

# Each value is saved as a JSON file in a private work folder, which python reads below.
# (Files, not command-line arguments: a large histogram could exceed the argument size limit.)
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# Required keys: a missing one ends the script with exit 2, naming the step that writes it.
ctx_require metrics "the compute_metrics scriptlet (scriptlets.python.steps.compute_metrics)" \
    >"$work_dir/metrics.json"
ctx_require threshold_check "the check_threshold scriptlet (scriptlets.python.steps.check_threshold)" \
    >"$work_dir/threshold_check.json"

# Optional keys: a missing one (context.py exit 1) is fine; any other error is not.
for key in histogram test_meta; do
    rc=0
    ctx_get "$key" >"$work_dir/$key.json" 2>"$work_dir/ctx_error" || rc=$?
    if (( rc == 1 )); then
        rm -f "$work_dir/$key.json"
        log_debug "context key '$key' is not set; the summary leaves it out"
    elif (( rc != 0 )); then
        die_usage "cannot read context key '$key': $(cat "$work_dir/ctx_error")"
    fi
done
if [[ ! -f "$work_dir/test_meta.json" ]]; then
    log_warn "context key 'test_meta' is not set (the runner sets it from the recipe); the summary has no test identity"
fi

# ----------------------------------------------------------------------------- render with python

# The python program checks the shape of each value (exit 2 with a message when it is wrong),
# renders the Markdown, writes it to FILE.tmp and renames it, and prints "passed columns histogram".
render_program=$(cat <<'PY'
import json, os, sys, time

work, output, run_id = sys.argv[1:4]


def load(name):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def bad(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def cell(value):
    """One Markdown table cell: numbers to 6 significant digits, pipes and line breaks escaped."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        text = "`" + json.dumps(value, ensure_ascii=False) + "`"
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(header, rows, align=None):
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


# 1. Check the shapes: a value of the wrong shape is bad input (exit 2), named with its producer.
metrics = load("metrics")
check = load("threshold_check")
histogram = load("histogram")
meta = load("test_meta")
if not isinstance(metrics, dict) or not metrics:
    bad(f"context key 'metrics' must be a non-empty object {{column: {{mean, std, min, max, count}}}} "
        f"(written by compute_metrics), got {json.dumps(metrics)[:80]}")
for column, stats in metrics.items():
    if not isinstance(stats, dict):
        bad(f"context key 'metrics': column {column!r} must hold an object {{mean, std, min, max, count}}, "
            f"got {json.dumps(stats)[:80]}")
if not isinstance(check, dict) or not isinstance(check.get("passed"), bool):
    bad("context key 'threshold_check' must be an object with a boolean 'passed' (written by check_threshold), "
        f"got {json.dumps(check)[:80]}")
if meta is not None and not isinstance(meta, dict):
    bad(f"context key 'test_meta' must be an object {{test_id, tester, description}}, got {json.dumps(meta)[:80]}")
meta = meta or {}

# 2. The title, the verdict and the test's identity.
verdict = "PASSED" if check["passed"] else "FAILED"
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
lines = [f"# Test summary: {meta.get('test_id', '(no test id)')}", "", f"**Verdict: {verdict}**", ""]
identity = [("Test ID", meta.get("test_id")), ("Tester", meta.get("tester")),
            ("Description", meta.get("description"))]
identity += [(key, value) for key, value in meta.items() if key not in ("test_id", "tester", "description")]
identity += [("Run", run_id or "(outside a run)"), ("Written", now)]
lines += ["## Test", ""] + table(["Field", "Value"], identity) + [""]

# 3. The threshold check: every field it recorded.
lines += ["## Threshold check", ""]
lines += table(["Field", "Value"], [(key, value) for key, value in check.items()]) + [""]

# 4. The metrics: one row per column; extra statistics get columns after the usual five.
standard = ["count", "mean", "std", "min", "max"]
extra = []
for stats in metrics.values():
    extra += [key for key in stats if key not in standard and key not in extra]
header = ["Column"] + standard + extra
rows = [[column] + [stats.get(key) for key in standard + extra] for column, stats in metrics.items()]
lines += ["## Metrics", ""] + table(header, rows, ["---"] + ["--:"] * (len(header) - 1)) + [""]

# 5. The histogram, when there is one: a bar per bin, scaled to the largest count.
if isinstance(histogram, dict) and isinstance(histogram.get("counts"), list) and isinstance(histogram.get("edges"), list):
    counts, edges = histogram["counts"][:50], histogram["edges"]
    peak = max(counts + [1])
    lines += [f"## Histogram of {histogram.get('column', '?')}", "", "```"]
    for i, count in enumerate(counts):
        low, high = (edges[i], edges[i + 1]) if i + 1 < len(edges) else (None, None)
        bar = "#" * round(count / peak * 40)
        lines.append(f"{cell(low):>11} .. {cell(high):>11} {count:>7}  {bar}".rstrip())
    lines += ["```", ""]
elif histogram is not None:
    lines += ["## Histogram", "", "```json", json.dumps(histogram, indent=2, ensure_ascii=False), "```", ""]

# 6. Write atomically: a temporary file beside the output, then a rename.
tmp = f"{output}.tmp.{os.getpid()}"
try:
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.replace(tmp, output)
except OSError as exc:
    print(f"--output {output}: cannot write it ({exc.strerror or exc})", file=sys.stderr)
    sys.exit(1)
print("true" if check["passed"] else "false", len(metrics), "true" if histogram is not None else "false")
PY
)

# Create the output folder (a path we cannot create is a bad --output: exit 2).
out_dir="$(dirname "$output")"
if ! mkdir -p "$out_dir" 2>/dev/null; then
    die_usage "--output '$output': cannot create the folder '$out_dir'; check the path and permissions"
fi

# Run it; its exit code says whose fault a failure is: 2 bad context values, 1 writing failed.
py="$(orch_python)"
rc=0
result=$("$py" -c "$render_program" "$work_dir" "$output" "${ORCH_RUN_ID:-}" 2>"$work_dir/py_error") || rc=$?
if (( rc == 2 )); then
    die_usage "$(cat "$work_dir/py_error")"
elif (( rc != 0 )); then
    die "could not write the summary: $(cat "$work_dir/py_error")"
fi
read -r passed columns has_histogram <<<"$result"

# ----------------------------------------------------------------------------- publish the result

ctx_set_string summary_path "$output"
log_info "wrote $output (verdict: $([[ $passed == true ]] && echo PASSED || echo FAILED), $columns columns)"
json_out output "$output" passed:bool "$passed" columns:num "$columns" histogram:bool "$has_histogram"
