"""Conforming raw rows: map, type, locate and check them. Pure DataFrame -> DataFrame functions.

`conform` returns every input row once, with the conformed columns and `_reasons`, an array of why the
row cannot be accepted (empty when it can). `accepted` and `quarantined` split that frame, so
accepted + quarantined = read holds by construction and is also asserted by the job.

Reasons are stable strings an engineer can count: `malformed_row`, `missing_required:<col>`,
`bad_type:<col>`, `unmapped_value:<col>`, `impossible_position:zero_fix|out_of_range|outside_force_area`,
`impossible_time:<col>`, `invalid_geometry`, `<expectation>:<cols>`, `outside_run_window`,
`outside_declared_slice` (a row outside the month its file's name declares), `bad_encoding:<col>` (bytes
that are not UTF-8), `nonexistent_local_time:<col>` (a wall-clock time in the spring clock-change gap),
`duplicate_row` (identical to an earlier row), `duplicate_key` (same key, different content).
A wall-clock time in the autumn overlap is accepted as its first occurrence and flagged in
`local_time_flag` (`ambiguous_local_time:<col>`) where the table has that column.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from impact.ingest.contract import DEFAULT_NULL_MARKERS, ColumnSpec, Rule, SourceContract
from impact.ingest.read import CORRUPT, ROW_ID, SOURCE_FILE
from impact.schemas import table_schema
from impact.spatial.bng import bng_to_wgs84, geometry_wkt_to_bng, wgs84_to_bng

REASONS = "_reasons"
CONTENT_HASH = "_content_hash"
RAW_JSON = "_raw_json"                 # the allow-listed raw columns as JSON, for quarantined rows only
RAW_ROW = "_raw_row"
EXTRACT_DATE = "_extract_date"
AMBIGUOUS = "_ambiguous_local_time"    # the first wall-clock column whose time happens twice (autumn)
TRUE_VALUES = ["true", "t", "yes", "y", "1"]
FALSE_VALUES = ["false", "f", "no", "n", "0"]


@dataclass(frozen=True)
class ConformParams:
    """Run-level inputs of `conform` (no I/O, no session)."""

    run_id: str
    run_started_at: datetime            # UTC
    force_area_bng: dict[str, float]
    earliest: date = date(2000, 1, 1)
    max_future_hours: float = 24.0
    window: tuple[date, date] | None = None   # partition dates this run owns (daily extracts)
    null_markers: tuple[str, ...] = DEFAULT_NULL_MARKERS   # raw text read as "no value"


def _raw_value(spec: ColumnSpec, null_markers: tuple[str, ...] = ()) -> Column:
    def clean(c: Column) -> Column:           # blank or a null marker ("NULL", "N/A" ...) is no value
        return F.when(F.trim(c).isin(["", *null_markers]), None).otherwise(c) if null_markers else c

    cols = [clean(F.col(f"`{r}`")) for r in spec.raw]
    value = cols[0] if len(cols) == 1 else F.concat_ws(" ", *cols)
    if len(cols) > 1:  # joined columns: null if any part is missing
        value = F.when(F.greatest(*[c.isNull().cast("int") for c in cols]) == 1, None).otherwise(value)
    if spec.trim:
        value = F.trim(value)
    if spec.upper:
        value = F.upper(value)
    value = F.when(value == "", None).otherwise(value)
    if spec.null_as is not None:
        value = F.coalesce(value, F.lit(spec.null_as))
    return value


def _cleaned(index: int) -> str:
    """Name of the helper column holding the cleaned raw text of the contract's `index`-th column."""
    return f"__cleaned_{index}"


def _bad_encoding(spec: ColumnSpec) -> Column:
    """True where a raw value held bytes that are not UTF-8 (the reader turns them into U+FFFD)."""
    return F.greatest(*[F.coalesce(F.col(f"`{r}`").contains("\ufffd"), F.lit(False)) for r in spec.raw], F.lit(False))


