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

.PHONY: help run test lint typecheck unit bench clean

help:
	@echo "make run    start the local stack (Ctrl-C to stop)"
	@echo "make test   lint, type-check and run every test"
	@echo "make bench  print the performance figures"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,analysis]'
	touch $(STAMP)

install: $(STAMP)

# The local stack (moto + API + queue poller) is not built yet: until it is, `make run`
# says so and scores the README's example lead offline through the real engine.
run: $(STAMP)
	@echo "The local stack is not available yet; scoring the example lead offline instead:"
	$(BIN)/leadscore score --model models/default.yaml --lead tests/fixtures/lead.json \
		--events tests/fixtures/events.json --at 2026-11-01T12:00:00Z

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python tests/bench/bench_engine.py
	$(BIN)/python tests/bench/bench_pipeline.py
	$(BIN)/python -m tests.bench.bench_api

clean:
	rm -rf $(VENV) .aws-sam .tools .pytest_cache .mypy_cache .ruff_cache
