#!/usr/bin/env bash
# Build the Airflow virtualenv the DAG tests import the DAG folder with: Airflow 2.10.5 + the Apache Spark
# provider, exact pins from deploy/airflow/constraints.txt (Airflow's pins clash with the project's, so it
# gets its own venv). Usage: deploy/airflow/make_venv.sh [VENV] (default .cache/airflow-venv). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/../../.cache/airflow-venv}"
python="${PYTHON:-python3.11}"
if [ -f "$venv/.installed" ] && [ "$venv/.installed" -nt "$here/constraints.txt" ]; then exit 0; fi
test -x "$venv/bin/python" || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pip==24.3.1"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$here/constraints.txt" \
  "apache-airflow==2.10.5" "apache-airflow-providers-apache-spark==4.11.3"
touch "$venv/.installed"
