"""GX gate on a large source: aggregates over every row + the suite over a deterministic key-hash sample."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from impact.ingest.contract import load_contracts
from impact.ingest.validate import deterministic_sample, validate_accepted
from impact.schemas import table_schema

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def contracts():
    return load_contracts(ROOT / "conf" / "sources.yaml")


def _pings(spark, n=600, **change):
    t0 = datetime(2026, 3, 16, 8)
    rows = [{"issi": f"9{i % 40:04d}", "collar_number": f"C{i % 40:04d}", "fix_at_utc": t0 + timedelta(seconds=30 * i),
             "lon": -1.89, "lat": 52.48, "easting": 407500.0 + i, "northing": 287600.0, "reported_speed_kmh": 5.0,
             "heading_deg": 90.0, "terminal_type": "handheld", "ingest_run_id": "r", "fix_date": date(2026, 3, 16)}
            for i in range(n)]
    for i, values in change.items():
        rows[int(i[1:])].update(values)
    return spark.createDataFrame(rows, table_schema("pings").struct())


def test_large_source_passes_on_good_rows_and_the_sample_is_deterministic(spark, contracts):
    contract = contracts.get("airwave_pings")
    frame = _pings(spark)
    result = validate_accepted(frame, contract, contracts.force_area_bng, full_gate_max_rows=100)
    assert result.success, result.failures()
    scopes = [r["kwargs"].get("scope") for r in result.results]
    assert scopes.count("all_rows") >= 10                  # every required column and every bound, over all rows
    a = deterministic_sample(frame, contract, 600, target=100).collect()
    b = deterministic_sample(frame.repartition(3), contract, 600, target=100).collect()
    assert 0 < len(a) < 600 and sorted(a) == sorted(b)


def test_a_bad_row_outside_the_sample_is_still_caught_by_the_aggregates(spark, contracts):
    contract = contracts.get("airwave_pings")
    frame = _pings(spark)
    sampled = {r.fix_at_utc for r in deterministic_sample(frame, contract, 600, target=100).collect()}
    outside = next(i for i in range(600) if datetime(2026, 3, 16, 8) + timedelta(seconds=30 * i) not in sampled)
    bad = _pings(spark, **{f"r{outside}": {"easting": 900000.0}})
    result = validate_accepted(bad, contract, contracts.force_area_bng, full_gate_max_rows=100, sample_rows=100)
    assert result.success is False
    assert [(f["expectation"], f["kwargs"]["column"]) for f in result.failures()] == [("expect_column_min_max_to_be_between", "easting")]
    # the same frame through the full gate (small source) fails in GX's own expectation
    full = validate_accepted(bad, contract, contracts.force_area_bng)
    assert {f["expectation"] for f in full.failures()} == {"expect_column_values_to_be_between"}
    assert validate_accepted(bad.where(F.col("easting") < 800000), contract, contracts.force_area_bng, 100, 100).success
