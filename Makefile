# AgentLedger: `make run` starts the app, `make test` runs the whole suite. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench-ingest demo screenshots

# A virtualenv without its interpreter (copied or half-deleted) is rebuilt rather than trusted.
install:
	@test -x $(BIN)/python || rm -rf $(VENV)
	@$(MAKE) --no-print-directory $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

# A secret key is generated once under var/ unless SECRET_KEY or SECRET_KEY_FILE is set.
run: install
	@mkdir -p var
	@test -s var/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	@chmod 600 var/secret_key
	SECRET_KEY_FILE=$${SECRET_KEY_FILE:-var/secret_key} $(BIN)/python manage.py serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint-only $(BIN)/mypy config ingest dashboard budgets scores
	SECRET_KEY=lint-only DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# A week of sample multi-agent traffic in a "Demo" project (sent through the OTLP endpoint of an
# app served for the occasion), on the database `make run` uses. DEMO_ARGS="--days 3" etc.
demo: install
	@mkdir -p var
	@test -s var/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	@chmod 600 var/secret_key
	SECRET_KEY_FILE=$${SECRET_KEY_FILE:-var/secret_key} $(BIN)/python manage.py migrate --verbosity 0
	SECRET_KEY_FILE=$${SECRET_KEY_FILE:-var/secret_key} $(BIN)/python manage.py seed_demo $(DEMO_ARGS)

# README screenshots (docs/screenshots/*.png) from demo data in a throwaway database, with Chromium.
screenshots: install
	$(BIN)/python docs/screenshots.py
