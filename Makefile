# pg_migrate — the two commands of the quick start are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)
# pytest workers (pytest-xdist): most tests wait on Ansible and PostgreSQL, so two use both cores.
PYTEST_WORKERS ?= 2

.PHONY: help venv lint lint-python lint-yaml lint-sql lint-ansible collection-checks test pytest molecule demo demo-clean fleet-demo

help:
	@echo "make demo        run the change set against a disposable local PostgreSQL (.local/pg)"
	@echo "make test        lint everything, check the collection and run the whole test suite against real PostgreSQL"
	@echo "make lint        ruff, yamllint, squawk and ansible-lint only"
	@echo "make collection-checks  the collection as Galaxy imports it (galaxy-importer) and ansible-test sanity, offline"
	@echo "make pytest      the pytest suite only"
	@echo "make molecule    the Molecule scenarios that need a container (SCENARIOS='default:17 failure' for some)"
	@echo "make fleet-demo  roll the change out to N databases of the local PostgreSQL in waves (N=50)"
	@echo "make demo-clean  stop and remove the local PostgreSQL"

# The pinned environment; rebuilt when requirements.txt changes.
$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

lint-python: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-yaml: venv
	$(BIN)/yamllint --strict .

lint-sql: venv
	$(BIN)/python tools/squawk_changeset.py

lint-ansible: venv
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint

lint: lint-python lint-yaml lint-sql lint-ansible

# The collection as Galaxy would import it (galaxy-importer on the built tarball) and ansible-test sanity, both
# offline; each prints how long it took (sanity's first run on a machine builds its virtual environments in
# ~/.cache/pg_migrate-sanity: about 2 minutes, then under one, also in a fresh clone).
collection-checks: venv
	@t=$$SECONDS; tools/galaxy_importer.sh && echo "galaxy-importer: passed in $$((SECONDS - t)) s"
	@t=$$SECONDS; tools/sanity.sh && echo "ansible-test sanity: passed in $$((SECONDS - t)) s"

test: lint collection-checks
	$(BIN)/pytest -n $(PYTEST_WORKERS)
	BIN=$(BIN) tools/molecule_matrix.sh

pytest: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS)

molecule: venv
	BIN=$(BIN) tools/molecule_matrix.sh $(SCENARIOS)

demo: venv
	BIN=$(BIN) tools/demo.sh

fleet-demo: venv
	BIN=$(BIN) N=$(N) tools/fleet_demo.sh

demo-clean: venv
	$(BIN)/python tools/localpg.py destroy .local/pg
	rm -rf .local/scripts
