"""Reading raw extracts (the I/O edge of ingest).

Files are listed and their first line checked through Hadoop's FileSystem API, so the same code reads
local folders and HDFS. Every raw column is read as a string: typing happens in `conform`, where a value
that does not parse is quarantined with a reason instead of silently becoming null.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from impact.ingest.contract import SourceContract
from impact.tables import hadoop_path

log = logging.getLogger(__name__)

CORRUPT = "_corrupt_record"
SOURCE_FILE = "_source_file"
ROW_ID = "_row_id"


class IngestInputError(RuntimeError):
    """Input files are missing, empty or do not have the columns the contract expects."""


@dataclass(frozen=True)
class RawInput:
    """The raw rows of one source for one run: all-string columns plus bookkeeping columns."""

    df: DataFrame
    files: tuple[str, ...]
    raw_columns: tuple[str, ...]


def dates_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _fs_glob(spark: SparkSession, pattern: str) -> list[str]:
    fs, path = hadoop_path(spark, pattern)
    statuses = fs.globStatus(path) or []
    return sorted(str(s.getPath().toString()) for s in statuses if s.isFile())


def _fs_first_line(spark: SparkSession, file: str) -> str | None:
    """First line of a file (None if the file is empty), read without a Spark job."""
    jvm = spark.sparkContext._jvm
    fs, path = hadoop_path(spark, file)
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        line = reader.readLine()
        reader.close()
    finally:
        stream.close()
    return None if line is None else line.lstrip("\ufeff")


def list_input_files(spark: SparkSession, contract: SourceContract, raw_root: str,
                     start: date | None, end: date | None) -> list[str]:
    """The files a run reads: one per date for daily extracts, every match otherwise."""
    root = raw_root.rstrip("/")
    if contract.daily:
        if start is None or end is None:
            raise ValueError(f"source {contract.name} is a daily extract: give --start-date and --end-date")
        files: list[str] = []
        for day in dates_between(start, end):
            files.extend(_fs_glob(spark, f"{root}/{contract.path.replace('{date}', day.strftime('%Y%m%d'))}"))
        return files
    return _fs_glob(spark, f"{root}/{contract.path}")


def _split_header(line: str, sep: str, quote: str) -> list[str]:
    import csv

    return next(csv.reader([line], delimiter=sep, quotechar=quote))


def _json_paths(obj: dict, prefix: str = "") -> set[str]:
    paths = set()
    for key, value in obj.items():
        full = f"{prefix}{key}"
        paths.add(full)
        if isinstance(value, dict):
            paths |= _json_paths(value, full + ".")
    return paths


def check_columns(contract: SourceContract, file: str, present: list[str] | set[str]) -> None:
    """Fail fast when a file lacks an allow-listed column, or (strict mode) has one nobody declared."""
    present = set(present)
    if contract.format == "jsonl":
        present_top = present
        declared = set(contract.raw_columns) | set(contract.drop)
        declared |= {c.split(".")[0] for c in declared}
        missing = [c for c in contract.raw_columns if c not in present_top]
        unknown = sorted(p for p in present_top if p not in declared and not any(d.startswith(p + ".") or p.startswith(d + ".") for d in declared))
    else:
        missing = [c for c in contract.raw_columns if c not in present]
        unknown = sorted(present - set(contract.raw_columns) - set(contract.drop))
    if missing:
        raise IngestInputError(
            f"source {contract.name}: {file} lacks column(s) {missing} required by conf/sources.yaml. "
            "If the extract was renamed, update the `raw:` names in the contract."
        )
    if unknown:
        message = (
            f"source {contract.name}: {file} has column(s) {unknown} that the contract neither carries nor drops. "
            "Add them to `drop:` (not carried) or `columns:` (carried), or set `unknown_columns: ignore`."
        )
        if contract.unknown_columns == "error":
            raise IngestInputError(message)
        log.warning("%s Ignoring them.", message)


def _string_struct(contract: SourceContract) -> StructType:
    """All-string read schema; for JSON, nested structs follow the dotted raw paths."""
    if contract.format == "csv":
        return StructType([StructField(c, StringType()) for c in contract.raw_columns] + [StructField(CORRUPT, StringType())])
    tree: dict = {}
    for raw in contract.raw_columns:
        node = tree
        parts = raw.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None

    def build(node: dict) -> StructType:
        return StructType([StructField(k, StringType() if v is None else build(v)) for k, v in node.items()])

    return StructType(build(tree).fields + [StructField(CORRUPT, StringType())])


def read_raw(spark: SparkSession, contract: SourceContract, files: list[str]) -> RawInput:
    """Read the files as all-string rows. Checks each file's header / first record first."""
    if not files:
        raise IngestInputError(f"source {contract.name}: no input files")
    for file in files:
        first = _fs_first_line(spark, file)
        if first is None or not first.strip():
            raise IngestInputError(
                f"source {contract.name}: {file} is empty (not even a header line). "
                "An extract with no rows must still carry its header; re-extract the file."
            )
        if contract.format == "csv":
            header = _split_header(first, contract.csv_options.get("sep", ","), contract.csv_options.get("quote", '"'))
            check_columns(contract, file, header)
        else:
            try:
                record = json.loads(first)
            except json.JSONDecodeError as error:
                raise IngestInputError(f"source {contract.name}: first line of {file} is not JSON: {error}") from error
            check_columns(contract, file, _json_paths(record))

    schema = _string_struct(contract)
    if contract.format == "csv":
        options = {"header": "true", "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT,
                   "enforceSchema": "false", **contract.csv_options}
        reader = spark.read.options(**options).schema(schema)
        if contract.drop or contract.unknown_columns == "ignore":
            # The file has more columns than the allow-list: read them all as strings, keep the allowed ones.
            # (Non-allow-listed values never leave this function.)
            header = _split_header(_fs_first_line(spark, files[0]), options.get("sep", ","), options.get("quote", '"'))
            full = StructType([StructField(c, StringType()) for c in header] + [StructField(CORRUPT, StringType())])
            reader = spark.read.options(**options).schema(full)
        df = reader.csv(list(files))
    else:
        df = spark.read.options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT).schema(schema).json(list(files))

    flat = [F.col(f"`{c}`" if "." not in c or contract.format == "csv" else c).alias(c) for c in contract.raw_columns]
    df = df.select(
        *flat,
        F.col(CORRUPT),
        F.input_file_name().alias(SOURCE_FILE),
        F.monotonically_increasing_id().alias(ROW_ID),
    )
    return RawInput(df=df, files=tuple(files), raw_columns=tuple(contract.raw_columns))
