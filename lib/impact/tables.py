"""Delta table I/O (the write edge of every job): idempotent partial overwrites, appends, versions."""
from __future__ import annotations

import logging
from datetime import date

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
    """Append rows (run log)."""
    schema = table_schema(table)
    path = settings.table_path(table)
    writer = schema.conform(df).write.format("delta").mode("append")
    if schema.partition_by:
        writer = writer.partitionBy(*schema.partition_by)
    writer.save(path)
    return table_version(df.sparkSession, path)


def table_version(spark: SparkSession, path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])


def read_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """Read a Delta table by name from the warehouse, with a clear error if it was never written."""
    path = settings.table_path(table)
    if not table_exists(spark, path):
        raise FileNotFoundError(f"table {table} not found at {path}: run the job that writes it first")
    return spark.read.format("delta").load(path)


def read_events_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame:
    """An event source's table (crimes, incidents, searches, resources), or none of its rows if no
    extract has been ingested yet (a fresh warehouse whose first days had no stop-search file): a source
    that has never delivered holds no events, which is not an error for the marts. Logged."""
    path = settings.table_path(table)
    if table_exists(spark, path):
        return spark.read.format("delta").load(path)
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
