"""Shared fixtures: one SparkSession for the whole run, built by the production factory."""
from __future__ import annotations

import logging
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from impact.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """The embedded local settings, with a throwaway warehouse and raw root."""
    base = tmp_path_factory.mktemp("impact")
    return load_settings(ROOT / "conf" / "local.yaml").with_overrides(
        warehouse=str(base / "warehouse"), raw_root=str(base / "raw")
    )


@pytest.fixture(scope="session")
def spark(settings):
    from impact.session import build_session

    session = build_session(
        settings,
        "impact-tests",
        overrides={
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "2g",
            "spark.ui.enabled": "false",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def contracts():
    """The shipped source contracts (conf/sources.yaml)."""
    from impact.ingest.contract import load_contracts

    return load_contracts(ROOT / "conf" / "sources.yaml")


@pytest.fixture()
def local(settings, tmp_path):
    """The embedded settings with this test's own raw root and warehouse."""
    return settings.with_overrides(raw_root=str(tmp_path / "raw"), warehouse=str(tmp_path / "wh"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public files in ../shared/data, or a skip that says why."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data not found at {SHARED_DATA}: public-data tests need it beside the repo")
    return SHARED_DATA


@pytest.fixture(scope="session")
def generate_world():
    """`generate_world(raw, seed, officers, start, days) -> raw`: a demo world written by the real CLI
    (`python -m impact.demo.generate`), as `make demo` does."""
    return _generate_world


def _generate_world(raw: Path, seed: int, officers: int, start: date, days: int) -> Path:
    subprocess.run([sys.executable, "-m", "impact.demo.generate", "--out", str(raw), "--seed", str(seed),
                    "--officers", str(officers), "--start", start.isoformat(), "--days", str(days)],
                   check=True, cwd=ROOT)
    return raw
