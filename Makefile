# One entry point for people and CI: `make run`, `make test`, `make bench`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
# The Lambda runtime is python3.13: use it when the machine has it (pyenv included), else python3.
PYTHON ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then \
	command -v $$p; break; fi; done)
STAMP := $(VENV)/.installed

.PHONY: help run test lint typecheck unit bench clean tools template-check cfn-lint sam-validate \
	checkov sam-build build browser tracker tracker-test console console-test console-assets

# Template checks and `sam build` use tools pinned in .ci/tools/<tool>.txt, each in its own venv
# under .tools/ (the SAM CLI and checkov pin boto3 and friends against each other and the project).
TOOLS := .tools
find-python = $(shell for p in python$(1) $$HOME/.pyenv/versions/$(1)*/bin/python$(1); do \
	if command -v $$p >/dev/null 2>&1 && $$p -c pass >/dev/null 2>&1; then command -v $$p; break; fi; done)
# The Lambda runtime's Python: sam build needs `python3.13` on PATH, the packaging test runs it.
PYTHON313 := $(call find-python,3.13)
PYTHON312 := $(call find-python,3.12)
SAM_PYTHON ?= $(or $(PYTHON313),$(PYTHON312),python3)
CHECKOV_PYTHON ?= $(or $(PYTHON312),$(PYTHON313),python3)
# uv installs the tools (and the check build's layer) in seconds where pip takes minutes.
UV_VERSION := 0.13.8
UV := $(TOOLS)/uv/bin/uv
SAM := $(TOOLS)/sam/bin/sam
CFN_LINT := $(TOOLS)/cfn-lint/bin/cfn-lint
CHECKOV := $(TOOLS)/checkov/bin/checkov
# No call reaches AWS: the tools only want a region and credentials to exist.
AWS_FAKE := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing \
	AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing SAM_CLI_TELEMETRY=0
# `make test` builds the layer for this machine's architecture (its compiled wheels must
# import in the packaging test) into .aws-sam/check; `make build` builds the deployable arm64
# artifact into .aws-sam/build.
CHECK_BUILD_DIR := .aws-sam/check
CHECK_LAYER_ARCH := $(shell uname -m | sed s/arm64/aarch64/)

help:
	@echo "make run    start the local stack (Ctrl-C to stop)"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  print the performance figures"
	@echo "make build  sam build the deployable artifact (then: $(SAM) deploy --guided)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,analysis]'
	touch $(STAMP)

install: $(STAMP)

# The website tracking snippet (web/tracker, TypeScript): `npm ci` when the lockfile changes,
# esbuild when the sources change, into the file GET /v1/t.js serves (gitignored).
TRACKER := web/tracker
TRACKER_JS := shared/leadscore/api/static/t.js
TRACKER_STAMP := $(TRACKER)/node_modules/.installed

$(TRACKER_STAMP): $(TRACKER)/package.json $(TRACKER)/package-lock.json
	cd $(TRACKER) && npm ci --no-audit --no-fund
	touch $@

