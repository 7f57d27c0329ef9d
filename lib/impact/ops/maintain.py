"""`impact maintain`: row retention, compaction and VACUUM of the warehouse's Delta tables.

Settings come from the `maintenance:` key of the environment file (conf/local.yaml, conf/cluster.yaml):

- `keep_days: {table: days}`: rows whose partition date is more than `days` before the as-of date are
  deleted (a Delta DELETE: old versions still hold them until VACUUM removes the files).
- `optimize: true`: OPTIMIZE (bin-packing compaction of small files) of every table.
- `vacuum_retain_hours`: VACUUM keeps the files any version of the last N hours needs; readers or jobs
  running longer than N hours, and time travel beyond N hours, fail after a lower value.
- `min_vacuum_retain_hours` (default 168, Delta's own safety check): a lower retention is refused unless
  the caller says `--unsafe-retention` (only when no reader or writer is running).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from impact.config import ConfigError, Settings, load_yaml
from impact.ops import deltalog
from impact.schemas import table_schema
from impact.tables import hadoop_path

log = logging.getLogger(__name__)

SAFE_RETAIN_HOURS = 168.0
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"
# VACUUM lists the table's folders in a Spark job of this many tasks (Spark's default 10,000): on a small
# table nearly all of them are empty, and a 4-file table took 36-58 s to vacuum on 2 cores instead of 2.6 s
LISTING_PARALLELISM_CONF = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
MAX_LISTING_PARALLELISM = 10_000


def listing_parallelism(files: int, default_parallelism: int) -> int:
    """Tasks for VACUUM's listing: one per data file at most (at least the cluster's default parallelism),
    never more than Spark's own default."""
    return max(1, default_parallelism, min(MAX_LISTING_PARALLELISM, files))


class UnsafeRetention(ValueError):
    """VACUUM retention below the configured minimum without --unsafe-retention (exit code 2)."""


@dataclass(frozen=True)
class MaintenanceConf:
    """The `maintenance:` settings (hours, days)."""

    vacuum_retain_hours: float = SAFE_RETAIN_HOURS
    min_vacuum_retain_hours: float = SAFE_RETAIN_HOURS
    optimize: bool = True
    keep_days: dict[str, int] = field(default_factory=dict)


def load_maintenance(settings: Settings) -> MaintenanceConf:
    """Read `maintenance:` from the environment file; unknown keys and tables are errors."""
    raw = load_yaml(settings.conf_path).get("maintenance") or {}
    unknown = set(raw) - set(MaintenanceConf.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"{settings.conf_path}: maintenance: unknown setting(s) {sorted(unknown)}")
    keep = {str(k): int(v) for k, v in (raw.get("keep_days") or {}).items()}
    for table, days in keep.items():
        schema = table_schema(table)                          # raises on an unknown table
        if not schema.partition_by:
            raise ConfigError(f"maintenance.keep_days: {table} has no date partition to expire by")
        if days < 1:
            raise ConfigError(f"maintenance.keep_days: {table} must keep at least 1 day (got {days})")
    return MaintenanceConf(
        vacuum_retain_hours=float(raw.get("vacuum_retain_hours", SAFE_RETAIN_HOURS)),
        min_vacuum_retain_hours=float(raw.get("min_vacuum_retain_hours", SAFE_RETAIN_HOURS)),
        optimize=bool(raw.get("optimize", True)),
        keep_days=keep,
    )


def check_retention(hours: float, conf: MaintenanceConf, unsafe: bool) -> None:
    """Refuse a VACUUM retention below the configured minimum unless explicitly allowed."""
    if hours < 0:
        raise UnsafeRetention(f"VACUUM retention must be >= 0 hours (got {hours})")
    if hours < conf.min_vacuum_retain_hours and not unsafe:
        raise UnsafeRetention(
            f"VACUUM retention {hours:g} h is below the minimum {conf.min_vacuum_retain_hours:g} h "
            "(maintenance.min_vacuum_retain_hours): running readers and time travel would break. "
            "Pass --unsafe-retention only when no job or reader is using the tables.")


def data_files(spark: SparkSession, folder: str) -> int:
    """Number of Parquet data files under a table folder (any version's), for before/after figures."""
    fs, path = hadoop_path(spark, folder)
    files = fs.listFiles(path, True)
    count = 0
    while files.hasNext():
        status = files.next()
        name = status.getPath().getName()
        if name.endswith(".parquet") and "/_delta_log/" not in status.getPath().toString():
            count += 1
    return count


def maintain(spark: SparkSession, settings: Settings, conf: MaintenanceConf, retain_hours: float,
             as_of: date, tables: list[str] | None = None, unsafe: bool = False) -> dict[str, dict[str, Any]]:
    """Expire old rows, compact and vacuum each table; returns per-table figures."""
    from delta.tables import DeltaTable

    check_retention(retain_hours, conf, unsafe)
    folders = deltalog.table_folders(spark, settings.warehouse)
    if tables:
        missing = sorted(set(tables) - set(folders))
        if missing:
            raise FileNotFoundError(f"no Delta table under {settings.warehouse} for: {', '.join(missing)}")
        folders = {t: folders[t] for t in tables}
    report: dict[str, dict[str, Any]] = {}
    check_before = spark.conf.get(RETENTION_CHECK_CONF, "true")
    listing_before = spark.conf.get(LISTING_PARALLELISM_CONF, None)
    if retain_hours < SAFE_RETAIN_HOURS:
        spark.conf.set(RETENTION_CHECK_CONF, "false")          # allowed by check_retention above
    try:
        for name, folder in folders.items():
            t0 = time.monotonic()
            table = DeltaTable.forPath(spark, folder)
            entry: dict[str, Any] = {"files_before": data_files(spark, folder)}
            days = conf.keep_days.get(name)
            if days:
                column = table_schema(name).partition_by[0]
                cutoff = as_of - timedelta(days=days)
                before = deltalog.latest_version(spark, folder)
                table.delete(F.col(column) < F.lit(cutoff))
                after = deltalog.latest_version(spark, folder)
                commit = deltalog.read_commit(spark, folder, name, after) if after > before else None
                entry["expired_before"] = cutoff.isoformat()
                entry["rows_deleted"] = int(commit.metrics.get("numDeletedRows", 0)) if commit else 0
            if conf.optimize:
                table.optimize().executeCompaction()
            if listing_before is None:                          # a value the caller set is kept
                spark.conf.set(LISTING_PARALLELISM_CONF, str(listing_parallelism(
                    entry["files_before"], spark.sparkContext.defaultParallelism)))
            table.vacuum(retain_hours)
            entry["files_after"] = data_files(spark, folder)
            entry["version"] = deltalog.latest_version(spark, folder)
            entry["seconds"] = round(time.monotonic() - t0, 1)
            log.info("maintain %s: %d -> %d data files%s, version %d, %.1f s", name, entry["files_before"],
                     entry["files_after"], f", {entry['rows_deleted']} rows before {entry['expired_before']} deleted"
                     if days else "", entry["version"], entry["seconds"])
            report[name] = entry
    finally:
        spark.conf.set(RETENTION_CHECK_CONF, check_before)
        if listing_before is None:
            spark.conf.unset(LISTING_PARALLELISM_CONF)
    return report

