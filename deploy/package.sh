#!/usr/bin/env bash
# `make package`: everything spark-submit needs on YARN, in dist/ (gitignored):
#   dist/impact_presence-<version>-py3-none-any.whl   the package (pip wheel --no-deps)
#   dist/impact-venv.tar.gz                          packed virtualenv for --archives ...#venv (venv-pack): the
#                                                    package and its compiled dependencies (shapely, pyproj, numpy,
#                                                    pandas, pyarrow, GX), without pyspark/py4j (the cluster's Spark 3.5 provides them)
#   dist/jars/*.jar                                  Delta + Sedona jars pinned in conf/jars.lock (stage on HDFS once)
#   dist/conf/                                       cluster.yaml and the job configuration files it names
#   dist/impact_main.py                              the spark-submit application (the `impact` command)
#   dist/oozie/, dist/airflow/                       the Oozie workflow + coordinator and the Airflow DAG
#   dist/spark-submit.example.sh                     the daily run on YARN with these files
# Usage: deploy/package.sh [PYTHON_OF_PROJECT_VENV]. The packed venv runs where Python 3.11 lives at the same
# path as on this machine (venv-pack keeps the interpreter link); build on a host like the cluster's nodes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${1:-$root/.venv/bin/python}"
python="${PYTHON:-python3.11}"
dist="$root/dist"
build="$root/build/package-venv"
cd "$root"
rm -rf "$dist" "$build"
mkdir -p "$dist/jars" "$dist/conf" "$dist/oozie" "$dist/airflow"
"$py" -m pip wheel --quiet --no-deps --wheel-dir "$dist" .
wheel="$(ls "$dist"/impact_presence-*.whl)"
"$python" -m venv "$build"
"$build/bin/python" -m pip install --quiet --disable-pip-version-check "pip==24.3.1"
"$build/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt "$wheel"
"$build/bin/python" -m pip uninstall --quiet -y pyspark py4j
"$py" -m venv_pack --prefix "$build" --output "$dist/impact-venv.tar.gz" --force --quiet
cp .cache/jars/*.jar "$dist/jars/"
cp conf/cluster.yaml conf/sources.yaml conf/visits.yaml conf/marts.yaml conf/jars.lock "$dist/conf/"
for extra in conf/analysis.yaml conf/harm_weights.csv conf/harm_offence_map.csv; do
  if [ -f "$extra" ]; then cp "$extra" "$dist/conf/"; fi
done
cp deploy/impact_main.py "$dist/"
cp deploy/oozie/*.xml "$dist/oozie/"
cp deploy/airflow/impact_dag.py "$dist/airflow/"
cat > "$dist/spark-submit.example.sh" <<'SUBMIT'
#!/usr/bin/env bash
# The daily run for one UTC date on YARN (README "Operations"). Stage once:
#   hdfs dfs -mkdir -p /apps/impact/jars && hdfs dfs -put -f jars/*.jar /apps/impact/jars/
#   hdfs dfs -put -f impact-venv.tar.gz impact_main.py /apps/impact/ && hdfs dfs -put -f conf /apps/impact/
set -euo pipefail
day="${1:?usage: spark-submit.example.sh YYYY-MM-DD}"
spark-submit --master yarn --deploy-mode cluster --name "impact-daily-$day" \
  --archives hdfs:///apps/impact/impact-venv.tar.gz#venv \
  --conf spark.pyspark.python=./venv/bin/python \
  --conf spark.yarn.appMasterEnv.PYSPARK_PYTHON=./venv/bin/python \
  --conf spark.executorEnv.PYSPARK_PYTHON=./venv/bin/python \
  --files conf/cluster.yaml,conf/sources.yaml,conf/visits.yaml,conf/marts.yaml,conf/analysis.yaml,conf/harm_weights.csv,conf/harm_offence_map.csv \
  impact_main.py run --date "$day" --conf cluster.yaml
SUBMIT
chmod +x "$dist/spark-submit.example.sh"
rm -rf "$build"
ls -l "$dist" "$dist/jars"
