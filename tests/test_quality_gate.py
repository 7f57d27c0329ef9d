"""The publication gate gives the same verdicts with GX's pandas engine (small staged facts, collected to
the driver) as with its Spark engine (large ones), on clean rows and on planted violations."""
from __future__ import annotations

from datetime import datetime

import pytest

from impact.ingest.validate import LOCAL_GX_MAX_ROWS, collect_at_most
from impact.quality import check_frame

MINUTES = ["officer_minutes", "patrol_minutes", "responding_officer_minutes", "patrolling_officer_minutes",
           "transit_officer_minutes"]


def _hours(spark, rows):
    return spark.createDataFrame(rows, "zone_id string, hour_start_utc timestamp, " + ", ".join(f"{c} double" for c in MINUTES))


def _verdicts(results):
    return {(r["expectation"], str(r["kwargs"].get("column") or r["kwargs"].get("column_list"))): (r["success"], r["unexpected_count"])
            for r in results}


@pytest.mark.integration
def test_both_engines_agree_on_clean_and_broken_hours(spark):
    t0, t1 = datetime(2026, 3, 29, 0), datetime(2026, 3, 29, 1)
    clean = _hours(spark, [("IA01", t0, 30.0, 20.0, 5.0, 10.0, 5.0), ("IA01", t1, 60.0, 60.0, 0.0, 60.0, 0.0),
                           ("IA02", t0, 0.0, 0.0, 0.0, 0.0, 0.0)])
    broken = clean.unionByName(_hours(spark, [
        ("IA01", t0, 1.0, 1.0, 0.0, 1.0, 0.0),          # duplicate key
        (None, t1, 1.0, 1.0, 0.0, 1.0, 0.0),            # key missing
        ("IA03", t1, -1.0, 61.0, 0.0, 0.0, 0.0),        # negative minutes; more than 60 patrol-minutes in an hour
    ]))
    for frame, ok in ((clean, True), (broken, False)):
        local = check_frame("fact_presence_hour", frame)
        distributed = check_frame("fact_presence_hour", frame, local_max_rows=0)
        assert {r["engine"] for r in local} == {"pandas"} and {r["engine"] for r in distributed} == {"spark"}
        assert _verdicts(local) == _verdicts(distributed)
        assert all(r["success"] for r in local) is ok
    failed = {k for k, (success, _) in _verdicts(check_frame("fact_presence_hour", broken)).items() if not success}
    assert {k[0] for k in failed} == {"expect_column_values_to_not_be_null", "expect_compound_columns_to_be_unique",
                                      "expect_column_values_to_be_between"}


@pytest.mark.integration
def test_a_frame_over_the_local_limit_is_checked_with_spark(spark):
    frame = _hours(spark, [("IA01", datetime(2026, 3, 29, h), 1.0, 1.0, 0.0, 1.0, 0.0) for h in range(3)])
    assert {r["engine"] for r in check_frame("fact_presence_hour", frame, local_max_rows=2)} == {"spark"}
    assert {r["engine"] for r in check_frame("fact_presence_hour", frame, local_max_rows=3)} == {"pandas"}
    assert LOCAL_GX_MAX_ROWS >= 100_000


@pytest.mark.integration
def test_only_a_frame_within_both_limits_comes_to_the_driver(spark):
    # D28: rows counted first; a frame over the row limit, or over the values (rows x columns) limit, is
    # not collected (None: the gate then runs GX on Spark); within both it comes back whole
    frame = _hours(spark, [("IA01", datetime(2026, 3, 29, h), 1.0, 1.0, 0.0, 1.0, 0.0) for h in range(3)])
    cells = 3 * len(frame.columns)
    assert collect_at_most(frame, 2) is None
    assert collect_at_most(frame, 3, max_cells=cells - 1) is None
    local = collect_at_most(frame, 3, max_cells=cells)
    assert local is not None and len(local) == 3 and list(local.columns) == frame.columns
    assert collect_at_most(frame, 0) is None and collect_at_most(frame.limit(0), 5) is not None
    # a caller that bounded the rows itself skips the count; the limit still holds
    assert collect_at_most(frame, 2, count_first=False) is None and len(collect_at_most(frame, 3, count_first=False)) == 3