def _local_wall_clock(spec: ColumnSpec, value: Column) -> tuple[Column, Column, Column] | None:
    """For a wall-clock time in a zone with clock changes: (UTC instant, never-happened flag, happened-twice
    flag). A time in the spring gap is flagged (Spark would silently move it an hour on); a time in the
    autumn overlap is read as its first occurrence (the summer-time offset) and flagged."""
    if spec.type not in {"timestamp", "month"} or not spec.timezone or spec.timezone.upper() == "UTC":
        return None
    wall = F.to_timestamp(value, spec.format)
    utc = F.to_utc_timestamp(wall, spec.timezone)
    hour = F.expr("INTERVAL 1 HOUR")
    earlier = F.from_utc_timestamp(utc - hour, spec.timezone) == wall
    later = F.from_utc_timestamp(utc + hour, spec.timezone) == wall
    first = F.when(earlier, utc - hour).otherwise(utc)
    nonexistent = wall.isNotNull() & (F.from_utc_timestamp(utc, spec.timezone) != wall)
    return first, nonexistent, wall.isNotNull() & (earlier | later)


def _mapped(spec: ColumnSpec, value: Column) -> tuple[Column, Column | None]:
    """Apply the code map; returns (value, condition that flags an unmapped value)."""
    if not spec.value_map:
        return value, None
    mapping = F.create_map(*[F.lit(x) for kv in spec.value_map.items() for x in kv])
    mapped = mapping[value]
    return mapped, value.isNotNull() & mapped.isNull()


def _typed(spec: ColumnSpec, value: Column) -> Column:
    if spec.type == "string":
        return value
    if spec.type == "int":
        return F.when(value.rlike(r"^[+-]?\d+$"), value.cast("int"))
    if spec.type == "double":
        number = value.cast("double")
        return F.when(~F.isnan(number) & (F.abs(number) < F.lit(float("inf"))), number)
    if spec.type == "bool":
        lowered = F.lower(value)
        return F.when(lowered.isin(TRUE_VALUES), F.lit(True)).when(lowered.isin(FALSE_VALUES), F.lit(False))
    if spec.type == "date":
        return F.to_date(value, spec.format)
    # timestamp / month: parse the wall-clock (or offset-carrying) text, then express it in UTC
    parsed = F.to_timestamp(value, spec.format)
    if spec.timezone and spec.timezone.upper() != "UTC":
        parsed = F.to_utc_timestamp(parsed, spec.timezone)
    return parsed


def _rule_fails(rule: Rule) -> Column:
    """Row-level form of a GX expectation: True where the row breaks it."""
    kw = rule.kwargs
    name = rule.expectation
    if name == "expect_column_values_to_not_be_null":
        return F.col(kw["column"]).isNull()
    if name == "expect_column_values_to_be_between":
        col = F.col(kw["column"])
        fails = F.lit(False)
        if kw.get("min_value") is not None:
            fails = fails | (col < F.lit(kw["min_value"]))
        if kw.get("max_value") is not None:
            fails = fails | (col > F.lit(kw["max_value"]))
        return col.isNotNull() & fails
    if name == "expect_column_values_to_be_in_set":
        col = F.col(kw["column"])
        return col.isNotNull() & ~col.isin(list(kw["value_set"]))
    if name == "expect_column_values_to_match_regex":
        col = F.col(kw["column"])
        return col.isNotNull() & ~col.rlike(kw["regex"])
    if name == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = F.col(kw["column_A"]), F.col(kw["column_B"])
        ok = (a >= b) if kw.get("or_equal") else (a > b)
        return a.isNotNull() & b.isNotNull() & ~ok
    raise ValueError(f"no row-level form for {name}")


def _reason(condition: Column, reason: str) -> Column:
    return F.when(condition, F.lit(reason))


