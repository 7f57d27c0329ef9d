"""The `impact` command: plan and exit codes; a re-run of a day equals the first run table by table; a
run SIGKILLed while a Delta write is in flight leaves readers on the last good version and a re-run
ends equal; a backfill SIGKILLed between chunks resumes from its checkpoint and ends equal; maintain
expires, compacts and vacuums. Real Spark + Delta on a tiny demo world (20 officers, 2 days)."""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable as RsDeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType

from impact.ops import deltalog
from impact.ops.maintain import (LISTING_PARALLELISM_CONF, MaintenanceConf, UnsafeRetention, check_retention,
                                 listing_parallelism, load_maintenance, maintain)
from impact.ops.plan import (STAGE_ORDER, PlanError, StageRun, backfill_chunks, chunk_plan, chunk_progress, daily_plan,
                             final_plan, parse_stages)
from impact.ops.stages import QualityGateFailed, SourceFailed
from impact.runner import (EXIT_ERROR, EXIT_GATE, EXIT_OK, EXIT_SOURCE, EXIT_USAGE, backfill, execute_stages,
                           exit_code_for, main)

ROOT = Path(__file__).resolve().parent.parent
IMPACT = ROOT / ".venv" / "bin" / "impact"
D0, D1 = date(2026, 3, 27), date(2026, 3, 28)
STAGES = ("ingest", "visits", "presence", "register")       # analysis needs weeks of data, not two days
DATABASE = "impact_ops_test"


# ------------------------------------------------------------------ plan and exit codes (no Spark)

def test_backfill_chunks_cover_the_range_once_and_rebuild_the_day_before():
    chunks = backfill_chunks(date(2026, 3, 1), date(2026, 3, 10), 4)
    days = [c.first + timedelta(days=i) for c in chunks for i in range((c.last - c.first).days + 1)]
    assert days == [date(2026, 3, 1) + timedelta(days=i) for i in range(10)]
    assert chunks[0].rebuild_from == date(2026, 3, 1)                # never before the range
    assert all(c.rebuild_from == p.last for p, c in zip(chunks, chunks[1:]))
    plan = chunk_plan(chunks[1], STAGE_ORDER)
    assert [(r.stage, r.window) for r in plan] == [("ingest", (chunks[1].first, chunks[1].last)),
                                                   ("visits", (chunks[1].rebuild_from, chunks[1].last)),
                                                   ("presence", (chunks[1].rebuild_from, chunks[1].last))]
    assert [r.stage for r in final_plan(date(2026, 3, 1), date(2026, 3, 10), STAGE_ORDER)] == ["analysis", "register"]
    with pytest.raises(PlanError):
        backfill_chunks(date(2026, 3, 2), date(2026, 3, 1), 7)
    with pytest.raises(PlanError):
        backfill_chunks(date(2026, 3, 1), date(2026, 3, 2), 0)


def test_backfill_progress_counts_dates_and_paces_only_on_this_runs_chunks():
    chunks = backfill_chunks(date(2026, 3, 1), date(2026, 3, 10), 4)          # 4 + 4 + 2 dates
    # the first chunk done by an earlier run, the second by this one in 400 s: 2 dates left at 100 s a date
    line = chunk_progress(chunks, {chunks[0].key, chunks[1].key}, 400.0, 4)
    assert line == "2 of 3 chunks done (8 of 10 dates); about 200 s left at this run's pace (100 s a date)"
    assert chunk_progress(chunks, {c.key for c in chunks}, 1000.0, 10) == "3 of 3 chunks done (10 of 10 dates)"
    assert chunk_progress(chunks, {chunks[0].key}, 0.0, 0) == "1 of 3 chunks done (4 of 10 dates)"


