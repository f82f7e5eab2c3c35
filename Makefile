# Meridian CRM. `make run` and `make test` do all the set-up on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Development defaults; production sets these in its own environment.
export DEBUG ?= 1
export DJANGO_SETTINGS_MODULE := meridian.settings
# The owner's URL (migrations, seeding, tests) and the application role's URL (serving; row-level
# security applies to it): DATABASE_OWNER_URL / DATABASE_URL if set, else a local or embedded
# PostgreSQL found and set up by scripts/devdb.py.
DBURL = $(shell $(BIN)/python scripts/devdb.py)
APPURL = $(shell $(BIN)/python scripts/devdb.py --app)

.PHONY: install upgrade-deps run test lint format migrate seed worker beat check-deploy clean

# constraints.txt pins every package to the versions the suite last passed with, so that a new
# release (a stub package that starts to know a name, say) cannot turn a clean clone red. Refresh
# it on purpose: `make upgrade-deps` installs the newest allowed by pyproject.toml and rewrites it.
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

upgrade-deps:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
	touch $(STAMP)

migrate: install
	DATABASE_URL="$(DBURL)" $(BIN)/python manage.py migrate --noinput

seed: migrate
	DATABASE_URL="$(DBURL)" $(BIN)/python manage.py seed_demo

run: install
	@DATABASE_URL="$(DBURL)" $(BIN)/python manage.py migrate --noinput && \
	DATABASE_URL="$(DBURL)" $(BIN)/python manage.py seed_demo && \
	echo "Serving on http://127.0.0.1:8000 (Ctrl-C stops)" && \
	DATABASE_URL="$(APPURL)" $(BIN)/python manage.py runserver 127.0.0.1:8000

# The layers (import-linter, [tool.importlinter] in pyproject.toml) and no hidden upward import
# (scripts/check_local_imports.py) are checks, not prose.
# mypy checks the app code ([tool.mypy] in pyproject.toml); its Django plugin imports the settings.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python scripts/check_local_imports.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# pytest-xdist workers: `auto` is one per CPU; PYTEST_WORKERS=0 runs serially in one process.
# Each worker has its own test database, Redis database and app role (tests/workers.py).
# --durations: the 25 slowest tests are printed at the end, to keep the suite fast.
# worksteal: idle workers take queued tests from busy ones (durations range from ms to 90 s).
# Not loadgroup/loadfile/loadscope: they queue tests by node id, and schemathesis gives all its
# generated tests (tests/api/test_fuzz.py) one node id, so all but one would silently not run.
PYTEST_WORKERS ?= auto
PYTEST_DIST ?= worksteal

test: lint
	DATABASE_URL="$(DBURL)" $(BIN)/pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST) --durations=25 $(PYTEST_ARGS)

worker: install
	DATABASE_URL="$(APPURL)" $(BIN)/celery -A meridian worker --loglevel=info

beat: install
	DATABASE_URL="$(APPURL)" $(BIN)/celery -A meridian beat --loglevel=info

check-deploy: install
	DEBUG=0 SECRET_KEY=$$($(BIN)/python -c 'import secrets;print(secrets.token_urlsafe(50))') \
	ALLOWED_HOSTS=crm.example.com DATABASE_URL="$(DBURL)" \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

# --- Scale benchmark (bench/, README "Performance") ---------------------------------------------
# `make bench-data` (re)creates and fills meridian_bench (SCALE=1m|100k|10k); `make bench` serves
# it with gunicorn as in production and measures every page and endpoint of issue 9.
SCALE ?= 1m
BENCH_DB ?= meridian_bench
BENCH_ARGS ?=
.PHONY: bench-data bench

bench-data: install
	DATABASE_URL="$(DBURL)" $(BIN)/python manage.py bench_data --scale $(SCALE) \
		--database-url "$$(DATABASE_URL="$(DBURL)" $(BIN)/python -c 'from bench.dbs import bench_url; print(bench_url("$(BENCH_DB)"))')"

bench: install
	DATABASE_URL="$(DBURL)" $(BIN)/python -m bench.run \
		--database-url "$$(DATABASE_URL="$(DBURL)" $(BIN)/python -c 'from bench.dbs import bench_url; print(bench_url("$(BENCH_DB)"))')" $(BENCH_ARGS)
