# Two commands for a fresh machine: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
DEMO_SCALE ?= 0.001
DEMO_SEED ?= 20200630
# Demo-only pseudonymisation key; real runs take theirs from the environment.
DEMO_KEY ?= demo-only-key-not-a-secret-0000

.PHONY: setup demo test lint format clean-demo package package-env

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --python $(PYTHON)
	touch $@

jars/resolved.json: $(VENV)/.synced conf/jars.yaml
	$(PY) -m etl.jars

setup: $(VENV)/.synced jars/resolved.json

demo: setup
	rm -rf data lakehouse
	$(PY) -m jobs generate --scale $(DEMO_SCALE) --seed $(DEMO_SEED) --out data
	IIAP_PSEUDONYM_KEY=$${IIAP_PSEUDONYM_KEY:-$(DEMO_KEY)} $(PY) -m jobs run --truth data/truth
	@echo "the day's batch: ingest, classify, economy, index release in one command (iiap run); its summary: lakehouse/_runs/"
	@echo "landing files: data/landing   ground truth: data/truth/manifest.json   lakehouse: lakehouse/   MLflow: mlflow/mlflow.db (iiap-classification, iiap-economy, iiap-index-release)"
	@echo "reproduce a release: .venv/bin/python -m jobs index reproduce RUN_ID"
	@echo "data-quality dashboard: lakehouse/_quality/gx/uncommitted/data_docs/local_site/index.html"

# Two pytest-xdist workers, each with its own Spark driver (tests/conftest.py says how modules are
# kept together); TEST_WORKERS=0 runs the suite in this process. The slowest tests are listed at the end.
# --no-loadscope-reorder: groups start in collection order, the end-to-end ones first. xdist's default
# starts the groups with the most tests first, and the crash tests (few tests, 900 s) came last: one
# worker idle for 690 s of a 1,612 s run.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=20

# What spark-submit needs, in dist/ (README, "On a cluster"): the code zip, the entry point, conf/ as a zip, the jars.
package: setup
	$(PY) -m jobs package --out dist

# A packed virtual environment for --archives (YARN, Kubernetes): iiap and its dependencies, not pyspark (the
# cluster's Spark brings its own). Its bin/python links to this machine's interpreter: the nodes need Python 3.11
# at the same path (venv-pack's rule).
package-env: package
	rm -rf build/env
	UV_PROJECT_ENVIRONMENT=build/env UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --no-dev --no-editable --no-install-package pyspark --python $(PYTHON)
	$(VENV)/bin/venv-pack -p build/env -o dist/iiap-env.tar.gz --force

# ruff, configured in pyproject.toml: lint, and a check that the tree is formatted
lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.synced
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean-demo:
	rm -rf data lakehouse
