# mcpwall developer entry points. Every target installs what it needs into .venv first,
# so a fresh clone needs nothing but Python >= 3.11 and make.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: install dev demo test lint format bench conformance clean vendor browser manifests

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install dev: $(STAMP)

# What `mcpwall demo` needs and no more: mcpwall with the MCP SDK (the demo extra).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

# The crashloop story through the gateway, end to end; `make demo DEMO_ARGS=--keep` leaves it
# running for your own agent.
demo: $(DEMO_STAMP)
	$(BIN)/mcpwall demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Debian's chromium, which the dashboard's browser tests drive through Playwright (it never
# downloads a browser of its own). The target is the file itself: a no-op once it exists.
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o DPkg::Lock::Timeout=600 --no-install-recommends chromium

browser: $(CHROMIUM)

test: lint $(CHROMIUM)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# The dashboard's front-end files (htmx and its SSE extension) from the npm registry, each
# tarball checked against the registry's integrity, and recorded in vendor.lock.json. The
# versions are pinned in tools/vendor_assets.py. Needs npm; running it again changes nothing.
vendor:
	$(PYTHON) tools/vendor_assets.py

bench: $(STAMP)
	$(BIN)/python bench/decision.py
	$(BIN)/python bench/jsonrpc_decode.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/side_by_side.py
	$(BIN)/python bench/relay.py
	$(BIN)/python bench/limits.py
	$(BIN)/python bench/limited.py
	$(BIN)/python bench/proxylog.py
	$(BIN)/python bench/tail.py
	$(BIN)/python bench/replicas.py
	$(BIN)/python bench/stdio_start.py
	$(BIN)/python bench/stdio_start.py --together 3
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/scale_log.py

# The Helm chart rendered as plain manifests: the example installs (deploy/examples/manifests/)
# and the golden render of each values profile in charts/mcpwall/ci (tests/deploy/golden/), rendered
# offline by Helm's own engine; a test insists they are byte for byte up to date.
manifests: $(STAMP)
	$(BIN)/python tools/render_chart.py

conformance: $(STAMP)
	$(BIN)/python bench/conformance.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
