"""Presence interval arithmetic: hour splitting, unions and local time, including both DST changes."""
from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from pyspark.sql import functions as F

from impact.presence.intervals import split_by_utc_hour, union_seconds, with_local_time

SCHEMA = "id string, s timestamp, e timestamp"


def test_split_crosses_hours_exactly(spark):
    df = spark.createDataFrame([("v", datetime(2026, 3, 16, 9, 50), datetime(2026, 3, 16, 11, 5))], SCHEMA)
    rows = sorted((r["hour_start_utc"], r["seconds"]) for r in split_by_utc_hour(df, "s", "e").collect())
    assert rows == [(datetime(2026, 3, 16, 9), 600.0), (datetime(2026, 3, 16, 10), 3600.0),
                    (datetime(2026, 3, 16, 11), 300.0)]


def test_split_ignores_empty_and_inverted_and_ends_on_boundary(spark):
    df = spark.createDataFrame([
        ("empty", datetime(2026, 3, 16, 9), datetime(2026, 3, 16, 9)),
        ("inverted", datetime(2026, 3, 16, 10), datetime(2026, 3, 16, 9)),
        ("boundary", datetime(2026, 3, 16, 9, 30), datetime(2026, 3, 16, 10)),
    ], SCHEMA)
    rows = [(r["id"], r["hour_start_utc"], r["seconds"]) for r in split_by_utc_hour(df, "s", "e").collect()]
    assert rows == [("boundary", datetime(2026, 3, 16, 9), 1800.0)]


def test_union_is_not_the_sum(spark):
    df = spark.createDataFrame([
        ("a", datetime(2026, 3, 16, 9, 0), datetime(2026, 3, 16, 9, 20)),
        ("a", datetime(2026, 3, 16, 9, 10), datetime(2026, 3, 16, 9, 30)),   # overlaps the first
        ("a", datetime(2026, 3, 16, 9, 15), datetime(2026, 3, 16, 9, 16)),   # inside both
        ("a", datetime(2026, 3, 16, 9, 40), datetime(2026, 3, 16, 9, 50)),   # separate
        ("b", datetime(2026, 3, 16, 9, 0), datetime(2026, 3, 16, 9, 5)),
    ], SCHEMA)
    got = {r["id"]: (r["covered_seconds"], r["interval_count"]) for r in union_seconds(df, ["id"], "s", "e").collect()}
    assert got == {"a": (40 * 60.0, 4), "b": (300.0, 1)}


def test_dst_days_have_23_and_25_local_hours_and_no_presence_is_lost(spark):
    spring = (datetime(2026, 3, 29, 0, 0), datetime(2026, 3, 29, 23, 0))    # local 29 March = 23 h
    autumn = (datetime(2026, 10, 24, 23, 0), datetime(2026, 10, 26, 0, 0))   # local 25 October = 25 h
    df = spark.createDataFrame([("spring", *spring), ("autumn", *autumn)], SCHEMA)
    pieces = with_local_time(split_by_utc_hour(df, "s", "e"), "hour_start_utc")
    by_id = {}
    for r in pieces.collect():
        by_id.setdefault(r["id"], []).append(r)
    assert sum(r["seconds"] for r in by_id["spring"]) == 23 * 3600
    assert {r["local_date"].isoformat() for r in by_id["spring"]} == {"2026-03-29"}
    assert sorted(r["local_hour"] for r in by_id["spring"]) == [0] + list(range(2, 24))   # 01:00 skipped
    assert sum(r["seconds"] for r in by_id["autumn"]) == 25 * 3600
    assert {r["local_date"].isoformat() for r in by_id["autumn"]} == {"2026-10-25"}
    hours = sorted(r["local_hour"] for r in by_id["autumn"])
    assert hours.count(1) == 2 and len(hours) == 25                                    # 01:00 twice
    assert {r["utc_offset_hours"] for r in by_id["autumn"] if r["local_hour"] == 1} == {0, 1}


intervals = st.lists(
    st.tuples(st.integers(0, 3 * 24 * 60), st.integers(1, 300)).map(
        lambda t: (datetime(2026, 3, 28) + timedelta(minutes=t[0]),
                   datetime(2026, 3, 28) + timedelta(minutes=t[0] + t[1]))),
    min_size=1, max_size=12)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(intervals)
def test_properties_split_is_additive_union_bounded(spark, spans):
    df = spark.createDataFrame([("x", s, e) for s, e in spans], SCHEMA)
    pieces = split_by_utc_hour(df, "s", "e")
    total = sum((e - s).total_seconds() for s, e in spans)
    assert abs(pieces.agg(F.sum("seconds")).first()[0] - total) < 1e-6
    per_hour = union_seconds(pieces, ["id", "hour_start_utc"], "piece_start_utc", "piece_end_utc").collect()
    for r in per_hour:
        assert 0 < r["covered_seconds"] <= 3600
    overall = union_seconds(df, ["id"], "s", "e").first()["covered_seconds"]
    assert overall <= total + 1e-6
    assert overall <= (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() + 1e-6
    assert abs(sum(r["covered_seconds"] for r in per_hour) - overall) < 1e-6       # union is additive over hours


def test_calendar_dimensions_know_dst_day_lengths(spark):
    from datetime import date

    from impact.presence.calendar import date_dim, hour_dim

    days = {r["local_date"].isoformat(): r["hours_in_day"]
            for r in date_dim(spark, date(2026, 3, 28), date(2026, 3, 30)).collect()}
    assert days == {"2026-03-28": 24, "2026-03-29": 23, "2026-03-30": 24}
    autumn = date_dim(spark, date(2026, 10, 25), date(2026, 10, 25)).first()
    assert autumn["hours_in_day"] == 25 and autumn["weekday"] == "Sunday" and autumn["is_weekend"]
    assert hour_dim(spark, date(2026, 3, 29), date(2026, 3, 29)).count() == 24   # UTC hours: always 24