def _position(contract: SourceContract, params: ConformParams) -> tuple[dict[str, Column], list[Column]]:
    """Derive the missing coordinate pair (OSTN15, spatial/bng.py) and flag impossible positions."""
    pos = contract.position
    x, y = F.col(pos["x"]), F.col(pos["y"])
    zero = (F.abs(x) < 1e-6) & (F.abs(y) < 1e-6)
    box = params.force_area_bng
    if pos["crs"] == "EPSG:4326":
        in_range = x.between(-180, 180) & y.between(-90, 90)
        usable = x.isNotNull() & y.isNotNull() & in_range & ~zero
        bng = wgs84_to_bng(x, y)  # OSTN15: within millimetres of OS's reference points (spatial/bng.py)
        derived = {"easting": F.when(usable, bng["easting"]), "northing": F.when(usable, bng["northing"])}
        east, north = derived["easting"], derived["northing"]
        flags = [_reason(x.isNotNull() & y.isNotNull() & ~in_range, "impossible_position:out_of_range")]
    elif pos["crs"] == "EPSG:27700":
        usable = x.isNotNull() & y.isNotNull() & ~zero
        wgs = bng_to_wgs84(x, y)
        derived = {"lon": F.when(usable, wgs["lon"]), "lat": F.when(usable, wgs["lat"])}
        east, north = x, y
        flags = []
    else:
        raise ValueError(f"source {contract.name}: position crs must be EPSG:4326 or EPSG:27700")
    outside = (east < box["min_easting"]) | (east > box["max_easting"]) | (north < box["min_northing"]) | (north > box["max_northing"])
    flags += [
        _reason(x.isNotNull() & y.isNotNull() & zero, "impossible_position:zero_fix"),
        # off the OSTN15 grid (null easting) is outside Great Britain, so outside the force area too
        _reason(usable & F.coalesce(outside, F.lit(True)), "impossible_position:outside_force_area"),
    ]
    return derived, flags


def partition_instant(contract: SourceContract) -> Column:
    """The instant a row's partition date is taken from: the first non-null `partition_from` column."""
    cols = [F.col(c) for c in contract.partition_from]
    return cols[0] if len(cols) == 1 else F.coalesce(*cols)


def _file_month(contract: SourceContract) -> Column:
    """First day of the month the row's file declares in its name (null where it declares none)."""
    month = F.regexp_extract(F.col(SOURCE_FILE), contract.file_slice.pattern, 1)
    return F.to_date(F.concat(month, F.lit("-01")), "yyyy-MM-dd")


def file_month_bounds(contract: SourceContract) -> tuple[Column, Column]:
    """[start, end) in UTC of the local month the row's file declares."""
    start = _file_month(contract).cast("timestamp")
    zone = contract.file_slice.timezone
    return F.to_utc_timestamp(start, zone), F.to_utc_timestamp(F.add_months(start, 1).cast("timestamp"), zone)


def _extract_date(contract: SourceContract) -> Column:
    """The date a quarantined row's file declares: its {date} (daily), its month's first day (sliced)."""
    if contract.file_slice is not None:
        return _file_month(contract)
    if not contract.daily:
        return F.lit(None).cast("date")
    base = contract.path.split("/")[-1]
    pattern = re.escape(base).replace(re.escape("{date}"), r"(\d{8})").replace(r"\*", ".*") + r"(\.[a-z0-9]+)?$"
    return F.to_date(F.regexp_extract(F.col(SOURCE_FILE), pattern, 1), "yyyyMMdd")


