"""Row-level conforming on tiny DataFrames: every failure class ends quarantined with its reason."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from impact.ingest.conform import RAW_JSON, REASONS, ConformParams, accepted, conform, quarantined
from impact.ingest.contract import parse_contract
from impact.ingest.read import CORRUPT, ROW_ID, SOURCE_FILE

BOX = {"min_easting": 384000, "max_easting": 441300, "min_northing": 270200, "max_northing": 309300}

PINGS = parse_contract("pings_test", {
    "table": "pings",
    "format": "csv",
    "path": "pings/pings_{date}.csv",
    "partition_by": "fix_date",
    "partition_from": ["fix_at_utc"],
    "columns": [
        {"raw": "ISSI", "name": "issi", "type": "string", "required": True, "trim": True},
        {"raw": "Affiliation", "name": "collar_number", "type": "string", "required": True, "trim": True, "upper": True},
        {"raw": "FixTimeUTC", "name": "fix_at_utc", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss",
         "timezone": "UTC", "required": True},
        {"raw": "Latitude", "name": "lat", "type": "double", "required": True},
        {"raw": "Longitude", "name": "lon", "type": "double", "required": True},
        {"raw": "SpeedKmh", "name": "reported_speed_kmh", "type": "double"},
        {"raw": "TerminalType", "name": "terminal_type", "type": "string", "trim": True, "upper": True,
         "map": {"HH": "handheld", "VM": "vehicle", "": "unknown"}, "null_as": ""},
    ],
    "position": {"crs": "EPSG:4326", "x": "lon", "y": "lat"},
    "key": ["issi", "fix_at_utc"],
    "rules": [{"expect_column_values_to_be_between": {"column": "reported_speed_kmh", "min_value": 0, "max_value": 300}}],
})

RAW_COLS = ["ISSI", "Affiliation", "FixTimeUTC", "Latitude", "Longitude", "SpeedKmh", "TerminalType"]
GOOD = ["1001", "a1234", "2026-03-16 10:00:00", "52.4862", "-1.8904", "12", "HH"]


def params(**kw) -> ConformParams:
    return ConformParams(run_id="r1", run_started_at=kw.get("started", datetime(2026, 3, 20)), force_area_bng=BOX,
                         window=kw.get("window", (date(2026, 3, 16), date(2026, 3, 16))))


def raw_frame(spark, rows, corrupt=None):
    schema = StructType([StructField(c, StringType()) for c in RAW_COLS + [CORRUPT, SOURCE_FILE]])
    data = [tuple(r) + ((corrupt or {}).get(i), "file:/raw/pings/pings_20260316.csv") for i, r in enumerate(rows)]
    return spark.createDataFrame(data, schema).withColumn(ROW_ID, F.monotonically_increasing_id())


def reasons_by_issi(checked):
    return {r["issi"]: list(r[REASONS]) for r in checked.select("issi", REASONS).collect()}


def test_good_row_is_accepted_with_bng_position_and_mapped_terminal(spark):
    checked = conform(raw_frame(spark, [GOOD]), PINGS, params())
    row = accepted(checked, "pings").first()
    assert row["collar_number"] == "A1234"
    assert row["terminal_type"] == "handheld"
    assert row["fix_at_utc"] == datetime(2026, 3, 16, 10, 0, 0)
    assert row["fix_date"] == date(2026, 3, 16)
    # central Birmingham is about E 407,500 N 287,600 in British National Grid
    assert 406_500 < row["easting"] < 408_500 and 286_600 < row["northing"] < 288_600
    assert row["ingest_run_id"] == "r1"


@pytest.mark.parametrize("index,value,reason", [
    (1, "", "missing_required:collar_number"),
    (2, "16/03/2026 10:00", "bad_type:fix_at_utc"),
    (3, "fifty-two", "bad_type:lat"),
    (3, "NaN", "bad_type:lat"),
    (6, "XX", "unmapped_value:terminal_type"),
    (5, "999", "expect_column_values_to_be_between:reported_speed_kmh"),
    (2, "1999-03-16 10:00:00", "impossible_time:fix_at_utc"),
    (2, "2026-03-17 10:00:00", "outside_run_window"),
    (3, "95", "impossible_position:out_of_range"),
])
def test_each_bad_value_is_quarantined_with_its_reason(spark, index, value, reason):
    row = list(GOOD)
    row[0] = "bad"
    row[index] = value
    checked = conform(raw_frame(spark, [GOOD, row]), PINGS, params())
    reasons = reasons_by_issi(checked)
    assert reasons["1001"] == []
    assert reason in reasons["bad"]


def test_zero_fix_and_outside_force_area(spark):
    zero = ["z", "A1", "2026-03-16 10:00:00", "0", "0", "", ""]
    london = ["l", "A1", "2026-03-16 10:00:00", "51.5072", "-0.1276", "", ""]
    reasons = reasons_by_issi(conform(raw_frame(spark, [zero, london]), PINGS, params()))
    assert reasons["z"] == ["impossible_position:zero_fix"]
    assert reasons["l"] == ["impossible_position:outside_force_area"]


def test_duplicates_exact_and_conflicting(spark):
    same = list(GOOD)
    conflicting = list(GOOD)
    conflicting[3] = "52.4863"
    checked = conform(raw_frame(spark, [GOOD, same, conflicting]), PINGS, params())
    reasons = sorted(tuple(r[REASONS]) for r in checked.select(REASONS).collect())
    assert reasons == [(), ("duplicate_key",), ("duplicate_row",)]


def test_a_resent_row_with_empty_fields_is_a_duplicate_row(spark):
    sparse = GOOD[:5] + [None, None]                 # optional fields missing in both copies
    checked = conform(raw_frame(spark, [sparse, list(sparse)]), PINGS, params())
    rows = checked.select(REASONS, RAW_JSON).collect()
    assert sorted(tuple(r[REASONS]) for r in rows) == [(), ("duplicate_row",)]
    # the raw JSON is kept for the quarantined copy only
    assert sorted((bool(r[REASONS]), r[RAW_JSON] is not None) for r in rows) == [(False, False), (True, True)]


def test_malformed_row_is_quarantined_without_its_raw_text(spark):
    broken = [None] * len(RAW_COLS)
    checked = conform(raw_frame(spark, [GOOD, broken], corrupt={1: "Jane Doe,07700 900123,,"}), PINGS, params())
    bad = quarantined(checked, "pings_test", "r1", datetime(2026, 3, 20)).collect()
    assert len(bad) == 1
    assert bad[0]["reason"].startswith("malformed_row")
    assert bad[0]["raw_record"] is None          # the corrupt line may hold personal data: never stored
    assert bad[0]["extract_date"] == date(2026, 3, 16)


def test_accounting_every_row_lands_exactly_once(spark):
    rows = [GOOD, list(GOOD), ["x", "", "nonsense", "a", "b", "-1", "?"]]
    checked = conform(raw_frame(spark, rows), PINGS, params())
    n_ok = accepted(checked, "pings").count()
    n_bad = quarantined(checked, "pings_test", "r1", datetime(2026, 3, 20)).count()
    assert (n_ok, n_bad) == (1, 2)


def test_local_wall_clock_times_become_utc_across_dst(spark):
    contract = parse_contract("crimes_test", {
        "table": "crimes", "source_system": "connect", "format": "csv", "path": "c/crimes_{date}.csv",
        "partition_by": "recorded_date", "partition_from": ["recorded_at_utc"],
        "columns": [
            {"raw": "Ref", "name": "crime_ref", "type": "string", "required": True},
            {"raw": "When", "name": "recorded_at_utc", "type": "timestamp", "format": "dd/MM/yyyy HH:mm",
             "timezone": "Europe/London", "required": True},
            {"raw": "From", "name": "committed_from_utc", "type": "timestamp", "format": "dd/MM/yyyy HH:mm",
             "timezone": "Europe/London", "required": True},
            {"raw": "E", "name": "easting", "type": "double", "required": True},
            {"raw": "N", "name": "northing", "type": "double", "required": True},
        ],
        "constants": {"time_precision": "exact"},
        "position": {"crs": "EPSG:27700", "x": "easting", "y": "northing"},
        "key": ["crime_ref"],
    })
    schema = StructType([StructField(c, StringType()) for c in ["Ref", "When", "From", "E", "N", CORRUPT, SOURCE_FILE]])
    data = [("winter", "28/03/2026 12:00", "28/03/2026 11:00", "407500", "287600", None, "f_20260328"),
            ("summer", "30/03/2026 12:00", "30/03/2026 11:00", "407500", "287600", None, "f_20260330")]
    df = spark.createDataFrame(data, schema).withColumn(ROW_ID, F.monotonically_increasing_id())
    rows = {r["crime_ref"]: r for r in accepted(conform(df, contract, params(window=None, started=datetime(2026, 4, 10))), "crimes").collect()}
    assert rows["winter"]["recorded_at_utc"] == datetime(2026, 3, 28, 12, 0)   # GMT = UTC
    assert rows["summer"]["recorded_at_utc"] == datetime(2026, 3, 30, 11, 0)   # BST = UTC+1
    assert rows["summer"]["source_system"] == "connect"
    assert -1.95 < rows["summer"]["lon"] < -1.85 and 52.45 < rows["summer"]["lat"] < 52.52
