# AgentLedger: `make run` starts the app, `make test` runs the whole suite. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The span normalizer, compiled to C by mypyc (see ingest/native.py).
NATIVE_SOURCES := $(sort $(wildcard ingest/conventions/*.py)) ingest/storable.py
NATIVE_STAMP := build/native.stamp
# Node.js exporters the intake tests run (OpenTelemetry JS on a Node 22 from the npm registry).
NODE_STAMP := tests/node/node_modules/.installed

.PHONY: install run test lint bench-ingest demo screenshots

# A virtualenv without its interpreter (copied or half-deleted) is rebuilt rather than trusted.
install:
	@test -x $(BIN)/python || rm -rf $(VENV)
	@$(MAKE) --no-print-directory $(STAMP) $(NATIVE_STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

# Compiled, intake commits about a fifth more spans per second. Without a C compiler and Python's headers
# the normalizer stays plain Python (same results). The old build goes first: the app refuses
# to start on compiled code that no longer matches its source (ingest/native.py).
$(NATIVE_STAMP): $(STAMP) $(NATIVE_SOURCES) Makefile
	@mkdir -p build
	@rm -f ingest/conventions/*.so ingest/*.so *__mypyc.*.so
	@if SECRET_KEY=build-only $(BIN)/mypyc $(NATIVE_SOURCES) >build/native.log 2>&1 \
	    && $(BIN)/python -m ingest.native record; \
	then echo "compiled the span normalizer with mypyc"; \
	else rm -f ingest/conventions/*.so ingest/*.so *__mypyc.*.so; \
	echo "could not compile the span normalizer (build/native.log): it runs as plain Python"; fi
	@touch $@

# Without npm the Node.js intake tests are skipped (CI requires them: AGENTLEDGER_REQUIRE_NODE).
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Node.js exporter tests will be skipped"; fi

# A secret key is generated once into var/secret_key (under AGENTLEDGER_VAR_DIR when that is set);
# SECRET_KEY or SECRET_KEY_FILE override it. manage.py commands typed beside `make run` read the
# same file (config/settings.py), so they need no variable of their own.
VAR_DIR := $(or $(AGENTLEDGER_VAR_DIR),var)
KEY_FILE := $(VAR_DIR)/secret_key

run: install
	@mkdir -p $(VAR_DIR)
	@test -s $(KEY_FILE) || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $(KEY_FILE)
	@chmod 600 $(KEY_FILE)
	SECRET_KEY_FILE=$${SECRET_KEY_FILE:-$(KEY_FILE)} $(BIN)/python manage.py serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint-only $(BIN)/mypy config tenancy pricing ingest aggregates dashboard budgets scores demo
	SECRET_KEY=lint-only DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# A week of sample multi-agent traffic in a "Demo" project (sent through the OTLP endpoint of an
# app served for the occasion), on the database `make run` uses. DEMO_ARGS="--days 3" etc.
demo: install
	@mkdir -p $(VAR_DIR)
	@test -s $(KEY_FILE) || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $(KEY_FILE)
	@chmod 600 $(KEY_FILE)
	SECRET_KEY_FILE=$${SECRET_KEY_FILE:-$(KEY_FILE)} $(BIN)/python manage.py migrate --verbosity 0
	SECRET_KEY_FILE=$${SECRET_KEY_FILE:-$(KEY_FILE)} $(BIN)/python manage.py seed_demo $(DEMO_ARGS)

# README screenshots (docs/screenshots/*.png) from demo data in a throwaway database, with Chromium.
screenshots: install
	$(BIN)/python docs/screenshots.py
