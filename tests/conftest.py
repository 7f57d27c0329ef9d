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


# The test session's JVM runs hundreds of small, different queries: HotSpot's C2 compiler kept re-compiling
# what each new query shape made hot (Spark's generated classes, Janino, serialization), about half of the
# JVM's CPU in a suite run, and the suite is CPU-bound on two cores. Ten times the default thresholds
# before C2 compiles a method (C1's code runs until then): 15% less CPU on tests/test_ownership.py, the same
# tests passing. C1 alone (-XX:TieredStopAtLevel=1) cost more CPU, not less (D32; docs/performance.md,
# thirteenth round). Production keeps HotSpot's defaults: on one cold presence run the same thresholds saved
# CPU but no wall time (eleventh round), and a daily run's wall time is what counts there.
LAZIER_C2 = ("-XX:Tier4InvocationThreshold=50000", "-XX:Tier4MinInvocationThreshold=6000",
             "-XX:Tier4CompileThreshold=150000", "-XX:Tier4BackEdgeThreshold=400000")


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
            "spark.driver.extraJavaOptions": " ".join(
                [settings.spark_conf.get("spark.driver.extraJavaOptions", ""), *LAZIER_C2]).strip(),
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


def build_wheel(base: Path) -> Path:
    """The project wheel (`pip wheel --no-deps`, as `make package` builds it), from a copy of the sources
    under `base`: pip builds in-tree (build/, *.egg-info), which must not touch the checkout."""
    import shutil

    src = base / "src"
    src.mkdir(parents=True)
    shutil.copy2(ROOT / "setup.py", src / "setup.py")
    for folder, target in (("lib/impact", "lib/impact"), ("schemas", "schemas"), ("conf", "conf")):
        shutil.copytree(ROOT / folder, src / target, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                            "--wheel-dir", str(base / "dist"), str(src)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (base / "dist").glob("impact_presence-*.whl")
    return wheel


# The analysis test world: long and light (16 officers, 6 whole weeks from Monday 2 March 2026, two
# designation waves on 16 and 23 March, 4x the default crime-type call rate), through ingest -> visits ->
# presence -> analysis. Built once per session per `effects` ("on" / "off"); the analysis job tests and
# the demo-world back-test (tests/test_analysis_backtest_world.py) share it.
ANALYSIS_START, ANALYSIS_END = date(2026, 3, 2), date(2026, 4, 12)
ANALYSIS_WORLD_FLAGS = ["--seed", "5", "--officers", "16", "--start", ANALYSIS_START.isoformat(),
                        "--days", str((ANALYSIS_END - ANALYSIS_START).days + 1), "--designation", "2026-03-16",
                        "--designation-waves", "2", "--wave-days", "7", "--base-calls", "12"]


@pytest.fixture(scope="session")
def analysis_world(spark, settings, tmp_path_factory):
    """`analysis_world(effects) -> (settings, result of run_analysis, truth.json)`."""
    import json

    from impact.analysis.pipeline import run_analysis
    from impact.ingest.pipeline import run_ingest
    from impact.presence.pipeline import run_presence
    from impact.visits.pipeline import run_visits

    built: dict[str, tuple] = {}

    def build(effects: str):
        if effects not in built:
            base = tmp_path_factory.mktemp(f"analysis_{effects}")
            raw = base / "raw"
            subprocess.run([sys.executable, "-m", "impact.demo.generate", "--out", str(raw), *ANALYSIS_WORLD_FLAGS,
                            "--effects", effects], check=True, cwd=ROOT)
            # Great Expectations off for ingest (its gate has its own tests); every other step is production code
            local = settings.with_overrides(raw_root=str(raw), warehouse=str(base / "wh")).without_great_expectations()
            run_ingest(spark, local, "force", (ANALYSIS_START, ANALYSIS_END))
            run_visits(spark, local, ANALYSIS_START, ANALYSIS_END)
            run_presence(spark, local, ANALYSIS_START, ANALYSIS_END, run_id="marts")
            result = run_analysis(spark, local, ANALYSIS_START, ANALYSIS_END, run_id=f"first-{effects}")
            built[effects] = (local, result, json.loads((raw / "_truth" / "truth.json").read_text()))
        return built[effects]

    return build


# `make test` runs the suite on two pytest-xdist workers with --dist loadgroup. Each module is one group
# (its module-scoped world is built once, on one worker); the analysis modules share one group because
# their world is the session-scoped `analysis_world` above.
SHARED_GROUPS = {"test_analysis_job": "analysis_world", "test_analysis_backtest_world": "analysis_world"}


# The longest groups, slowest first (seconds of one fresh-clone run on 2 workers, D21): xdist hands groups
# out in collection order (with --no-loadscope-reorder), so these start at once and short modules fill the
# gaps, instead of a 10-minute group starting last and running alone.
LONG_GROUPS = {"analysis_world": 860, "test_runner": 660, "test_cluster": 550, "test_bench": 360,
               "test_ownership": 250, "test_presence_job": 230, "test_ingest_demo_world": 50, "test_visits_properties": 45}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # tryfirst: pytest-xdist's own hook (on each worker) turns the markers into node ids; a marker added
    # after it has no effect, and the groups are silently ignored (each worker builds every world it meets)
    groups = {}
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        groups[item.nodeid] = SHARED_GROUPS.get(module, module)
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    items.sort(key=lambda item: -LONG_GROUPS.get(groups[item.nodeid], 0))     # stable: order within a group kept


@pytest.hookimpl(optionalhook=True)            # a plain `pytest -p no:xdist` run has no such hook
def pytest_xdist_node_collection_finished(node, ids):
    """(pytest-xdist calls this on the controller with each worker's collected ids.) With --dist loadgroup
    every id must carry its group: pytest 9.2 with pytest-xdist 3.8 silently drops the groups
    (pytest-xdist issue 1386), which doubled the suite's time here (each worker built the shared worlds
    again). Stop with the reason instead."""
    if node.config.getvalue("dist") == "loadgroup":
        lost = [i for i in ids if "@" not in i]
        if lost:
            raise pytest.UsageError(
                f"pytest-xdist ignored the xdist_group markers ({len(lost)} of {len(ids)} tests, e.g. {lost[0]}): "
                f"pytest {pytest.__version__} is not one whose node ids pytest-xdist's loadgroup can mark; install "
                "the versions in constraints.txt (make setup)")
