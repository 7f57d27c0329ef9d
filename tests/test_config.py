"""Configuration is found wherever a job is started from (issue 9)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_job_started_outside_the_project_finds_the_embedded_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "IMPACT_CONF"}
    probe = subprocess.run(
        [sys.executable, "-c", "from impact.config import load_settings; s = load_settings(); print(s.conf_path); print(s.warehouse)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    conf_path, warehouse = probe.stdout.split()
    assert Path(conf_path) == ROOT / "conf" / "local.yaml"
    assert Path(warehouse) == ROOT / "warehouse"            # relative paths still resolve against the project
    # the job itself gets past configuration (to the unknown-source check) from the foreign folder
    job = subprocess.run([sys.executable, str(ROOT / "jobs" / "ingest.py"), "--source", "no_such_source"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert job.returncode == 2
    assert "unknown source 'no_such_source'" in job.stderr and "not found" not in job.stderr
