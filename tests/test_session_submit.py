"""Under spark-submit, the session factory keeps spark-submit's --master and --name (issue 12).

conf/local.yaml says `spark.master: local[*]`. A job submitted with `spark-submit --master X` must run on X:
before this, the factory set the config's master on the builder, which won over spark-submit's, so a
standalone or YARN submission with the local profile silently ran inside the driver. Run as a real
spark-submit of a small application that builds its session with `impact.session.build_session` from the
embedded default config (local mode, one core: the master is what is checked, not a cluster).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyspark
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPARK_SUBMIT = Path(pyspark.__file__).resolve().parent / "bin" / "spark-submit"
PYTHON = ROOT / ".venv" / "bin" / "python"

APP = """
import json, sys
from impact.config import load_settings
from impact.session import build_session
settings = load_settings({conf!r}).with_overrides(warehouse={warehouse!r})
spark = build_session(settings, "impact-probe")
sc = spark.sparkContext
rows = spark.range(10).selectExpr("sum(id) AS s").collect()[0]["s"]     # the session works (Sedona/Delta loaded)
print("RESULT " + json.dumps({{"master": sc.master, "name": sc.appName, "sum": rows,
                              "delta": spark.conf.get("spark.sql.extensions")}}))
spark.stop()
"""


def _submit(tmp_path: Path, *args: str) -> dict:
    app = tmp_path / "probe_app.py"
    app.write_text(APP.format(conf=str(ROOT / "conf" / "local.yaml"), warehouse=str(tmp_path / "wh")))
    jars = ",".join(sorted(str(p) for p in (ROOT / ".cache" / "jars").glob("*.jar")))
    env = {k: v for k, v in os.environ.items()
           if k not in ("IMPACT_CONF", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR") and not k.startswith("PYSPARK_GATEWAY")}
    env["PYSPARK_PYTHON"] = str(PYTHON)
    proc = subprocess.run([str(SPARK_SUBMIT), *args, "--jars", jars, "--driver-memory", "1g", str(app)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


@pytest.mark.integration
def test_spark_submit_master_and_name_win_over_the_config(tmp_path):
    assert "local[*]" in (ROOT / "conf" / "local.yaml").read_text()       # what would win without the fix
    named = _submit(tmp_path, "--master", "local[1]", "--name", "nightly-impact")
    assert named["master"] == "local[1]"
    assert named["name"] == "nightly-impact"
    assert named["sum"] == 45 and "DeltaSparkSessionExtension" in named["delta"]


@pytest.mark.integration
def test_spark_submit_without_name_keeps_the_jobs_name(tmp_path):
    unnamed = _submit(tmp_path, "--master", "local[1]")
    assert unnamed["master"] == "local[1]"
    assert unnamed["name"] == "impact-probe"                         # not spark-submit's default "probe_app.py"
