"""Deployment files: the Oozie workflow and coordinator are well-formed and submit an entry point that
exists with arguments the `impact` command accepts, in the pipeline's stage order; the Airflow DAG folder
imports with zero errors under a real Airflow install (its own virtualenv, pins in
deploy/airflow/constraints.txt) and its tasks run the stages in the same order."""
from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from impact.ops.plan import STAGE_ORDER, daily_plan, parse_stages
from impact.ops.stages import available_stages
from impact.runner import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
AIRFLOW_VENV = ROOT / ".cache" / "airflow-venv"
AIRFLOW_INSTALL_TIMEOUT_S = 900
DRIVER_EXITS_ON_OOM = "spark.driver.extraJavaOptions=-XX:+ExitOnOutOfMemoryError"   # D28
WF = "{uri:oozie:workflow:1.0}"
SPARK = "{uri:oozie:spark-action:1.0}"


def _expected_order() -> list[str]:
    """The stages a daily run performs here, in the pipeline's order."""
    return [run.stage for run in daily_plan(__import__("datetime").date(2026, 3, 20), available_stages())]


def _check_impact_args(args: list[str]) -> str:
    """Parse as `impact` would; returns the single stage named. Fails the test on anything invalid."""
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.date is not None
    stages = parse_stages(parsed.stages, available_stages())
    assert len(stages) == 1, args
    return stages[0]


def test_entry_point_file_runs_the_impact_command():
    main = DEPLOY / "impact_main.py"
    source = main.read_text()
    assert "from impact.runner import console_main" in source
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(main), "run", "--help"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "--date" in out.stdout and "exit codes" in out.stdout


def test_oozie_workflow_is_well_formed_and_runs_the_stages_in_order():
    tree = ET.parse(DEPLOY / "oozie" / "workflow.xml").getroot()
    assert tree.tag == f"{WF}workflow-app"
    actions = {a.get("name"): a for a in tree.findall(f"{WF}action")}
    params = {p.find(f"{WF}name").text: (p.find(f"{WF}value").text if p.find(f"{WF}value") is not None else "")
              for p in tree.iter(f"{WF}property")}
    node = tree.find(f"{WF}start").get("to")
    order = []
    while node in actions:
        action = actions[node]
        spark = action.find(f"{SPARK}spark")
        assert spark is not None, f"action {node} is not a spark action"
        assert spark.find(f"{SPARK}jar").text.endswith("/impact_main.py")
        args = [a.text.replace("${runDate}", "2026-03-20") for a in spark.findall(f"{SPARK}arg")]
        assert _check_impact_args(args) == node, (node, args)
        opts = spark.find(f"{SPARK}spark-opts").text
        for name, value in params.items():
            opts = opts.replace("${" + name + "}", value)
        assert "--archives" in opts and "impact-venv.tar.gz#venv" in opts and "spark.pyspark.python=./venv/bin/python" in opts
        assert f"--conf {DRIVER_EXITS_ON_OOM}" in opts, f"{node}: a driver OOM would hang the action, not fail it (D28)"
        files = [f.text.split("#")[-1] for f in spark.findall(f"{SPARK}file")]
        assert "cluster.yaml" in files and (ROOT / "conf" / "cluster.yaml").is_file()
        assert all((ROOT / "conf" / name).is_file() for name in files), files
        assert action.find(f"{WF}error").get("to") == "fail"
        order.append(node)
        node = action.find(f"{WF}ok").get("to")
    assert node == "end"
    assert order == _expected_order()
    assert order == [s for s in STAGE_ORDER if s in order]


def test_oozie_coordinator_is_daily_one_at_a_time_and_points_at_the_workflow():
    root = ET.parse(DEPLOY / "oozie" / "coordinator.xml").getroot()
    ns = "{uri:oozie:coordinator:0.5}"
    assert root.tag == f"{ns}coordinator-app"
    assert root.get("frequency") == "${coord:days(1)}" and root.get("timezone") == "UTC"
    assert root.find(f"{ns}controls/{ns}concurrency").text == "1"
    assert root.find(f"{ns}action/{ns}workflow/{ns}app-path").text.endswith("/workflow.xml")
    names = [p.find(f"{ns}name").text for p in root.iter(f"{ns}property")]
    assert "runDate" in names


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    """The Airflow virtualenv's interpreter, built by deploy/airflow/make_venv.sh when missing."""
    try:
        subprocess.run(["bash", str(DEPLOY / "airflow" / "make_venv.sh"), str(AIRFLOW_VENV)], check=True,
                       timeout=AIRFLOW_INSTALL_TIMEOUT_S, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"installing Airflow into {AIRFLOW_VENV} took over {AIRFLOW_INSTALL_TIMEOUT_S} s: "
                    "the DAG import test could not run (run deploy/airflow/make_venv.sh by hand first)")
    except subprocess.CalledProcessError as error:
        pytest.fail(f"deploy/airflow/make_venv.sh failed: {error.stderr[-2000:]}")
    return AIRFLOW_VENV / "bin" / "python"


@pytest.mark.slow
def test_airflow_dag_folder_imports_with_zero_errors_and_stage_order(airflow_python, tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(DEPLOY / "airflow")}
    out = subprocess.run([str(airflow_python), str(DEPLOY / "airflow" / "check_dags.py"), str(DEPLOY / "airflow")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["import_errors"] == {}
    assert list(report["dags"]) == ["impact_daily"]
    dag = report["dags"]["impact_daily"]
    assert dag["operators"] == ["airflow.providers.apache.spark.operators.spark_submit.SparkSubmitOperator"]
    assert dag["order"] == _expected_order()
    chain = [[a, b] for a, b in zip(dag["order"], dag["order"][1:])]
    assert dag["edges"] == sorted(chain)                 # a straight line: each stage waits for the previous
    assert dag["max_active_runs"] == 1 and dag["catchup"] is True and min(dag["retries"]) >= 1
    for task, args in dag["application_args"].items():
        assert dag["application"][task].endswith("/impact_main.py")
        assert _check_impact_args([a.replace("{{ ds }}", "2026-03-20") for a in args]) == task
        name, value = DRIVER_EXITS_ON_OOM.split("=", 1)
        assert dag["conf"][task].get(name) == value, f"{task}: a driver OOM would hang the task, not fail it (D28)"
