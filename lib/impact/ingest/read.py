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
JSON_SAMPLE_LINES = 1000            # records whose keys decide which columns a JSON Lines file has
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


def daily_input_bytes(spark: SparkSession, contracts: list[SourceContract], raw_root: str, start: date, end: date) -> int:
    """Bytes of the daily extracts (plain or compressed, as stored) of `contracts` for start..end: what a
    window's run reads, to size its shuffles. Missing files count nothing; other sources are not daily."""
    root, total = raw_root.rstrip("/"), 0
    days = ",".join(day.strftime("%Y%m%d") for day in dates_between(start, end))
    suffixes = ",".join(("", *COMPRESSED))
    for contract in contracts:
        if not contract.daily:
            continue
        # one listing per source (Hadoop glob alternatives: every day, plain or compressed), not one per file
        fs, path = hadoop_path(spark, f"{root}/{contract.path.replace('{date}', '{' + days + '}')}{{{suffixes}}}")
        total += sum(s.getLen() for s in (fs.globStatus(path) or []) if s.isFile())
    return total


def _fs_head(spark: SparkSession, file: str, max_lines: int = 1) -> list[str]:
    """The first `max_lines` lines of a file, decompressed by extension (.gz, .bz2 ...) as Spark reads it,
    without a Spark job. Empty list for an empty file; the UTF-8 byte-order mark is removed."""
    jvm = spark.sparkContext._jvm
    fs, path = hadoop_path(spark, file)
    stream = fs.open(path)
    try:
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(
            spark.sparkContext._jsc.hadoopConfiguration()).getCodec(path)
        source = codec.createInputStream(stream) if codec is not None else stream
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(source, "UTF-8"))
        lines: list[str] = []
        while len(lines) < max_lines:
            line = reader.readLine()
            if line is None:
                break
            lines.append(line)
        reader.close()
    finally:
        stream.close()
    if lines:
        lines[0] = lines[0].lstrip("\ufeff")
    return lines


def _fs_first_line(spark: SparkSession, file: str) -> str | None:
    """First line of a file (None if the file is empty)."""
    head = _fs_head(spark, file)
    return head[0] if head else None


