# revops: `make run` serves the demo, `make test` runs the suite. Everything else is optional.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: install run test bench lint format worker beat check-system lock migrate seed clean

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "revops needs Python 3.11 ($(PYTHON)) on PATH; set PYTHON=..."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

check-system: install
	@$(BIN)/python -c "import weasyprint" 2>/dev/null || { \
	  echo "WeasyPrint cannot load Pango. Install it: apt-get install libpango-1.0-0 libpangoft2-1.0-0"; exit 1; }

migrate: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo --if-empty

run: check-system seed
	$(BIN)/python manage.py demo_logins --url http://$(HOST):$(PORT)/
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: install
	$(BIN)/celery -A revops worker -l info --concurrency=2

beat: install
	$(BIN)/celery -A revops beat -l info

# Regenerate the pinned requirements.txt from pyproject's direct dependencies.
lock:
	rm -rf /tmp/revops-lock && $(PYTHON) -m venv /tmp/revops-lock
	/tmp/revops-lock/bin/pip install -q --upgrade pip
	/tmp/revops-lock/bin/pip install -q -e '.[dev]'
	/tmp/revops-lock/bin/pip freeze --exclude-editable | grep -v '^revops' > requirements.txt

clean:
	rm -rf $(VENV) var
