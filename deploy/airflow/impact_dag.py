"""Airflow DAG: the daily Impact Area refresh on YARN, one SparkSubmitOperator task per pipeline stage.

Keyed on the logical date: the run for logical date D (`{{ ds }}`) is `impact run --date D --stages S`,
which ingests D and rebuilds visits and presence for D-1..D, so catch-up runs are backfills, one day at a
time, in date order (max_active_runs=1: a day never overlaps the next). Each task is idempotent (Delta
replaceWhere of the dates it owns), so a retry or a cleared task re-runs safely.

Set in Airflow, not here: the `spark_default` connection (master `yarn`, deploy mode `cluster`) and the
Variable `impact_artifacts` (folder holding the `make package` output: impact_main.py,
impact-venv.tar.gz, cluster.yaml and the conf files; default hdfs:///apps/impact).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

# The pipeline's stage order (impact.ops.plan.STAGE_ORDER); tests check the two agree.
STAGES = ("ingest", "visits", "presence", "analysis", "register")
ARTIFACTS = "{{ var.value.get('impact_artifacts', 'hdfs:///apps/impact') }}"
CONF_FILES = ("cluster.yaml", "sources.yaml", "visits.yaml", "marts.yaml", "analysis.yaml",
              "harm_weights.csv", "harm_offence_map.csv")

default_args = {
    "owner": "impact",
    "retries": 2,
    "retry_delay": timedelta(minutes=15),
    "retry_exponential_backoff": True,
    "depends_on_past": True,            # a day's stage waits for the previous day's (visits rebuild D-1)
    "execution_timeout": timedelta(hours=6),
}

with DAG(
    dag_id="impact_daily",
    description="Airwave pings -> visits -> presence marts -> analysis -> metastore, per UTC day",
    schedule="30 3 * * *",              # 03:30 UTC, after the nightly extracts land
    start_date=datetime(2026, 3, 16),
    catchup=True,
    max_active_runs=1,
    default_args=default_args,
    tags=["impact", "spark"],
) as dag:
    previous = None
    for stage in STAGES:
        task = SparkSubmitOperator(
            task_id=stage,
            conn_id="spark_default",
            name=f"impact-{stage}-{{{{ ds }}}}",
            application=f"{ARTIFACTS}/impact_main.py",
            application_args=["run", "--date", "{{ ds }}", "--stages", stage, "--conf", "cluster.yaml",
                              "--run-id", f"airflow-{{{{ dag.dag_id }}}}-{{{{ ds_nodash }}}}-{stage}-{{{{ ti.try_number }}}}"],
            archives=f"{ARTIFACTS}/impact-venv.tar.gz#venv",
            files=",".join(f"{ARTIFACTS}/conf/{name}" for name in CONF_FILES),
            conf={
                "spark.pyspark.python": "./venv/bin/python",
                "spark.yarn.appMasterEnv.PYSPARK_PYTHON": "./venv/bin/python",
                "spark.executorEnv.PYSPARK_PYTHON": "./venv/bin/python",
                # a heap OOM in the driver fails the task (and Airflow retries it) instead of hanging it (D28)
                "spark.driver.extraJavaOptions": "-XX:+ExitOnOutOfMemoryError",
            },
            verbose=False,
        )
        if previous is not None:
            previous >> task
        previous = task