$(TRACKER_JS): $(TRACKER_STAMP) $(TRACKER)/build.mjs $(TRACKER)/tsconfig.json \
		$(wildcard $(TRACKER)/src/*.ts)
	cd $(TRACKER) && npm run --silent build

tracker: $(TRACKER_JS)

# The snippet's own tests (node --test in happy-dom), its type check and its size budget.
tracker-test: $(TRACKER_JS)
	cd $(TRACKER) && npm test --silent

# The console (web/console, TypeScript and Preact): `npm ci` when the lockfile changes, esbuild
# when the sources change, into web/console/dist (gitignored), served at /console/.
CONSOLE := web/console
CONSOLE_HTML := $(CONSOLE)/dist/index.html
CONSOLE_STAMP := $(CONSOLE)/node_modules/.installed

$(CONSOLE_STAMP): $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	cd $(CONSOLE) && npm ci --no-audit --no-fund
	touch $@

$(CONSOLE_HTML): $(CONSOLE_STAMP) $(CONSOLE)/build.mjs $(CONSOLE)/sizes.mjs $(CONSOLE)/tsconfig.json \
		$(shell find $(CONSOLE)/src -type f 2>/dev/null)
	cd $(CONSOLE) && npm run --silent build

console: $(CONSOLE_HTML)

# The console's unit tests (node --test in happy-dom), its type check and its size budget.
console-test: $(CONSOLE_HTML)
	cd $(CONSOLE) && npm test --silent

# The deployed console: its build, copied into the package of the function that puts it in
# the console bucket on deploy (functions/console_assets/site, gitignored), before sam build.
CONSOLE_ASSETS := functions/console_assets/site
console-assets: console
	rm -rf $(CONSOLE_ASSETS)
	cp -R $(CONSOLE)/dist $(CONSOLE_ASSETS)

# The local stack: moto, the API, the queue poller and the schedules, in the foreground.
run: $(STAMP) tracker console
	$(BIN)/leadscore local

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser tracker console
	$(BIN)/pytest -n 2 --dist loadscope

# The browser tests (tests/browser) drive Debian's Chromium through its chromedriver; no
# browser is downloaded from anywhere else.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		set -x; $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	fi

# Cheapest and most likely to fail first; sam build before pytest, which tests its artifacts.
test: lint typecheck template-check tracker-test console-test sam-build unit

$(UV):
	$(SAM_PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(TOOLS)/%/.installed: .ci/tools/%.txt | $(UV)
	rm -rf $(TOOLS)/$*
	UV_PYTHON_DOWNLOADS=never $(UV) venv --quiet \
		--python $(if $(filter checkov,$*),$(CHECKOV_PYTHON),$(SAM_PYTHON)) $(TOOLS)/$*
	$(UV) pip install --quiet --python $(TOOLS)/$*/bin/python --requirement $<
	touch $@

tools: $(UV)
	@$(MAKE) --no-print-directory -j3 $(TOOLS)/sam/.installed $(TOOLS)/cfn-lint/.installed \
		$(TOOLS)/checkov/.installed

template-check: tools
	@$(MAKE) --no-print-directory -j3 --output-sync=target cfn-lint sam-validate checkov

cfn-lint:
	$(CFN_LINT) template.yaml

sam-validate:
	$(AWS_FAKE) $(SAM) validate --lint --template-file template.yaml

# Skips are justified where they are made, in the resources' Metadata.
checkov:
	$(CHECKOV) --file template.yaml --framework cloudformation --quiet --compact --skip-download

sam-build: tools tracker console-assets
	@if [ -z "$(PYTHON313)" ]; then \
		echo "sam build skipped: python3.13 (the Lambda runtime) is not on this machine"; \
	else \
		set -x; PATH="$(dir $(PYTHON313)):$$PATH" LAYER_ARCH=$(CHECK_LAYER_ARCH) UV=$(abspath $(UV)) \
		$(AWS_FAKE) $(SAM) build --template-file template.yaml --build-dir $(CHECK_BUILD_DIR) \
			--cached --cache-dir .aws-sam/check-cache; \
	fi

# The deployable artifact (arm64), for `sam deploy`.
build: tools tracker console-assets
	PATH="$(dir $(PYTHON313)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM) build --template-file template.yaml

# Figures, printed (never asserted): engine, pipeline, API, decay, imports, local stack, rescore.
# The rescore bench defaults to 10,000 leads (about 20 minutes on 2 cores); BENCH_RESCORE_LEADS
# makes it shorter.
BENCH_RESCORE_LEADS ?= 10000
# The lists bench: 10,000 leads take about 2 minutes in moto (whose Query sorts the whole
# table: the issue's 100,000 take about 10); BENCH_LIST_LEADS=100000 for that figure.
BENCH_LIST_LEADS ?= 10000
bench: $(STAMP)
	$(BIN)/python tests/bench/bench_engine.py --floor
	$(BIN)/python -m tests.bench.bench_pipeline
	$(BIN)/python -m tests.bench.bench_api
	$(BIN)/python -m tests.bench.bench_decay
	$(BIN)/python -m tests.bench.bench_imports
	$(BIN)/python -m tests.bench.bench_local
	$(BIN)/python -m tests.bench.bench_rescore --leads $(BENCH_RESCORE_LEADS)
	$(BIN)/python -m tests.bench.bench_lists --leads $(BENCH_LIST_LEADS)
	$(BIN)/python -m tests.bench.bench_tracking
	$(BIN)/python -m tests.bench.bench_machine
	$(BIN)/python -m tests.bench.bench_console

clean:
	rm -rf $(VENV) .aws-sam .tools .pytest_cache .mypy_cache .ruff_cache \
		$(TRACKER)/node_modules $(TRACKER_JS) $(CONSOLE)/node_modules $(CONSOLE)/dist $(CONSOLE_ASSETS)
