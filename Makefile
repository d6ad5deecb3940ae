# make run   - set up and run the demo recipe
# make test  - set up and run every test (pytest and bats)
# make monitor - the web monitor on 127.0.0.1:8050
# make bench - compare the runner with xargs/bash doing the same work
# make schema - regenerate the recipe JSON Schema and its quick check from the pydantic models
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# command:debian-package pairs the project needs on the machine
SYSTEM_PACKAGES := dot:graphviz bats:bats hyperfine:hyperfine chromium:chromium chromedriver:chromium-driver

.PHONY: setup bytecode system-packages run monitor test test-py test-bats lint schema bench clean

setup: $(STAMP)

$(STAMP): requirements.txt
	@python3 -c 'import venv, ensurepip' 2>/dev/null || $(MAKE) --no-print-directory system-packages EXTRA=python3-venv
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 | grep -v 'is ignored' || true
	$(PY) -c 'import yaml, psutil, rich, pydantic, pytest'  # fail here, not later, if the install failed
	touch $(STAMP)

# Byte-compile the orchestrator: every step start imports from it, and some machines set
# PYTHONDONTWRITEBYTECODE, which would make every process compile it again.
bytecode: setup
	@env -u PYTHONDONTWRITEBYTECODE $(PY) -m compileall -q orchestrator >/dev/null

# Install missing system programs with apt-get when root; otherwise say exactly what to install.
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; missing="$$missing $(EXTRA)"; \
	  missing=$$(echo $$missing); \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      echo "installing system packages: $$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "missing system packages; run: sudo apt-get install -y $$missing"; exit 1; fi; fi

run: setup bytecode
	cd orchestrator && ../$(PY) runner.py --recipe recipes/demo.yaml

# The web monitor on http://127.0.0.1:8050 (set ORCH_MONITOR_USER/ORCH_MONITOR_PASSWORD to require a login)
monitor: setup bytecode
	cd orchestrator && ../$(PY) -m scriptlets.python.apps.monitor

test: setup bytecode system-packages test-py test-bats

test-py:
	$(PY) -m pytest

test-bats:
	bats --print-output-on-failure tests/bats

# Style, types, and the scriptlets' documentation contract
lint: setup
	$(VENV)/bin/ruff check orchestrator tests
	$(VENV)/bin/mypy orchestrator/engine orchestrator/context.py orchestrator/runner.py orchestrator/helpformat.py \
		orchestrator/scriptlets/python/core orchestrator/reports orchestrator/scriptlets/python/apps
	$(PY) orchestrator/tools/scriptlets.py check
	$(PY) orchestrator/tools/scriptlets.py docs --check
	cd orchestrator && ../$(PY) -m engine.recipe_schema --check

# docs/recipe.schema.json (for editors) and orchestrator/engine/recipe_check.py (the runner's quick check of a
# recipe), both derived from orchestrator/engine/recipe_schema.py; a test fails while they are stale
schema: setup
	cd orchestrator && ../$(PY) -m engine.recipe_schema

bench: setup bytecode system-packages
	$(PY) tests/bench/bench.py

clean:
	rm -rf orchestrator/Data/* orchestrator/Logs/* orchestrator/Assets/* tests/artifacts