def conform(raw: DataFrame, contract: SourceContract, params: ConformParams) -> DataFrame:
    """Every raw row, conformed, with `_reasons` saying why it cannot be accepted (empty if it can)."""
    schema = table_schema(contract.table)
    reasons: list[Column] = [_reason(F.col(CORRUPT).isNotNull(), "malformed_row")]

    # 1. map and type each allow-listed column, remembering why a value could not be used. The cleaned
    # text of each column is computed once, in a projection of its own: every later use (type, reasons)
    # reads that column. Written inline, each use repeated the whole trim / null-marker expression and the
    # typed value repeats its input again, which made the generated method too long for the JIT (D23;
    # CollapseProject keeps this projection apart because its columns are read more than once). At 1M
    # pings this alone took conforming from 37.2 to 32.8 CPU s; docs/performance.md, "fourth round".
    cleaned = raw.select("*", *[_raw_value(spec, params.null_markers).alias(_cleaned(i))
                                for i, spec in enumerate(contract.columns)])
    typed: dict[str, Column] = {}
    ambiguous: list[Column] = []
    for i, spec in enumerate(contract.columns):
        value = F.col(_cleaned(i))
        reasons.append(_reason(_bad_encoding(spec), f"bad_encoding:{spec.name}"))
        value, unmapped = _mapped(spec, value)
        if unmapped is not None:
            reasons.append(_reason(unmapped, f"unmapped_value:{spec.name}"))
        local = _local_wall_clock(spec, value)
        if local is None:
            result = _typed(spec, value)
        else:
            result, nonexistent, twice = local
            reasons.append(_reason(nonexistent, f"nonexistent_local_time:{spec.name}"))
            ambiguous.append(_reason(twice, f"ambiguous_local_time:{spec.name}"))
        reasons.append(_reason(value.isNotNull() & result.isNull(), f"bad_type:{spec.name}"))
        if spec.required:
            reasons.append(_reason(value.isNull(), f"missing_required:{spec.name}"))
        typed[spec.name] = result
    # The raw row rides along as a struct: compared to tell a resent row from a key clash, and turned into
    # JSON only for quarantined rows at the end (JSON and a hash of every row cost more than the rest of
    # conforming at 10M pings: docs/performance.md). The hash is only built where a key is derived from it.
    raw_row = F.struct(*[F.col(f"`{r}`").alias(r) for r in contract.raw_columns])
    hashed = {}
    if contract.derive_key:
        hashed[CONTENT_HASH] = F.sha2(F.concat_ws("\u0001", *[F.coalesce(F.col(f"`{r}`"), F.lit("\u0000"))
                                                             for r in contract.raw_columns]), 256)
    df = cleaned.select(
        *[expr.alias(name) for name, expr in typed.items()],
        F.col(CORRUPT), F.col(SOURCE_FILE), F.col(ROW_ID),
        raw_row.alias(RAW_ROW), *[expr.alias(name) for name, expr in hashed.items()],
        F.array(*reasons).alias(REASONS),
        F.coalesce(*ambiguous, F.lit(None).cast("string")).alias(AMBIGUOUS),
    )

    # 2. plausible instants
    latest = params.run_started_at + timedelta(hours=params.max_future_hours)
    time_flags = [
        _reason((F.col(s.name) < F.lit(params.earliest).cast("timestamp")) | (F.col(s.name) > F.lit(latest)),
                f"impossible_time:{s.name}")
        for s in contract.columns if s.type in {"timestamp", "month"}
    ]

    # 3. position / geometry, contract rules, constants, partition date
    extra: dict[str, Column] = {}
    flags = list(time_flags)
    if contract.position:
        derived, position_flags = _position(contract, params)
        extra.update(derived)
        flags += position_flags
    if contract.geometry:
        source_wkt = F.col(contract.geometry["column"])
        looks_ok = source_wkt.rlike(r"^\s*(MULTI)?POLYGON\s*\(")
        geom = f"ST_GeomFromWKT(`{contract.geometry['column']}`)"
        bng_wkt = F.when(looks_ok, geometry_wkt_to_bng(source_wkt, contract.geometry["crs"]))
        extra["geometry_wkt"] = bng_wkt
        extra["area_m2"] = F.call_function("ST_Area", F.call_function("ST_GeomFromWKT", bng_wkt))
        valid = F.when(looks_ok, F.expr(f"ST_IsValid({geom})"))
        flags.append(_reason(source_wkt.isNotNull() & ~F.coalesce(valid, F.lit(False)), "invalid_geometry"))
    flags += [_reason(_rule_fails(rule), rule.label) for rule in contract.rules]
    for name, value in contract.constants.items():
        extra[name] = F.lit(value)
    if "source_system" in schema.names and "source_system" not in typed:
        extra["source_system"] = F.lit(contract.source_system)
    if "local_time_flag" in schema.names:
        extra["local_time_flag"] = F.col(AMBIGUOUS)
    if contract.partition_by:
        instant = partition_instant(contract)
        extra[contract.partition_by] = F.to_date(instant)
        if params.window is not None and contract.daily:
            part = extra[contract.partition_by]
            flags.append(_reason(part.isNotNull() & ~part.between(F.lit(params.window[0]), F.lit(params.window[1])),
                                 "outside_run_window"))
        if contract.file_slice is not None:
            lo, hi = file_month_bounds(contract)
            flags.append(_reason(instant.isNotNull() & ((instant < lo) | (instant >= hi)), "outside_declared_slice"))
    extra["ingest_run_id"] = F.lit(params.run_id)
    extra[EXTRACT_DATE] = _extract_date(contract)
    df = df.withColumns(extra)
    df = df.withColumn(REASONS, F.filter(F.concat(F.col(REASONS), F.array(*flags)) if flags else F.col(REASONS),
                                         lambda r: r.isNotNull()))

    # 4. keys: derive where the source has none, then flag later duplicates among otherwise-clean rows
    if contract.derive_key:
        ordinal = F.row_number().over(Window.partitionBy(CONTENT_HASH).orderBy(SOURCE_FILE, ROW_ID))
        df = df.withColumn(contract.derive_key["name"], F.concat(
            F.lit(contract.derive_key.get("prefix", "")),
            F.substring(F.sha2(F.concat_ws("#", F.col(CONTENT_HASH), ordinal.cast("string")), 256), 1, 20)))
    if contract.key:
        clean = F.size(REASONS) == 0
        order = Window.partitionBy(clean, *contract.key).orderBy(SOURCE_FILE, ROW_ID)
        rank = F.row_number().over(order)
        same_row = F.col(RAW_ROW).eqNullSafe(F.first(RAW_ROW).over(order))
        dup = F.when(clean & (rank > 1), F.when(same_row, "duplicate_row").otherwise("duplicate_key"))
        df = df.withColumn(REASONS, F.filter(F.concat(F.col(REASONS), F.array(dup)), lambda r: r.isNotNull()))

    keep = [c for c in schema.names if c in df.columns]
    missing = [F.lit(None).cast(c.type).alias(c.name) for c in schema.columns if c.name not in df.columns]
    raw_json = F.when((F.size(REASONS) > 0) & F.col(CORRUPT).isNull(), F.to_json(RAW_ROW))
    return df.select(*keep, *missing, REASONS, SOURCE_FILE, EXTRACT_DATE, raw_json.alias(RAW_JSON))


def accepted(checked: DataFrame, table: str) -> DataFrame:
    """Rows with no reason, in the table's exact schema."""
    return table_schema(table).conform(checked.where(F.size(REASONS) == 0))


def quarantined(checked: DataFrame, source: str, run_id: str, at: datetime) -> DataFrame:
    """Rows with at least one reason, in the quarantine table's schema."""
    rows = checked.where(F.size(REASONS) > 0).select(
        F.lit(run_id).alias("run_id"),
        F.col(SOURCE_FILE).alias("source_file"),
        F.col(EXTRACT_DATE).alias("extract_date"),
        F.concat_ws(";", REASONS).alias("reason"),
        F.col(RAW_JSON).alias("raw_record"),
        F.lit(at).cast("timestamp").alias("quarantined_at_utc"),
        F.lit(source).alias("source"),
    )
    return table_schema("quarantine").conform(rows)
