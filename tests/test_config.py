"""Configuration is found wherever a job is started from (issue 9)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import build_wheel
from impact.config import load_settings

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


def test_an_installed_wheel_finds_its_own_default_config_from_any_folder(tmp_path):
    # the wheel (as `make package` builds it) carries conf/ as package `impact_conf`; installed on its own
    # (no checkout beside it), load_settings() finds that copy and puts relative paths under the current folder
    site, work = tmp_path / "site", tmp_path / "work"
    wheel = build_wheel(tmp_path / "wheel")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k != "IMPACT_CONF"}, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import impact, json; from impact.config import load_settings; s = load_settings(); "
         "print(json.dumps([impact.__file__, str(s.conf_path), s.warehouse, s.raw_root, str(s.sources_path)]))"],
        cwd=work, env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr[-2000:]
    module, conf_path, warehouse, raw_root, sources = json.loads(probe.stdout)
    assert Path(module).is_relative_to(site)                   # the installed copy, not the checkout
    assert Path(conf_path) == site / "impact_conf" / "local.yaml"
    assert Path(warehouse) == work / "warehouse" and Path(raw_root) == work / "data" / "raw"
    assert Path(sources) == site / "impact_conf" / "sources.yaml" and Path(sources).is_file()


def test_both_profiles_keep_the_generated_classes_and_the_session_gets_the_setting(spark):
    """D31: Spark keeps 100 compiled classes by default and a presence run generates about 600, so each run
    compiled them again. Both shipped profiles keep 5,000, and the session factory passes it through (it is
    a static setting: it must be on the session from the start)."""
    from impact.config import load_settings

    for profile in ("local.yaml", "cluster.yaml"):
        conf = load_settings(ROOT / "conf" / profile).spark_conf
        assert int(conf.get("spark.sql.codegen.cache.maxEntries", 100)) >= 5000, profile
    assert spark.conf.get("spark.sql.codegen.cache.maxEntries") == "5000"


def test_without_great_expectations_turns_off_only_the_gate():
    settings = load_settings(ROOT / "conf" / "local.yaml")
    off = settings.without_great_expectations()
    assert settings.ingest["great_expectations"] is True                  # the loaded settings are not changed
    assert off.ingest == {**settings.ingest, "great_expectations": False}
    assert off.warehouse == settings.warehouse and off.spark_conf == settings.spark_conf
