"""The backfill checkpoint: one small JSON file per finished chunk under `<warehouse>/_ops/backfill/<key>/`.

A chunk's file is written (to a temporary name, then renamed) only after every stage of the chunk has
committed, so a backfill killed at any point and started again with the same arguments skips exactly
the chunks that finished. Files live beside the tables on the same file system (local or HDFS); `_`
folders are never taken for tables.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from impact.ops.plan import Chunk
from impact.tables import hadoop_path

log = logging.getLogger(__name__)


def backfill_key(start: date, end: date, chunk_days: int, stages: tuple[str, ...], source: str) -> str:
    """Folder name of one backfill's checkpoint: the same arguments give the same key."""
    digest = hashlib.sha1(f"{','.join(stages)}|{source}".encode()).hexdigest()[:8]
    return f"{start.isoformat()}_{end.isoformat()}_c{chunk_days}_{digest}"


class Checkpoint:
    """Finished chunks of one backfill, persisted under `<warehouse>/_ops/backfill/<key>`."""

    def __init__(self, spark: SparkSession, warehouse: str, key: str):
        self.spark = spark
        self.folder = f"{warehouse.rstrip('/')}/_ops/backfill/{key}"

    def _path(self, name: str):
        return hadoop_path(self.spark, f"{self.folder}/{name}")

    def done(self) -> dict[str, dict[str, Any]]:
        """`chunk key -> record` of every finished chunk."""
        fs, folder = hadoop_path(self.spark, self.folder)
        if not fs.exists(folder):
            return {}
        out = {}
        for status in fs.listStatus(folder):
            name = status.getPath().getName()
            if name.startswith("chunk-") and name.endswith(".json"):
                out[name[len("chunk-"):-len(".json")]] = json.loads(self._read(status.getPath()))
        return out

    def _read(self, path) -> str:
        fs = path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        stream = fs.open(path)
        try:
            return self.spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()

    def mark_done(self, chunk: Chunk, record: dict[str, Any]) -> None:
        """Record a finished chunk atomically (write `.tmp`, then rename into place)."""
        fs, tmp = self._path(f".chunk-{chunk.key}.json.tmp")
        _, final = self._path(f"chunk-{chunk.key}.json")
        out = fs.create(tmp, True)
        try:
            out.write(bytearray(json.dumps(record, indent=1, sort_keys=True, default=str).encode("utf-8")))
        finally:
            out.close()
        if fs.exists(final):
            fs.delete(final, False)
        if not fs.rename(tmp, final):
            raise OSError(f"could not rename {tmp} to {final}")
        log.info("checkpoint: chunk %s done (%s)", chunk.key, self.folder)

    def clear(self) -> None:
        """Forget every finished chunk (`--fresh`)."""
        fs, folder = hadoop_path(self.spark, self.folder)
        if fs.exists(folder):
            fs.delete(folder, True)


def read_json(spark: SparkSession, location: str) -> dict[str, Any] | None:
    """One JSON document from any Hadoop file system (None if there is none at `location`)."""
    fs, path = hadoop_path(spark, location)
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        return json.loads(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
    finally:
        stream.close()


def write_json(spark: SparkSession, location: str, record: dict[str, Any]) -> None:
    """Write one JSON document (a run summary) to any Hadoop file system."""
    fs, path = hadoop_path(spark, location)
    out = fs.create(path, True)
    try:
        out.write(bytearray(json.dumps(record, indent=1, sort_keys=True, default=str).encode("utf-8")))
    finally:
        out.close()