def test_daily_plan_windows_and_stage_order():
    plan = daily_plan(date(2026, 3, 20), STAGE_ORDER, lookback_days=1, analysis_days=28)
    assert [r.stage for r in plan] == list(STAGE_ORDER)
    windows = {r.stage: r.window for r in plan}
    assert windows["ingest"] == (date(2026, 3, 20), date(2026, 3, 20))
    assert windows["visits"] == windows["presence"] == (date(2026, 3, 19), date(2026, 3, 20))
    assert windows["analysis"] == (date(2026, 2, 21), date(2026, 3, 20))
    assert windows["register"] is None
    assert parse_stages("presence,visits") == ("visits", "presence")     # pipeline order, not typed order
    with pytest.raises(PlanError, match="unknown stage"):
        parse_stages("visits,bogus")
    with pytest.raises(PlanError, match="not available"):
        parse_stages("analysis", ("ingest", "visits"))


def test_exit_codes():
    assert exit_code_for(None) == EXIT_OK == 0
    assert exit_code_for(SourceFailed("x")) == EXIT_SOURCE == 3
    assert exit_code_for(QualityGateFailed("x")) == EXIT_GATE == 4
    assert exit_code_for(PlanError("x")) == EXIT_USAGE == 2
    assert exit_code_for(RuntimeError("x")) == EXIT_ERROR == 1
    with pytest.raises(SystemExit) as bad:
        main(["run", "--date", "2026-02-30"])
    assert bad.value.code == 2
    with pytest.raises(SystemExit) as neither:
        main(["run"])
    assert neither.value.code == 2
    conf = str(ROOT / "conf" / "local.yaml")
    assert main(["run", "--start-date", "2026-03-02", "--end-date", "2026-03-01", "--conf", conf]) == 2
    assert main(["run", "--date", "2026-03-02", "--stages", "visits,nonsense", "--conf", conf]) == 2
    assert main(["backfill", "--start-date", "2026-03-01", "--end-date", "2026-03-02", "--chunk-days", "0",
                 "--conf", conf]) == 2
    assert main(["maintain", "--retain-hours", "1", "--conf", conf]) == 2     # below the safe minimum


def test_maintenance_config_and_retention_guard():
    from impact.config import load_settings

    for name in ("local.yaml", "cluster.yaml"):
        conf = load_maintenance(load_settings(ROOT / "conf" / name))
        assert conf.vacuum_retain_hours >= conf.min_vacuum_retain_hours >= 168
    check_retention(168, MaintenanceConf(), unsafe=False)
    with pytest.raises(UnsafeRetention):
        check_retention(24, MaintenanceConf(), unsafe=False)
    check_retention(0, MaintenanceConf(), unsafe=True)
    # VACUUM's listing job: as many tasks as data files, between the default parallelism and Spark's 10,000
    assert listing_parallelism(4, 2) == 4 and listing_parallelism(0, 2) == 2 and listing_parallelism(3, 8) == 8
    assert listing_parallelism(5_000_000, 200) == 10_000


# ------------------------------------------------------------------ helpers

def _comparable(df: DataFrame) -> DataFrame:
    """Drop run-id and processing-time columns; round floats (sums in another partitioning differ in ulps)."""
    keep = [f for f in df.schema.fields if not f.name.endswith("run_id") and f.name != "quarantined_at_utc"]
    return df.select([F.round(F.col(f.name), 6).alias(f.name) if isinstance(f.dataType, (DoubleType, FloatType))
                      else F.col(f.name) for f in keep])


