"""Delta table I/O (the write edge of every job): idempotent partial overwrites, appends, versions."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import date
from typing import Iterator

from pyspark.sql import DataFrame, SparkSession

from impact.config import Settings
from impact.schemas import table_schema

log = logging.getLogger(__name__)


class OwnershipError(RuntimeError):
    """A write would replace rows outside the slice its run owns."""


def sql_literal(value: object) -> str:
    """A SQL literal for a replaceWhere predicate (strings and dates quoted, quotes escaped)."""
    if isinstance(value, (date, str)):
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)


def replace_predicate(equals: dict[str, object] | None = None, date_column: str | None = None,
                      window: tuple[date, date] | None = None) -> str | None:
    """`a = 'x' AND d >= '...' AND d <= '...'`, or None for a full overwrite."""
    parts = [f"{k} = {sql_literal(v)}" for k, v in (equals or {}).items()]
    if date_column and window:
        parts.append(f"{date_column} >= {sql_literal(window[0])} AND {date_column} <= {sql_literal(window[1])}")
    return " AND ".join(parts) or None


def hadoop_path(spark: SparkSession, location: str):
    """(Hadoop FileSystem, Path) for a location on any file system Spark can reach (file:, hdfs:, ...)."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(location)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def table_exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def write_table(df: DataFrame, settings: Settings, table: str, replace_where: str | None) -> int:
    """Overwrite the rows of `table` matching `replace_where` (all rows if None) with `df`.

    Re-running the same inputs gives the same table: the slice a run owns is replaced, never appended to.
    Returns the table's Delta version after the write.
    """
    schema = table_schema(table)
    path = settings.table_path(table)
    if replace_where is None and schema.partition_by:
        # A partitioned table is shared by runs (dates, months, sources): no run owns all of it.
        raise OwnershipError(f"refusing to overwrite the whole of {table}: a run replaces only the slice "
                             f"its input declares (partitioned by {', '.join(schema.partition_by)})")
    writer = schema.conform(df).write.format("delta").mode("overwrite")
    if schema.partition_by:
        writer = writer.partitionBy(*schema.partition_by)
    if replace_where is None:
        writer = writer.option("overwriteSchema", "true")     # a full snapshot replaces the table whole
    elif table_exists(df.sparkSession, path):
        writer = writer.option("replaceWhere", replace_where)
    # else: the first write of a partially-owned table simply creates it
    writer.save(path)
    version = table_version(df.sparkSession, path)
    log.info("wrote %s (version %d)%s", table, version, f" where {replace_where}" if replace_where else "")
    return version


def append_table(df: DataFrame, settings: Settings, table: str) -> int:
    """Append rows (run log). Columns the schema has gained since the table was created are added to it
    (mergeSchema: a run log written by an earlier version of the package keeps its rows, null there)."""
    schema = table_schema(table)
    path = settings.table_path(table)
    writer = schema.conform(df).write.format("delta").mode("append").option("mergeSchema", "true")
    if schema.partition_by:
        writer = writer.partitionBy(*schema.partition_by)
    writer.save(path)
    return table_version(df.sparkSession, path)


def latest_version(spark: SparkSession, folder: str) -> int:
    """Highest committed version of the Delta table at `folder` (-1 if it has no commit yet), from a
    listing of its `_delta_log` (no Spark job: `DeltaTable.history` costs one, about 0.3-0.8 s, per write)."""
    fs, log_dir = hadoop_path(spark, f"{folder.rstrip('/')}/_delta_log")
    if not fs.exists(log_dir):
        return -1
    names = [s.getPath().getName() for s in fs.listStatus(log_dir)]
    return max((int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()), default=-1)


def table_version(spark: SparkSession, path: str) -> int:
    """The table's Delta version now (after a write: the version that write committed)."""
    version = latest_version(spark, path)
    if version < 0:
        raise FileNotFoundError(f"no Delta table at {path}")
    return version


# Open `recording_reads` blocks: each collects `table -> Delta version` of the tables read inside it.
_READ_RECORDERS: list[dict[str, int]] = []


@contextmanager
def recording_reads() -> Iterator[dict[str, int]]:
    """`with recording_reads() as reads:` collects `table -> Delta version` of every table that
    `read_table` / `read_events_table` load inside the block: the latest version read there (a dimension
    compared before it is rewritten, then read again, counts with the version read after; the run log's
    `input_tables`). An event table never written, read as empty, is recorded as -1."""
    reads: dict[str, int] = {}
    _READ_RECORDERS.append(reads)
    try:
        yield reads
    finally:   # by identity: list.remove would take the first *equal* dict (two empty ones are equal)
        del _READ_RECORDERS[next(i for i, r in enumerate(_READ_RECORDERS) if r is reads)]


def _note_read(spark: SparkSession, table: str, path: str | None) -> None:
    if not _READ_RECORDERS:
        return
    version = latest_version(spark, path) if path else -1
    for reads in _READ_RECORDERS:
        reads[table] = max(version, reads.get(table, -1))


def read_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """Read a Delta table by name from the warehouse, with a clear error if it was never written."""
    path = settings.table_path(table)
    if not table_exists(spark, path):
        raise FileNotFoundError(f"table {table} not found at {path}: run the job that writes it first")
    _note_read(spark, table, path)
    return spark.read.format("delta").load(path)


def read_events_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """An event source's table (crimes, incidents, searches, resources), or none of its rows if no
    extract has been ingested yet (a fresh warehouse whose first days had no stop-search file): a source
    that has never delivered holds no events, which is not an error for the marts. Logged."""
    path = settings.table_path(table)
    if table_exists(spark, path):
        _note_read(spark, table, path)
        return spark.read.format("delta").load(path)
    _note_read(spark, table, None)
    log.warning("table %s not found at %s: no %s rows yet (no extract ingested); read as empty", table, path, table)
    return spark.createDataFrame([], table_schema(table).struct())


class Staged:
    """An intermediate result written once to `<warehouse>/_staging/<name>` (Parquet) and read back.

    For a frame that several actions read (counts, validation, two writes): a cache of billions of wide
    rows does not fit in executor memory and spills with heavy GC, while Parquet is written once,
    sequentially, and each later action reads only the columns it needs. The folder is removed on exit
    (`_` folders are never tables: registration and discovery skip them).
    """

    def __init__(self, spark: SparkSession, settings: Settings, name: str):
        self.spark = spark
        self.path = f"{settings.warehouse.rstrip('/')}/_staging/{name}"

    def write(self, df: DataFrame) -> DataFrame:
        df.write.mode("overwrite").parquet(self.path)
        return self.spark.read.parquet(self.path)

    def __enter__(self) -> "Staged":
        return self

    def __exit__(self, *exc: object) -> None:
        fs, path = hadoop_path(self.spark, self.path)
        if fs.exists(path) and not fs.delete(path, True):
            log.warning("could not remove staging folder %s", self.path)
