# Shared setup for the bats tests of the shell scriptlets. Load it with `load helpers`.
#
# Paths come from this file's location, so the tests run from any folder and on a fresh clone.
# Python: ORCH_PYTHON when set, else the repository's .venv; its bin folder goes first on PATH,
# because the scriptlets call `python` like they do under the runner.

# shellcheck disable=SC2034  # LIB and TS_RE are used by the .bats files
REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
ORCH="$REPO/orchestrator"
SHELL_DIR="$ORCH/scriptlets/shell"
LIB="$SHELL_DIR/lib/common.sh"

common_setup() {
    export ORCH_PYTHON="${ORCH_PYTHON:-$REPO/.venv/bin/python}"
    if [[ "$ORCH_PYTHON" == */* ]]; then
        if [[ ! -x "$ORCH_PYTHON" ]]; then
            echo "no python at $ORCH_PYTHON: create the venv at $REPO/.venv or set ORCH_PYTHON" >&2
            return 1
        fi
        PATH="$(dirname "$ORCH_PYTHON"):$PATH"
        export PATH
    fi

    # Run as if by hand, not inside a run, even when bats itself runs as a step of the orchestrator:
    # the context is a per-test JSON file, and nothing of an outer run leaks in.
    unset ORCH_CTX_DB ORCH_CTX_SEQ ORCH_CTX_JOURNAL ORCH_RUN_ID ORCH_STEP ORCH_ATTEMPT ORCH_DEBUG \
        ORCH_HOME ORCH_WORKDIR ORCH_SCRIPT_NAME _ORCH_COMMON_SH_LOADED
    export ORCH_CTX_FILE="$BATS_TEST_TMPDIR/ctx.json"

    # Relative paths (such as default outputs) land in the test's own folder, never in the repo.
    cd "$BATS_TEST_TMPDIR" || return 1
}

# ctx ARGS...: the context CLI on the test's context file.
ctx() {
    "$ORCH_PYTHON" "$ORCH/context.py" "$@"
}

# json_get JSON EXPR: evaluate a python expression on the parsed JSON `d` and print the result,
# e.g. `json_get "$output" 'd["rows"]'`.
json_get() {
    "$ORCH_PYTHON" -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# A log line: `2026-11-21T23:13:59Z LEVEL name: message`.
TS_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
