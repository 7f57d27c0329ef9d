# Two commands do everything on a fresh machine (Python 3.11, Java 17, Maven):
#   make run    venv + packages + jars + demo world + every job end to end on local Spark
#   make test   the same set-up, then the test suite
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
CONF ?= conf/local.yaml
JARS_DIR := .cache/jars
RAW ?= data/raw
WAREHOUSE ?= warehouse
# Demo world size and run window (defaults: 300 officers, 21 days across the 29 March 2026 DST change)
SEED ?= 42
OFFICERS ?= 300
START ?= 2026-03-16
DAYS ?= 21
END ?= $(shell date -u -d "$(START) + $(DAYS) days - 1 day" +%F)
PYTEST_ARGS ?=
# Public data.police.uk files beside the repo (skipped with a message when absent)
SHARED_DATA ?= ../shared/data
PUBLIC_SOURCES ?= police_uk_street_old,police_uk_stop_search

.PHONY: help setup venv jars demo ingest ingest-public visits presence analysis register serve dictionary run test test-cluster chromium bench fingerprint clean package maintain
help:
	@echo "make run   - set up and run every job end to end on the demo world (local Spark)"
	@echo "make test  - set up and run the test suite"
	@echo "make jars  - fetch and verify the pinned JVM jars into $(JARS_DIR)"
	@echo "make demo  - (re)generate the demo world into $(RAW)"
	@echo "make serve - serve the registered tables over HiveServer2 on 127.0.0.1:$(PORT) (Qlik ODBC)"
	@echo "make analysis - the strategic analysis tables and HTML report for START..END"
	@echo "make dictionary - regenerate docs/data_dictionary.md from schemas/"
	@echo "make package - wheel, packed venv, jars and cluster conf in dist/ for spark-submit (README: Operations)"
	@echo "make maintain - expire, compact and VACUUM the warehouse tables (maintenance: in the config)"
	@echo "make clean - remove generated data, tables and caches (keeps the venv and jars)"

$(VENV)/.installed: setup.py constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11" >&2; exit 1; }
	@command -v java >/dev/null || { echo "java not found: install a Java 17 JDK" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==24.3.1"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

venv: $(VENV)/.installed

$(JARS_DIR)/.verified: conf/jars.lock $(VENV)/.installed
	$(PY) -m impact.jars fetch --lock conf/jars.lock --dest $(JARS_DIR) >/dev/null
	touch $@

jars: $(JARS_DIR)/.verified

setup: venv jars

$(RAW)/_truth/truth.json: $(VENV)/.installed
	$(PY) -m impact.demo.generate --out $(RAW) --seed $(SEED) --officers $(OFFICERS) --start $(START) --days $(DAYS)

demo: $(RAW)/_truth/truth.json

ingest: setup demo
	$(PY) jobs/ingest.py --conf $(CONF) --raw-root $(RAW) --warehouse $(WAREHOUSE) --start-date $(START) --end-date $(END) --source force

ingest-public: setup
	@if [ -d "$(SHARED_DATA)/police_uk" ]; then \
	  $(PY) jobs/ingest.py --conf $(CONF) --raw-root $(SHARED_DATA) --warehouse $(WAREHOUSE) --source $(PUBLIC_SOURCES); \
	else echo "skipping public police.uk ingest: $(SHARED_DATA)/police_uk not found"; fi

visits: ingest
	$(PY) jobs/visits.py --conf $(CONF) --warehouse $(WAREHOUSE) --start-date $(START) --end-date $(END)

presence: visits
	$(PY) jobs/presence.py --conf $(CONF) --warehouse $(WAREHOUSE) --start-date $(START) --end-date $(END)

# Strategic analysis tables and the HTML report (<warehouse>/_reports/analysis_<start>_<end>.html; docs/analysis.md)
# (reads the marts already in $(WAREHOUSE): `make run` builds them first; `make analysis` alone re-runs only this)
ANALYSIS = $(PY) jobs/analysis.py --conf $(CONF) --warehouse $(WAREHOUSE) --start-date $(START) --end-date $(END)
analysis: setup
	$(ANALYSIS)

# Register every Delta table under the warehouse in the metastore (database from $(CONF)), then exit
register: setup
	$(PY) jobs/serve.py --conf $(CONF) --warehouse $(WAREHOUSE) --register-only

# Serve the registered tables over HiveServer2 on 127.0.0.1:$(PORT) until Ctrl-C (docs/serving.md)
PORT ?= 10000
serve: setup
	$(PY) jobs/serve.py --conf $(CONF) --warehouse $(WAREHOUSE) --port $(PORT)

# Regenerate docs/data_dictionary.md from schemas/ (the tests fail while it is stale)
dictionary: venv
	$(PY) -m impact.dictionary --out docs/data_dictionary.md

run: ingest ingest-public presence
	$(ANALYSIS)
	$(PY) jobs/serve.py --conf $(CONF) --warehouse $(WAREHOUSE) --register-only
	@echo "Tables written under $(abspath $(WAREHOUSE)) and registered (see README: Tables; make serve to query them); report: $(abspath $(WAREHOUSE))/_reports/analysis_latest.html"

# Headless Chromium for the report rendering test: installed as root where apt-get exists, else the test skips
chromium:
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not found and cannot be installed here (needs root and apt-get): the report rendering tests will skip"; fi; }

# The whole suite, the distributed run (tests/test_cluster.py) included, on TEST_WORKERS pytest-xdist workers:
# each test module is one group run on one worker, the longest groups handed out first (tests/conftest.py;
# --no-loadscope-reorder keeps that order instead of xdist's most-tests-first). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: setup chromium
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder) $(PYTEST_ARGS)

# The distributed run alone: a local standalone master and two workers (README: Tests)
test-cluster: setup
	$(PY) -m pytest -m cluster tests/test_cluster.py $(PYTEST_ARGS)

# Benchmark every stage on local Spark at N pings (default 1M); results in bench/results (docs/performance.md).
# The raw world is generated once per size under .cache/bench. Extra flags: BENCH_ARGS="--spark-conf k=v ...".
bench: setup
	$(PY) -m impact.bench.run --pings $(or $(N),1000000) --out bench/results --work .cache/bench $(BENCH_ARGS)

# Fingerprint every Delta table of $(WAREHOUSE) (row counts + order-independent column hashes) into $(FP_OUT);
# FP_COMPARE="a.json b.json" compares two instead (exit 1 if they differ). See lib/impact/fingerprint.py.
FP_OUT ?= fingerprints.json
fingerprint: setup
	$(if $(FP_COMPARE),$(PY) -m impact.fingerprint --compare $(FP_COMPARE),$(PY) -m impact.fingerprint --conf $(CONF) --warehouse $(WAREHOUSE) --out $(FP_OUT) $(FP_ARGS))

# Build dist/ for spark-submit on YARN: wheel, packed virtualenv (venv-pack), jars, cluster conf, Oozie and
# Airflow files (README "Operations")
package: setup
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,package]"
	bash deploy/package.sh $(abspath $(PY))

# Expire old rows, compact small files and VACUUM old versions (maintenance: in $(CONF)); RETAIN_HOURS= overrides
maintain: setup
	$(PY) -m impact.runner maintain --conf $(CONF) --warehouse $(WAREHOUSE) $(if $(RETAIN_HOURS),--retain-hours $(RETAIN_HOURS))

clean:
	rm -rf $(RAW) $(WAREHOUSE) spark-warehouse metastore_db derby.log .pytest_cache .hypothesis
