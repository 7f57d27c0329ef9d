"""Run the pipeline's stages in one Spark session: the existing job functions, each tagged with the run id.

Each stage sets `spark.databricks.delta.commitInfo.userMetadata` to the run id for its duration, so
every Delta commit it makes (tables, quarantine, run_log) can be traced to the run in the table history.
Around the stage the Delta logs are read to report what it wrote (tables, versions, rows).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from impact.config import Settings
from impact.ops import deltalog
from impact.ops.plan import STAGE_ORDER, StageRun

log = logging.getLogger(__name__)

ANALYSIS_MODULE = "impact.analysis.pipeline"


# A critical data-quality check failed on a stage's output (exit code 4): the ingest GX gate, or the
# marts' publication gate (impact.quality), which raises this same class.
from impact.quality import QualityGateFailed  # noqa: E402


class SourceFailed(RuntimeError):
    """One or more ingest sources failed (exit code 3); later stages are not run on incomplete inputs."""




@dataclass
class StageResult:
    """What one stage run did: the progress line and the run summary are built from it."""

    stage: str
    window: tuple[date, date] | None
    run_id: str
    status: str = "ok"
    rows_in: int | None = None
    rows_out: int = 0
    seconds: float = 0.0
    outputs: dict[str, int] = field(default_factory=dict)     # table -> version written
    rows_by_table: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = [d.isoformat() for d in self.window] if self.window else None
        return out


def available_stages() -> tuple[str, ...]:
    """The stages this installation can run (analysis only when its module is installed)."""
    has_analysis = importlib.util.find_spec("impact.analysis") is not None and \
        importlib.util.find_spec(ANALYSIS_MODULE) is not None
    return tuple(s for s in STAGE_ORDER if s != "analysis" or has_analysis)


def _count_between(spark: SparkSession, settings: Settings, table: str, column: str, lo: date, hi: date) -> int | None:
    from impact.tables import table_exists

    path = settings.table_path(table)
    if not table_exists(spark, path):
        return None
    return spark.read.format("delta").load(path).where(F.col(column).between(F.lit(lo), F.lit(hi))).count()


def _ingest(spark: SparkSession, settings: Settings, run: StageRun, run_id: str, result: StageResult,
            source: str, argv: list[str]) -> None:
    from impact.ingest.pipeline import run_ingest

    steps = run_ingest(spark, settings, source, run.window, run_id, argv)
    result.rows_in = sum(s.rows_read for s in steps)
    result.detail = {s.source: {"status": s.status, "read": s.rows_read, "accepted": s.rows_accepted,
                                "quarantined": s.rows_quarantined, "validation_success": s.validation_success}
                     for s in steps}
    # A Great Expectations failure surfaces as a failed step whose error names the failed expectations
    gate = [s for s in steps if s.status in ("validation_failed", "gate_failed") or (
        s.status == "failed" and (s.validation_success is False or "accepted rows failed" in (s.error or "")))]
    failed = [s for s in steps if s.status in ("failed", "all_quarantined") and s not in gate]
    if gate:
        raise QualityGateFailed("quality gate failed for " + "; ".join(f"{s.source}: {s.error}" for s in gate))
    if failed:
        raise SourceFailed("source(s) failed: " + "; ".join(f"{s.source}: {s.error}" for s in failed))


def _visits(spark: SparkSession, settings: Settings, run: StageRun, run_id: str, result: StageResult) -> None:
    from impact.visits.pipeline import run_visits

    lo, hi = run.window
    result.rows_in = _count_between(spark, settings, "pings", "fix_date", lo, hi)
    result.detail = run_visits(spark, settings, lo, hi, run_id)


def _presence(spark: SparkSession, settings: Settings, run: StageRun, run_id: str, result: StageResult) -> None:
    from impact.presence.pipeline import run_presence

    lo, hi = run.window
    result.rows_in = _count_between(spark, settings, "visits", "visit_date", lo, hi)
    result.detail = run_presence(spark, settings, lo, hi, run_id)


def _analysis(spark: SparkSession, settings: Settings, run: StageRun, run_id: str, result: StageResult) -> None:
    module = importlib.import_module(ANALYSIS_MODULE)
    runner = getattr(module, "run_analysis", None)
    if runner is None:
        raise RuntimeError(f"{ANALYSIS_MODULE} has no run_analysis(spark, settings, start, end, run_id)")
    lo, hi = run.window
    result.rows_in = _count_between(spark, settings, "fact_area_day", "local_date", lo, hi)
    out = runner(spark, settings, lo, hi, run_id)
    result.detail = out if isinstance(out, dict) else {"result": str(out)}


def _register(spark: SparkSession, settings: Settings, run: StageRun, run_id: str, result: StageResult) -> None:
    if not settings.metastore_enabled:
        result.status = "skipped"
        result.detail = {"reason": f"metastore.enabled is false in {settings.conf_path}"}
        return
    from impact.serve.metastore import register_settings_warehouse

    tables = deltalog.table_folders(spark, settings.warehouse)
    result.rows_in = len(tables)
    names = register_settings_warehouse(spark, settings, run_id)
    result.detail = {"registered": names}


SIZED_STAGES = ("ingest", "visits", "presence")      # their shuffles grow with the window's pings


def size_shuffle_partitions(spark: SparkSession, settings: Settings, run: StageRun) -> int:
    """Set `spark.sql.shuffle.partitions` for a window stage from the raw daily extracts of its window
    (`impact.session.shuffle_partitions_for`: the session's value, raised so that no partition holds much
    more than 128 MiB of raw input; 50M pings in 8 partitions spilled). A force-day stays at the session's
    value (the profile's 8 locally, 400 on the cluster), so daily runs are unchanged. Sizing never fails a
    run: if the extracts cannot be listed the session's value is kept."""
    from impact.ingest.contract import load_contracts
    from impact.ingest.pipeline import resolve_sources
    from impact.ingest.read import daily_input_bytes
    from impact.runlog import one_line_error
    from impact.session import shuffle_partitions_for

    # the session's own value as it was built (profile, spark-submit --conf or a test's override), not the
    # runtime value, which the previous stage may have raised
    configured = int(spark.sparkContext.getConf().get(
        "spark.sql.shuffle.partitions", settings.spark_conf.get("spark.sql.shuffle.partitions", "200")))
    try:
        sources = resolve_sources(load_contracts(settings.sources_path), "force")
        size = daily_input_bytes(spark, sources, settings.raw_root, run.window[0], run.window[1])
    except Exception as error:  # noqa: BLE001 - the profile's value is always a valid choice
        log.warning("stage %s: raw input not sized (%s); shuffle partitions %d", run.stage, one_line_error(error), configured)
        size = 0
    partitions = shuffle_partitions_for(size, configured)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    if partitions != configured:
        log.info("stage %s: %d shuffle partitions for %.2f GiB of raw daily extracts (session: %d)", run.stage,
                 partitions, size / 1024 ** 3, configured)
    return partitions


def run_stage(spark: SparkSession, settings: Settings, run: StageRun, run_id: str,
              source: str = "force", argv: list[str] | None = None) -> StageResult:
    """Run one stage with the run id on its Delta commits; raises SourceFailed / QualityGateFailed /
    anything else after logging the stage's progress line."""
    result = StageResult(run.stage, run.window, run_id)
    window = f" {run.window[0]}..{run.window[1]}" if run.window else ""
    log.info("stage %s%s: started (run %s)", run.stage, window, run_id)
    before = deltalog.versions(spark, settings.warehouse)
    spark.conf.set(deltalog.USER_METADATA_CONF, run_id)
    t0 = time.monotonic()
    try:
        if run.window and run.stage in SIZED_STAGES:
            size_shuffle_partitions(spark, settings, run)
        if run.stage == "ingest":
            _ingest(spark, settings, run, run_id, result, source, argv or [])
        elif run.stage == "visits":
            _visits(spark, settings, run, run_id, result)
        elif run.stage == "presence":
            _presence(spark, settings, run, run_id, result)
        elif run.stage == "analysis":
            _analysis(spark, settings, run, run_id, result)
        elif run.stage == "register":
            _register(spark, settings, run, run_id, result)
        else:
            raise ValueError(f"unknown stage {run.stage}")
    except Exception as error:
        result.status = "failed"
        result.error = f"{type(error).__name__}: {error}"[:4000]
        try:
            error.stage_result = result                          # the caller's run summary keeps it
        except AttributeError:
            pass
        raise
    finally:
        spark.conf.unset(deltalog.USER_METADATA_CONF)
        result.seconds = time.monotonic() - t0
        for commit in deltalog.commits_since(spark, settings.warehouse, before):
            result.outputs[commit.table] = max(commit.version, result.outputs.get(commit.table, -1))
            result.rows_by_table[commit.table] = result.rows_by_table.get(commit.table, 0) + commit.rows_written
            if commit.user_metadata != run_id:
                log.warning("%s v%d (%s) does not carry the run id %s", commit.table, commit.version,
                            commit.operation, run_id)
        result.rows_out = sum(result.rows_by_table.values())
        written = ", ".join(f"{t} v{v} ({result.rows_by_table[t]} rows)" for t, v in sorted(result.outputs.items()))
        log.info("stage %s%s: %s, rows in %s, rows out %d, %.1f s%s", run.stage, window, result.status,
                 "-" if result.rows_in is None else result.rows_in, result.rows_out, result.seconds,
                 f"; wrote {written}" if written else "")
    return result


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
