# OCS GE collaborative review platform — set-up, demo, tests, benchmarks.
# `make demo` and `make test` install everything they need on a fresh Debian machine.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DB_NAME ?= ocsge
PGHOST ?= 127.0.0.1
PGUSER ?= postgres
export DATABASE_URL ?= postgis://$(PGUSER)@$(PGHOST):5432/$(DB_NAME)
APT_PACKAGES := postgresql-15-postgis-3 gdal-bin libgdal-dev chromium docker-compose nodejs gettext
STYLE_SPEC := 26.6.0
AXE_CORE := 4.14.1
NODE_TOOLS := $(VENV)/node/.installed-$(STYLE_SPEC)-$(AXE_CORE)
DEMO_DIR := var/data/demo
DEMO_SIZE_KM ?= 16
DEMO_SEED ?= 42
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: fuzz help install system-packages venv node-tools messages messages-extract db demo demo-data serve test lint format bench clean worker beat vendor backup restore

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'

install: system-packages venv node-tools messages db ## Install system packages, the virtualenv, MapLibre's style validator and the database

system-packages: ## apt-get install PostGIS, GDAL, Chromium and docker-compose (validates docker-compose.yml) when missing
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "System packages present."; fi

venv: $(STAMP) ## Create .venv and install the project with its dev extras

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip setuptools wheel
	$(PIP) install -q -e '.[dev]'
	@touch $(STAMP)

node-tools: $(NODE_TOOLS) ## Install the tests' browser-side tools under .venv/node: MapLibre's style validator, axe-core (accessibility)

$(NODE_TOOLS): | venv
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq npm; }
	npm install --prefix $(VENV)/node --no-audit --no-fund --loglevel=error \
	  @maplibre/maplibre-gl-style-spec@$(STYLE_SPEC) axe-core@$(AXE_CORE)
	@touch $@

messages: ## Compile the interface's catalogues: English, and French (its msgstr taken from the msgid: French is the source; its plural rule counts 0 as singular)
	msgattrib --clear-fuzzy --empty locale/fr/LC_MESSAGES/django.po | msgen - | msgfmt --check -o locale/fr/LC_MESSAGES/django.mo -
	msgfmt --check -o locale/en/LC_MESSAGES/django.mo locale/en/LC_MESSAGES/django.po

messages-extract: venv ## Refresh locale/*/django.po from the code and templates (then translate the new English entries)
	$(PY) manage.py makemessages -l en -l fr --no-obsolete --ignore=.venv --ignore=var --ignore=tests --ignore=benchmarks

db: ## Start PostgreSQL if down, create the database with PostGIS, migrate
	@pg_isready -h $(PGHOST) -q || pg_ctlcluster --skip-systemctl-redirect 15 main start
	@for i in $$(seq 1 30); do pg_isready -h $(PGHOST) -q && break; sleep 1; done
	@psql -h $(PGHOST) -U $(PGUSER) -tAc "SELECT 1 FROM pg_database WHERE datname='$(DB_NAME)'" | grep -q 1 \
	  || psql -h $(PGHOST) -U $(PGUSER) -qc "CREATE DATABASE $(DB_NAME)"
	@psql -h $(PGHOST) -U $(PGUSER) -d $(DB_NAME) -qc "CREATE EXTENSION IF NOT EXISTS postgis" 2>&1 | grep -v NOTICE || true
	@psql -h $(PGHOST) -U $(PGUSER) -d template1 -qc "CREATE EXTENSION IF NOT EXISTS postgis" 2>&1 | grep -v NOTICE || true
	$(PY) manage.py migrate --noinput -v 0

demo-data: install ## Generate and import the demo département (skipped when already loaded)
	$(PY) manage.py load_demo --dir $(DEMO_DIR) --size-km $(DEMO_SIZE_KM) --seed $(DEMO_SEED)

demo: demo-data ## Install, load the demo département and serve on http://127.0.0.1:8000
	$(PY) manage.py runserver 127.0.0.1:8000

serve: ## Serve the app (no set-up)
	$(PY) manage.py runserver 127.0.0.1:8000

worker: ## Run a Celery worker on the default queue (needs REDIS_URL)
	$(VENV)/bin/celery -A ocsge_web worker -Q default -l info

backup: install ## Back up the database (pg_dump) and the media folder into var/backups/
	$(PY) manage.py backup --dir var/backups

restore: install ## Restore a backup: make restore DUMP=var/backups/ocsge-….dump MEDIA=var/backups/media-….tar.gz
	@test -n "$(DUMP)" || { echo "DUMP=path/to/ocsge-….dump is required"; exit 2; }
	$(PY) manage.py restore $(DUMP) $(if $(MEDIA),--media $(MEDIA),)

beat: ## Run Celery beat: loops by their dates, reminders, digest, outbox (needs REDIS_URL)
	$(VENV)/bin/celery -A ocsge_web beat -l info --schedule var/celerybeat-schedule

test: install ## Install, then run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -m "not bench" --durations=20 $(PYTEST_ARGS)

fuzz: install ## Fuzz the API from its OpenAPI schema as every role (100 examples per operation)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(VENV)/bin/pytest tests/test_fuzz_api.py $(PYTEST_ARGS)

lint: venv ## ruff check and format check, and the layers of the apps (import-linter)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports

format: venv ## Format the code with ruff
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: install ## Run the benchmarks and write docs/benchmarks.md
	$(PY) -m benchmarks.run $(BENCH_ARGS)

VECTORGRID := 1.3.0
PMTILES_JS := 4.5.0
vendor: ## Fetch the pinned front-end libraries from npm into static/vendor/ (committed)
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack -q leaflet.vectorgrid@$(VECTORGRID) pmtiles@$(PMTILES_JS) >/dev/null \
	  && mkdir vg pm && tar xzf leaflet.vectorgrid-$(VECTORGRID).tgz -C vg && tar xzf pmtiles-$(PMTILES_JS).tgz -C pm \
	  && cp vg/package/dist/Leaflet.VectorGrid.bundled.min.js $(CURDIR)/static/vendor/leaflet.vectorgrid-$(VECTORGRID)/ \
	  && cp pm/package/dist/pmtiles.js $(CURDIR)/static/vendor/pmtiles-$(PMTILES_JS)/ \
	  && echo "Leaflet.VectorGrid $(VECTORGRID), pmtiles $(PMTILES_JS) in static/vendor/" ; rm -rf $$tmp

clean: ## Remove generated data (not the database)
	rm -rf var/data var/media
