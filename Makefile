# SocialFlow: `make run` to use it, `make test` to check it. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
BIND ?= 127.0.0.1
# The media server calls the web tier's hooks.
MEDIA_HOOK_BASE_URL ?= http://127.0.0.1:$(PORT)
# Runtime files of `make run` (pid files, nginx-rtmp's prefix, beat's schedule).
SOCIALFLOW_VAR ?= $(CURDIR)/var
export PORT BIND MEDIA_HOOK_BASE_URL SOCIALFLOW_VAR

.PHONY: run test test-fast test-faults test-fuzz lint lint-only migrations-check vendor setup-run setup-test clean

setup-run:
	@scripts/setup.sh apt-run venv redis envfile

setup-test:
	@scripts/setup.sh apt-test venv redis postgres

run: setup-run
	@mkdir -p $(SOCIALFLOW_VAR)
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py seed_demo
	@echo
	@echo "SocialFlow is starting (Ctrl-C stops every process):"
	@echo "  Site        http://$(BIND):$(PORT)/"
	@echo "  Admin       http://$(BIND):$(PORT)/admin/"
	@echo "  API docs    http://$(BIND):$(PORT)/api/docs/   (schema: /api/schema/)"
	@if [ "$(BIND)" != "127.0.0.1" ]; then echo "  WARNING: listening on $(BIND) with DEBUG on."; fi
	@echo
	@$(VENV)/bin/supervisord -c deploy/supervisord.conf

# Everything: lint, then the whole suite (end-to-end and browser tests included). CI runs this.
# Without PYTEST_ARGS the end-to-end tests and the others run side by side (scripts/test.sh).
test: setup-test lint-only
	@if [ -z "$(PYTEST_ARGS)" ]; then scripts/test.sh; else $(VENV)/bin/pytest $(PYTEST_ARGS); fi

# The edit loop: no end-to-end or browser tests (those start Daphne, Celery, nginx, FFmpeg, Chromium).
test-fast: setup-test
	@$(VENV)/bin/pytest -m "not e2e" $(PYTEST_ARGS)

# The fault suite alone: Redis, PostgreSQL, FFmpeg, workers and web processes killed or cut
# off under load, hooks replayed and reordered (also part of `make test`).
test-faults: setup-test
	@$(VENV)/bin/pytest -m faults $(PYTEST_ARGS)

# The API fuzzed against its OpenAPI schema (schemathesis, about 5 min; also part of `make test`).
test-fuzz: setup-test
	@$(VENV)/bin/pytest -m fuzz $(PYTEST_ARGS)

lint: setup-run lint-only

lint-only:
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check --quiet . || { echo "ruff format would change the files above: run .venv/bin/ruff format ."; exit 1; }
	@$(VENV)/bin/mypy

migrations-check: setup-run
	@$(PY) manage.py makemigrations --check --dry-run

# Refresh the vendored front-end libraries from the npm registry (versions in package.json).
vendor:
	npm install --no-audit --no-fund
	mkdir -p static/vendor/htmx static/vendor/hls.js static/vendor/uplot
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE static/vendor/htmx/
	cp node_modules/hls.js/dist/hls.min.js node_modules/hls.js/LICENSE static/vendor/hls.js/
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE static/vendor/uplot/

clean:
	rm -rf var staticfiles .pytest_cache