COMPRESSED = (".gz", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")


def _daily_files(spark: SparkSession, contract: SourceContract, pattern: str, day: date) -> list[str]:
    """One day's file(s): the pattern as written, or a compressed copy of it (`pings_20260316.csv.gz`);
    both at once is ambiguous (the same rows twice), so it stops the run."""
    plain = _fs_glob(spark, pattern)
    packed = [f for suffix in COMPRESSED for f in _fs_glob(spark, pattern + suffix)]
    stems = {f: next((f[: -len(s)] for s in COMPRESSED if f.endswith(s)), f) for f in packed}
    clash = sorted((stems[f], f) for f in packed if stems[f] in plain)
    if clash:
        raise IngestInputError(
            f"source {contract.name}: both {clash[0][0]} and {clash[0][1]} exist for {day}; "
            "keep one copy of the day's extract (plain or compressed) and re-run")
    return sorted(plain + packed)


def list_input_files(spark: SparkSession, contract: SourceContract, raw_root: str,
                     start: date | None, end: date | None) -> list[str]:
    """The files a run reads: one per date for daily extracts (plain or compressed), every match otherwise."""
    root = raw_root.rstrip("/")
    if contract.daily:
        if start is None or end is None:
            raise ValueError(f"source {contract.name} is a daily extract: give --start-date and --end-date")
        files: list[str] = []
        for day in dates_between(start, end):
            files.extend(_daily_files(spark, contract, f"{root}/{contract.path.replace('{date}', day.strftime('%Y%m%d'))}", day))
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
    """Fail fast when a file lacks an allow-listed column, or (strict mode) has one nobody declared.

    For JSON, `present` holds the key paths seen in the file's first records; a dotted column
    (`finalClassification.code`) is present when its parent key is, since a null parent (an open incident)
    simply has no nested keys."""
    present = set(present)
    if contract.format == "jsonl":
        declared = set(contract.raw_columns) | set(contract.drop)
        declared |= {c.split(".")[0] for c in declared}
        missing = [c for c in contract.raw_columns if c not in present and c.split(".")[0] not in present]
        unknown = sorted(p for p in present if p not in declared and not any(d.startswith(p + ".") or p.startswith(d + ".") for d in declared))
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


def csv_header(spark: SparkSession, contract: SourceContract, file: str) -> list[str]:
    """A CSV file's column names, checked: the file has a header line and no name appears twice."""
    first = _fs_first_line(spark, file)
    if first is None or not first.strip():
        raise IngestInputError(
            f"source {contract.name}: {file} is empty (not even a header line). "
            "An extract with no rows must still carry its header; re-extract the file."
        )
    header = _split_header(first, contract.csv_options.get("sep", ","), contract.csv_options.get("quote", '"'))
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise IngestInputError(
            f"source {contract.name}: the header of {file} repeats column(s) {repeated}; "
            "every column must have one name: fix the extract's header")
    return header


def header_matches(contract: SourceContract, header: list[str]) -> bool:
    """Whether a CSV header carries every allow-listed column of the contract (which layout a file is)."""
    return set(contract.raw_columns) <= set(header)


def _json_key_paths(spark: SparkSession, contract: SourceContract, file: str) -> set[str]:
    """Key paths over the first JSON_SAMPLE_LINES records of a JSON Lines file, checked on the way."""
    lines = [line for line in _fs_head(spark, file, JSON_SAMPLE_LINES) if line.strip()]
    if not lines:
        raise IngestInputError(
            f"source {contract.name}: {file} is empty. An extract with no records is an empty file "
            "only for JSON Lines sources that have had no rows: re-extract it if that is not so.")
    if lines[0].lstrip().startswith("["):
        raise IngestInputError(
            f"source {contract.name}: {file} holds a JSON array; this source is read as JSON Lines "
            "(one JSON object per line): re-extract it in that form (e.g. `jq -c '.[]'`)")
    paths: set[str] = set()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == 1:
                raise IngestInputError(f"source {contract.name}: first line of {file} is not JSON: {error}") from error
            continue            # a broken record later on is quarantined as malformed_row
        if not isinstance(record, dict):
            raise IngestInputError(
                f"source {contract.name}: line {number} of {file} is a JSON {type(record).__name__}, "
                "not an object; JSON Lines extracts hold one object per line")
        paths |= _json_paths(record)
    return paths


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
    """Read the files as all-string rows, allow-listed columns only. Checks each file's header / first
    records first. CSV columns are matched by name, so each file may order its columns differently."""
    if not files:
        raise IngestInputError(f"source {contract.name}: no input files")
    if contract.format == "csv":
        groups: dict[tuple[str, ...], list[str]] = {}
        for file in files:
            header = csv_header(spark, contract, file)
            check_columns(contract, file, header)
            groups.setdefault(tuple(header), []).append(file)
        # Each layout is read with its own header as the schema (all strings); only allow-listed columns
        # leave this function. A line with more or fewer fields than its header is a malformed row.
        options = {"header": "true", "mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT,
                   **contract.csv_options, "enforceSchema": "true"}
        frames = []
        for header, group in groups.items():
            full = StructType([StructField(c, StringType()) for c in header] + [StructField(CORRUPT, StringType())])
            frame = spark.read.options(**options).schema(full).csv(list(group))
            frames.append(frame.select(*[F.col(f"`{c}`").alias(c) for c in contract.raw_columns], F.col(CORRUPT),
                                       F.input_file_name().alias(SOURCE_FILE)))
        df = frames[0]
        for frame in frames[1:]:
            df = df.unionByName(frame)
        flat = [F.col(f"`{c}`") for c in contract.raw_columns]
    else:
        for file in files:
            check_columns(contract, file, _json_key_paths(spark, contract, file))
        df = spark.read.options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT).schema(
            _string_struct(contract)).json(list(files)).withColumn(SOURCE_FILE, F.input_file_name())
        flat = [F.col(c if "." in c else f"`{c}`").alias(c) for c in contract.raw_columns]
    df = df.select(
        *flat,
        F.col(CORRUPT),
        F.col(SOURCE_FILE),
        F.monotonically_increasing_id().alias(ROW_ID),
    )
    return RawInput(df=df, files=tuple(files), raw_columns=tuple(contract.raw_columns))