def _table(spark: SparkSession, folder: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(folder)


def assert_tables_equal(spark: SparkSession, expected: dict[str, tuple[str, int]], warehouse: str,
                        only: set[str] | None = None) -> list[str]:
    """Every table in `expected` (name -> (folder, version)) equals the warehouse's current table, as a
    multiset of rows. Returns the names compared."""
    current = deltalog.table_folders(spark, warehouse)
    names = sorted(n for n in expected if n != "run_log" and (only is None or n in only))
    assert names
    for name in names:
        assert name in current, f"{name} missing from {warehouse}"
        a = _comparable(_table(spark, *expected[name]))
        b = _comparable(_table(spark, current[name]))
        assert a.columns == b.columns, name
        # The test worlds' tables are small (at most tens of thousands of rows): collecting both sides and
        # comparing them as multisets in Python is one scan each, where two `exceptAll` counts were two
        # shuffled Spark jobs per table (docs/performance.md, thirteenth round)
        want, got = Counter(map(_hashable, a.collect())), Counter(map(_hashable, b.collect()))
        extra, missing = got - want, want - got
        assert not extra and not missing, (f"{name}: {sum(extra.values())} unexpected rows, {sum(missing.values())} "
                                           f"rows missing; e.g. unexpected {list(extra)[:2]}, missing {list(missing)[:2]}")
    return names


def _hashable(value):
    """A collected Row (or a value in it) as nested tuples: arrays, maps and structs compare by content,
    and NaN equals NaN, as in Spark's `exceptAll`."""
    if isinstance(value, dict):
        return tuple(sorted((_hashable(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):                     # a Row is a tuple
        return tuple(_hashable(v) for v in value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, float) and value != value:
        return _NAN                                           # Spark's NaN equals NaN; Python's does not
    return value


_NAN = object()       # one object for every NaN: equal to itself only, never to a string "NaN" in a column


def _snapshot(spark: SparkSession, warehouse: str) -> dict[str, tuple[str, int]]:
    return {n: (f, deltalog.latest_version(spark, f)) for n, f in deltalog.table_folders(spark, warehouse).items()}


def _data_files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts}


def _log_versions(folder: Path) -> int:
    return len(list((folder / "_delta_log").glob("*.json")))


def _impact(args: list[str], log_file: Path) -> subprocess.Popen:
    env = {**os.environ, "PYSPARK_PYTHON": str(ROOT / ".venv" / "bin" / "python")}
    return subprocess.Popen([str(IMPACT), *args, "--conf", str(ROOT / "conf" / "local.yaml"), "--master", "local[2]"],
                            stdout=log_file.open("w"), stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                            start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)          # the driver JVM and Python workers are in its session
    proc.wait(timeout=60)


# ------------------------------------------------------------------ runs on a demo world
# Cheapest first: pings-only runs (what the kill tests need), the full daily re-run last. Great Expectations
# is switched off here (its gate has its own tests); every other step is the production code path.

@pytest.fixture(scope="module")
def world(spark, settings, tmp_path_factory, generate_world):
    base = tmp_path_factory.mktemp("runner")
    raw = generate_world(base / "raw", seed=11, officers=20, start=D0, days=2)
    local = settings.with_overrides(raw_root=str(raw), warehouse=str(base / "wh"),
                                    database=DATABASE).without_great_expectations()
    return local, raw, base


@pytest.fixture(scope="module")
def clean_pings(spark, world):
    """A clean in-process backfill of the pings for D0..D1 (one-day chunks): the reference the killed
    runs must end equal to."""
    local, raw, base = world
    clean = local.with_overrides(warehouse=str(base / "clean"))
    out = backfill(spark, clean, D0, D1, 1, ("ingest",), "clean-bf", source="airwave_pings")
    assert out["skipped"] == [] and len(out["chunks"]) == 2
    return clean, _snapshot(spark, clean.warehouse)


@pytest.mark.integration
def test_a_failed_source_stops_the_run_with_exit_code_3(spark, world, tmp_path):
    local, _, _ = world
    settings = local.with_overrides(warehouse=str(tmp_path / "wh"))
    # a pings table of another shape is in the way: the source's write fails, the run stops there
    spark.createDataFrame([(1,)], "x int").write.format("delta").save(settings.table_path("pings"))
    with pytest.raises(SourceFailed) as failed:
        execute_stages(spark, settings, daily_plan(D1, ("ingest", "visits")), "broken", source="airwave_pings")
    assert exit_code_for(failed.value) == 3
    assert "airwave_pings" in str(failed.value)
    assert not (tmp_path / "wh" / "visits").exists()                            # later stages did not run
    assert _table(spark, settings.table_path("pings")).columns == ["x"]         # the table was not touched


@pytest.mark.integration
@pytest.mark.slow
def test_backfill_killed_between_chunks_resumes_from_its_checkpoint(spark, world, clean_pings, tmp_path):
    _, raw, _ = world
    _, snapshot = clean_pings
    wh = tmp_path / "wh"
    args = ["backfill", "--start-date", D0.isoformat(), "--end-date", D1.isoformat(), "--chunk-days", "1",
            "--stages", "ingest", "--source", "airwave_pings", "--warehouse", str(wh), "--raw-root", str(raw),
            "--no-validate"]
    proc = _impact(args + ["--run-id", "bf-killed"], tmp_path / "bf1.log")
    checkpoints = wh / "_ops" / "backfill"
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and proc.poll() is None:
        if list(checkpoints.glob("*/chunk-*.json")):
            _kill(proc)
            break
        time.sleep(0.05)
    else:
        _kill(proc) if proc.poll() is None else None
    done = sorted(p.name for p in checkpoints.glob("*/chunk-*.json"))
    assert done == [f"chunk-{D0}_{D0}.json"], (done, (tmp_path / "bf1.log").read_text()[-3000:])
    assert proc.returncode == -signal.SIGKILL
    proc = _impact(args + ["--run-id", "bf-resumed"], tmp_path / "bf2.log")
    assert proc.wait(timeout=1800) == 0, (tmp_path / "bf2.log").read_text()[-3000:]
    text = (tmp_path / "bf2.log").read_text()
    assert f"chunk 1/2 {D0}..{D0}: done by run bf-killed, skipping" in text
    assert f"chunk 2/2 {D1}..{D1}: started" in text and f"chunk 1/2 {D0}..{D0}: started" not in text
    assert sorted(p.name for p in checkpoints.glob("*/chunk-*.json")) == [f"chunk-{D0}_{D0}.json", f"chunk-{D1}_{D1}.json"]
    assert assert_tables_equal(spark, snapshot, str(wh)) == ["pings", "quarantine"]
    ran = {c.user_metadata for c in deltalog.commits_since(spark, str(wh), {})}
    assert ran == {"bf-killed", "bf-resumed"}                  # chunk 1 by the first process, chunk 2 by the second


@pytest.mark.integration
@pytest.mark.slow
def test_sigkill_during_a_delta_write_leaves_the_last_version_and_a_rerun_ends_equal(spark, world, clean_pings, tmp_path):
    local, raw, _ = world
    clean, snapshot = clean_pings
    wh = tmp_path / "wh"
    shutil.copytree(clean.warehouse, wh, ignore=shutil.ignore_patterns("_metastore", "_ops"))
    pings = wh / "pings"
    before_files, before_log = _data_files(pings), _log_versions(pings)
    good_version = RsDeltaTable(str(pings)).version()
    proc = _impact(["run", "--date", D1.isoformat(), "--stages", "ingest", "--source", "airwave_pings",
                    "--warehouse", str(wh), "--raw-root", str(raw), "--run-id", "killed", "--no-validate"],
                   tmp_path / "killed.log")
    deadline, in_flight = time.monotonic() + 1800, set()
    while time.monotonic() < deadline and proc.poll() is None:
        in_flight = _data_files(pings) - before_files
        if in_flight and _log_versions(pings) == before_log:
            _kill(proc)                                         # data files written, commit not yet made
            break
        time.sleep(0.005)
    else:
        _kill(proc) if proc.poll() is None else None
    assert in_flight, "the run never started writing pings: " + (tmp_path / "killed.log").read_text()[-3000:]
    assert _log_versions(pings) == before_log, "the commit landed before the kill: no write was in flight"
    # a reader sees the last good version, whole: the files of the killed write are not part of it
    reader = RsDeltaTable(str(pings))
    assert reader.version() == good_version
    assert not {Path(u).name for u in reader.file_uris()} & {Path(f).name for f in in_flight}
    assert_tables_equal(spark, snapshot, str(wh), only={"pings"})
    day = _table(spark, str(pings)).where(F.col("fix_date") == D1).count()
    assert day == _table(spark, *snapshot["pings"]).where(F.col("fix_date") == D1).count() > 0
    # a re-run of the same day ends equal to the clean run
    rerun = local.with_overrides(warehouse=str(wh))
    execute_stages(spark, rerun, [StageRun("ingest", (D1, D1))], "after-kill", source="airwave_pings")
    assert assert_tables_equal(spark, snapshot, str(wh)) == ["pings", "quarantine"]


@pytest.mark.integration
@pytest.mark.slow
def test_maintain_expires_compacts_and_vacuums(spark, world, clean_pings, tmp_path):
    local, _, _ = world
    _, snapshot = clean_pings
    wh = tmp_path / "wh"
    for name in ("pings", "quarantine"):
        shutil.copytree(snapshot[name][0].removeprefix("file:"), wh / name)
    settings = local.with_overrides(warehouse=str(wh))
    pings_before = _table(spark, str(wh / "pings"))
    d1_rows, rows_before = pings_before.where(F.col("fix_date") == D1).count(), pings_before.count()   # counted now: the
    # DataFrame is lazy and would read the table as it is after maintain
    assert pings_before.where(F.col("fix_date") == D0).count() > 0 and d1_rows > 0
    conf = MaintenanceConf(vacuum_retain_hours=168, keep_days={"pings": 1})
    with pytest.raises(UnsafeRetention):
        maintain(spark, settings, conf, 0, D1 + timedelta(days=1))
    report = maintain(spark, settings, conf, 0, D1 + timedelta(days=1), unsafe=True)
    assert set(report) == {"pings", "quarantine"}
    after = _table(spark, str(wh / "pings"))
    assert after.where(F.col("fix_date") == D0).count() == 0                  # older than keep_days: gone
    assert after.where(F.col("fix_date") == D1).count() == d1_rows             # the rest untouched
    assert report["pings"]["rows_deleted"] == rows_before - d1_rows
    for name in ("pings", "quarantine"):
        live = {Path(u).name for u in RsDeltaTable(str(wh / name)).file_uris()}
        on_disk = {Path(f).name for f in _data_files(wh / name)}
        assert report[name]["files_after"] == len(on_disk) and on_disk == live   # only live files remain
        assert report[name]["files_after"] <= report[name]["files_before"]
    assert report["pings"]["files_after"] < report["pings"]["files_before"]   # the expired day's files are gone
    assert_tables_equal(spark, {"quarantine": snapshot["quarantine"]}, str(wh))
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"
    assert spark.conf.get(LISTING_PARALLELISM_CONF, None) is None                # not left set for the session


@pytest.fixture(scope="module")
def first(spark, world):
    """D0 ingested, then the daily run for D1 (ingest D1, visits + presence D0..D1, register) in-process."""
    local, _, _ = world
    execute_stages(spark, local, [StageRun("ingest", (D0, D0))], "setup-d0")
    results = execute_stages(spark, local, daily_plan(D1, STAGES), "first-d1")
    return local, results, _snapshot(spark, local.warehouse)


@pytest.mark.integration
@pytest.mark.slow
def test_rerun_of_a_day_equals_the_first_run_and_commits_carry_the_run_id(spark, first):
    local, results, snapshot = first
    assert [r.stage for r in results] == list(STAGES) and all(r.status == "ok" for r in results)
    by_stage = {r.stage: r for r in results}
    assert by_stage["visits"].rows_in > 0 and by_stage["visits"].rows_by_table["visits"] > 0
    assert by_stage["presence"].rows_by_table["fact_presence_hour"] > 0
    again = execute_stages(spark, local, daily_plan(D1, STAGES), "second-d1")
    compared = assert_tables_equal(spark, snapshot, local.warehouse)
    assert {"pings", "visits", "quarantine", "fact_visit", "fact_presence_hour", "fact_area_day", "dim_area"} <= set(compared)
    # the same rows written, stage by stage and table by table; a dimension whose content did not change
    # is not rewritten (no commit), so it is the only kind of table the re-run may leave out
    for a, b in zip(results, again):
        assert set(b.rows_by_table) <= set(a.rows_by_table), a.stage
        assert {t: a.rows_by_table[t] for t in b.rows_by_table} == b.rows_by_table, a.stage
        skipped = set(a.rows_by_table) - set(b.rows_by_table)
        assert all(t.startswith("dim_") for t in skipped), (a.stage, skipped)
    assert {"dim_area", "dim_date"} <= set(results[2].rows_by_table) - set(again[2].rows_by_table)
    # every commit of the re-run carries its run id, in the Delta history Spark shows
    commits = deltalog.commits_since(spark, local.warehouse, {n: v for n, (_, v) in snapshot.items()})
    assert commits and all(c.user_metadata == "second-d1" for c in commits), \
        [(c.table, c.version, c.user_metadata) for c in commits if c.user_metadata != "second-d1"]
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, local.table_path("visits")).history(1).first()
    assert history["userMetadata"] == "second-d1"
    assert spark.conf.get(deltalog.USER_METADATA_CONF, None) is None          # not left set after the stage
    registered = {r.tableName for r in spark.sql(f"SHOW TABLES IN {DATABASE}").collect()}
    assert {"visits", "fact_area_day", "pings"} <= registered
    # every stage of the re-run left a run_log row a person can read, register included
    logged = {r.step: r for r in _table(spark, local.table_path("run_log")).where(F.col("run_id") == "second-d1").collect()}
    assert {"airwave_pings", "visits", "presence", "register"} <= set(logged), sorted(logged)
    assert all(r.status in ("ok", "no_input") for r in logged.values()), {k: r.status for k, r in logged.items()}
    assert logged["register"].rows_accepted == len(registered & set(deltalog.table_folders(spark, local.warehouse)))
    # ... with who ran it, which code, and the Delta version of every table a window stage read
    from importlib.metadata import version

    assert {(r.principal, r.code_version) for r in logged.values()} == {(getpass.getuser(), version("impact-presence"))}
    latest = deltalog.versions(spark, local.warehouse)
    assert logged["airwave_pings"].input_tables is None and logged["airwave_pings"].input_files
    visits_read = logged["visits"].input_tables
    assert {"pings", "areas", "officer_postings", "area_zones"} <= set(visits_read), visits_read
    assert visits_read["pings"] == latest["pings"]          # what this run's ingest wrote; nothing wrote it since
    presence_read = logged["presence"].input_tables
    assert {"visits", "crimes", "incidents", "area_zones", "officer_postings"} <= set(presence_read), presence_read
    assert presence_read["visits"] == latest["visits"] and presence_read["crimes"] == latest["crimes"]


@pytest.mark.integration
def test_a_step_that_is_not_a_window_job_leaves_a_run_log_row(spark, settings, tmp_path):
    """register and maintain log through `logged_step`: ok with its figures, or failed with a one-line
    error (the exception still raised)."""
    from impact.runlog import logged_step

    local = settings.with_overrides(warehouse=str(tmp_path / "wh"))
    with logged_step(spark, local, "maintain", "maintain-ok") as step:
        step.rows_read, step.rows_accepted = 3, 120
    with pytest.raises(ValueError, match="no such table"):
        with logged_step(spark, local, "maintain", "maintain-failed"):
            raise ValueError("no such table: pings\n  at a stack frame")
    rows = {r.run_id: r for r in _table(spark, local.table_path("run_log")).collect()}
    assert rows["maintain-ok"].status == "ok" and (rows["maintain-ok"].rows_read, rows["maintain-ok"].rows_accepted) == (3, 120)
    assert rows["maintain-failed"].status == "failed"
    assert rows["maintain-failed"].error == "ValueError: no such table: pings"
    assert rows["maintain-failed"].finished_at_utc >= rows["maintain-failed"].started_at_utc


@pytest.mark.integration
def test_a_run_log_from_before_the_audit_columns_takes_new_rows(spark, settings, tmp_path):
    """A warehouse whose run_log was created without principal / code_version / input_tables (an earlier
    version of the package) gains the columns on the next append; its old rows keep theirs, null there."""
    from impact.runlog import logged_step
    from impact.schemas import table_schema
    from pyspark.sql.types import StructType

    local = settings.with_overrides(warehouse=str(tmp_path / "wh"))
    new_columns = ("principal", "code_version", "input_tables")
    full = table_schema("run_log").struct()
    old = StructType([f for f in full.fields if f.name not in new_columns])
    assert len(old.fields) == len(full.fields) - len(new_columns)
    row = {f.name: None for f in old.fields}
    row.update(run_id="old-run", job="ingest", step="airwave_pings", status="ok")
    row["started_at_utc"] = row["finished_at_utc"] = __import__("datetime").datetime(2026, 3, 1)
    spark.createDataFrame([tuple(row[f.name] for f in old.fields)], old).write.format("delta").save(local.table_path("run_log"))
    with logged_step(spark, local, "maintain", "new-run") as step:
        step.rows_read = 1
    log_rows = {r.run_id: r for r in _table(spark, local.table_path("run_log")).collect()}
    assert set(log_rows) == {"old-run", "new-run"}
    assert log_rows["old-run"].principal is None and log_rows["old-run"].status == "ok"
    assert log_rows["new-run"].principal == getpass.getuser() and log_rows["new-run"].code_version


def test_window_stages_size_their_shuffles_from_the_raw_daily_extracts(spark, settings, tmp_path, caplog):
    """A backfill chunk's stages raise spark.sql.shuffle.partitions with the raw extracts of their window (a
    week of force pings in the profile's 8 partitions spilled); a small window keeps the session's value."""
    from impact.ingest.contract import load_contracts
    from impact.ingest.read import daily_input_bytes
    from impact.ops.stages import size_shuffle_partitions

    mib = 1024 ** 2
    pings = tmp_path / "raw" / "airwave_pings"
    pings.mkdir(parents=True)
    sizes = {"pings_20260316.csv": 1536 * mib, "pings_20260317.csv": 1536 * mib,      # sparse: no disk used
             "pings_20260318.csv.gz": 512 * mib, "pings_20260319.csv": 16 * mib}      # a compressed day counts as stored
    for name, size in {**sizes, "pings_20260316.csv.bak": 4096 * mib}.items():          # a stray copy is not input
        with open(pings / name, "wb") as f:
            f.truncate(size)
    local = settings.with_overrides(raw_root=str(tmp_path / "raw"))
    contracts = list(load_contracts(local.sources_path).sources.values())
    session_value = spark.sparkContext.getConf().get("spark.sql.shuffle.partitions")
    try:
        assert daily_input_bytes(spark, contracts, local.raw_root, date(2026, 3, 16), date(2026, 3, 19)) == sum(sizes.values())
        assert daily_input_bytes(spark, contracts, local.raw_root, date(2026, 3, 20), date(2026, 3, 22)) == 0   # no files

        with caplog.at_level("INFO", logger="impact.ops.stages"):
            week = size_shuffle_partitions(spark, local, StageRun("visits", (date(2026, 3, 16), date(2026, 3, 18))))
        assert week == 28 and spark.conf.get("spark.sql.shuffle.partitions") == "28"      # 3.5 GiB / 128 MiB
        assert "28 shuffle partitions for 3.50 GiB" in caplog.text
        # the next, small window goes back to the session's own value, not the raised one
        day = size_shuffle_partitions(spark, local, StageRun("ingest", (date(2026, 3, 19), date(2026, 3, 19))))
        assert str(day) == session_value == spark.conf.get("spark.sql.shuffle.partitions")
        # extracts that cannot be listed keep the session's value and do not fail the run
        nowhere = local.with_overrides(raw_root="nosuchscheme://nowhere")
        assert str(size_shuffle_partitions(spark, nowhere, StageRun("presence", (date(2026, 3, 16), date(2026, 3, 18))))) == session_value
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", session_value)
