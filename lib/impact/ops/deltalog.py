"""Read Delta transaction logs directly (file listing + the commit JSON), without a Spark job.

Used around each stage to find what it wrote: which tables moved to which version, how many rows each
commit wrote (`operationMetrics.numOutputRows`) and whether the commit carries the run id
(`commitInfo.userMetadata`). Works on any file system Hadoop can reach (file:, hdfs:).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pyspark.sql import SparkSession

from impact.tables import hadoop_path, latest_version  # noqa: F401 - latest_version is part of this module's API

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class Commit:
    """One Delta commit: table, version, operation, rows written, and its userMetadata (the run id)."""

    table: str
    version: int
    operation: str
    rows_written: int
    user_metadata: str | None
    metrics: dict[str, str]


def table_folders(spark: SparkSession, warehouse: str) -> dict[str, str]:
    """`name -> folder` of each Delta table directly under the warehouse (`_*` folders are not tables)."""
    fs, root = hadoop_path(spark, warehouse)
    if not fs.exists(root):
        return {}
    found = {}
    jvm = spark.sparkContext._jvm
    for status in fs.listStatus(root):
        child = status.getPath()
        name = child.getName()
        if status.isDirectory() and not name.startswith(("_", ".")) and fs.exists(jvm.org.apache.hadoop.fs.Path(child, "_delta_log")):
            found[name] = child.toString()
    return dict(sorted(found.items()))


def versions(spark: SparkSession, warehouse: str) -> dict[str, int]:
    """Latest version of every table under the warehouse."""
    return {name: latest_version(spark, folder) for name, folder in table_folders(spark, warehouse).items()}


def read_commit(spark: SparkSession, folder: str, table: str, version: int) -> Commit:
    """Parse `<folder>/_delta_log/<version>.json` into its commitInfo summary."""
    fs, path = hadoop_path(spark, f"{folder.rstrip('/')}/_delta_log/{version:020d}.json")
    stream = fs.open(path)
    try:
        text = spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    info: dict = {}
    for line in text.splitlines():
        action = json.loads(line) if line.strip() else {}
        if "commitInfo" in action:
            info = action["commitInfo"]
    metrics = info.get("operationMetrics") or {}
    return Commit(table, version, str(info.get("operation", "")), int(metrics.get("numOutputRows", 0) or 0),
                  info.get("userMetadata"), {str(k): str(v) for k, v in metrics.items()})


def commits_since(spark: SparkSession, warehouse: str, before: dict[str, int]) -> list[Commit]:
    """Every commit made after the `before` snapshot of versions (new tables from version 0)."""
    out = []
    for name, folder in table_folders(spark, warehouse).items():
        latest = latest_version(spark, folder)
        for version in range(before.get(name, -1) + 1, latest + 1):
            out.append(read_commit(spark, folder, name, version))
    return out
