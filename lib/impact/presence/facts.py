"""Presence facts from visits: officer time, covered (patrol) time, officers present and dwell bands,
per zone and UTC hour. Pure transforms.

Input: visits with `visit_id, collar_number, zone_id, entry_est_at_utc, exit_est_at_utc,
duration_best_s` plus any grouping columns (unit, role, mode). Each visit is cut at UTC hour boundaries
(intervals.split_by_utc_hour), so presence is additive across hours and a daylight-saving day neither
loses nor doubles time.

- officer_minutes: sum of officers' time (two officers for 10 minutes = 20).
- patrol_minutes: time with at least one officer present: the union of intervals, never more than 60.
- officers_present: distinct officers in the hour; mean_officers = officer_minutes / 60;
  max_officers = the most present at the same instant (sweep line over entry/exit events).
- visits_<band>: visits *starting* in the hour by best-estimate dwell: Koper's bands (minutes)
  under 2, 2-10, 10-16 (the deterrence sweet spot) and over 16.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from impact.presence.intervals import seconds_between, split_by_utc_hour, union_seconds, with_local_time

DWELL_BANDS = (("under_2", 0, 120), ("2_10", 120, 600), ("10_16", 600, 960), ("over_16", 960, None))


def in_dwell_band(duration_s: Column, name: str) -> Column:
    """True where a dwell of `duration_s` seconds is in band `name` of DWELL_BANDS (lower edge included,
    upper excluded); null for a null duration. The one definition of the bands' edges."""
    low, high = {n: (lo, hi) for n, lo, hi in DWELL_BANDS}[name]
    cond = duration_s >= low
    return cond if high is None else cond & (duration_s < high)


def dwell_band(duration_s: Column) -> Column:
    """The DWELL_BANDS name of a dwell of `duration_s` seconds (null below 0 or for a null duration)."""
    band = F.lit(None).cast("string")
    for name, _, _ in reversed(DWELL_BANDS):
        band = F.when(in_dwell_band(duration_s, name), F.lit(name)).otherwise(band)
    return band


def _dwell_band_counts(visits: DataFrame, keys: list[str]) -> DataFrame:
    started = visits.withColumn("hour_start_utc", F.date_trunc("hour", "entry_est_at_utc"))
    aggs = [F.sum(F.when(in_dwell_band(F.col("duration_best_s"), name), 1).otherwise(0)).alias(f"visits_{name}")
            for name, _, _ in DWELL_BANDS]
    return started.groupBy(*keys, "hour_start_utc").agg(F.count("*").alias("visits_started"), *aggs)


def _sweep(pieces: DataFrame, keys: list[str]) -> DataFrame:
    """Per key and hour, one sweep over the pieces' entries (+1) and exits (-1) in time order (an exit
    at t before an entry at t): `max_officers`, the most present at one instant, and `covered_seconds`,
    the time with at least one present (the union of the pieces; touching pieces leave no gap).

    The covered time is a sum of differences of timestamps in one hour: for dates from 2004 to 2038 (one
    binade of a double's epoch seconds) each difference and every partial sum is exact, so it equals the
    union's island lengths (intervals.union_seconds) to the last bit."""
    events = (pieces.select(*keys, "hour_start_utc", F.col("piece_start_utc").alias("t"), F.lit(1).alias("d"))
              .unionByName(pieces.select(*keys, "hour_start_utc", F.col("piece_end_utc").alias("t"), F.lit(-1).alias("d"))))
    order = Window.partitionBy(*keys, "hour_start_utc").orderBy("t", "d")
    swept = events.withColumns({"present": F.sum("d").over(order.rowsBetween(Window.unboundedPreceding, 0)),
                                "_next": F.lead("t").over(order)})
    covered = F.when(F.col("present") > 0, seconds_between(F.col("t"), F.col("_next")))
    return swept.groupBy(*keys, "hour_start_utc").agg(F.max("present").alias("max_officers"),
                                                      F.sum(covered).alias("covered_seconds"))


ACTIVITY_MINUTES = ("responding", "patrolling", "transit")


def presence_by_hour(visits: DataFrame, keys: list[str], pieces: DataFrame | None = None) -> DataFrame:
    """Presence per `keys` (e.g. ["zone_id"] or ["zone_id", "department", "role", "mode"]) and UTC hour,
    with Europe/London labels. Hours with no presence have no row.

    `pieces`: the visits already cut at UTC hours with their activity seconds (activity.activity_pieces);
    when given, officer-minutes are also split into `<activity>_officer_minutes` (they add up to
    officer_minutes)."""
    activity = pieces is not None
    if pieces is None:
        pieces = split_by_utc_hour(visits, "entry_est_at_utc", "exit_est_at_utc")
    extra = [(F.sum(f"piece_{a}_s") / 60).alias(f"{a}_officer_minutes") for a in ACTIVITY_MINUTES] if activity else []
    # a visit has one piece per hour and `keys` are the visit's own attributes, so the pieces of a key
    # and hour are distinct visits: their count is visits_present (no distinct aggregate needed)
    time = pieces.groupBy(*keys, "hour_start_utc").agg(
        (F.sum("seconds") / 60).alias("officer_minutes"),
        F.countDistinct("collar_number").alias("officers_present"),
        F.count("*").alias("visits_present"),
        *extra,
    )
    swept = _sweep(pieces, keys).select(*keys, "hour_start_utc", "max_officers",
                                        (F.col("covered_seconds") / 60).alias("patrol_minutes"))
    bands = _dwell_band_counts(visits, keys)
    band_cols = ["visits_started"] + [f"visits_{name}" for name, _, _ in DWELL_BANDS]
    joined = (time.join(swept, on=[*keys, "hour_start_utc"], how="inner")
              .join(bands, on=[*keys, "hour_start_utc"], how="left")
              .fillna(0, subset=band_cols)
              .withColumn("mean_officers", F.col("officer_minutes") / 60))
    return with_local_time(joined, "hour_start_utc").select(
        *keys, "hour_start_utc", "local_date", "local_hour", "local_weekday", "utc_offset_hours",
        "officer_minutes", "patrol_minutes", "officers_present", "mean_officers", "max_officers",
        "visits_present", *band_cols,
        *([f"{a}_officer_minutes" for a in ACTIVITY_MINUTES] if activity else []))


def intermittency_by_day(visits: DataFrame, keys: list[str], pieces: DataFrame | None = None) -> DataFrame:
    """Per `keys` and local date: hours with at least one officer present, covered minutes, and the
    longest stretch of the local day (in minutes) with nobody present. Days with no presence have no row.

    Built from the UTC-hour pieces of each visit: UK offsets are whole hours, so every piece lies inside
    one local day, and a visit across local midnight counts on both days. `pieces`: the visits already cut
    at UTC hours (as presence_by_hour takes them), so they are not cut again."""
    if pieces is None:
        pieces = split_by_utc_hour(visits, "entry_est_at_utc", "exit_est_at_utc")
    pieces = with_local_time(pieces, "hour_start_utc")
    group = [*keys, "local_date"]
    day_start = F.to_utc_timestamp(F.col("local_date").cast("timestamp"), "Europe/London")
    day_end = F.to_utc_timestamp(F.date_add("local_date", 1).cast("timestamp"), "Europe/London")
    order = Window.partitionBy(*group).orderBy("piece_start_utc", "piece_end_utc")
    prev_end = F.max("piece_end_utc").over(order.rowsBetween(Window.unboundedPreceding, -1))
    gaps = pieces.withColumns({
        "_gap": F.col("piece_start_utc").cast("double") - F.coalesce(prev_end, day_start).cast("double"),
        "_day_end": day_end,
    })
    per_day = gaps.groupBy(*group).agg(
        F.max("_gap").alias("_inner_gap"),
        (F.max("_day_end").cast("double") - F.max("piece_end_utc").cast("double")).alias("_tail_gap"),
        F.countDistinct("hour_start_utc").alias("hours_with_presence"),
    )
    covered = union_seconds(pieces, group, "piece_start_utc", "piece_end_utc")
    return (per_day.join(covered, on=group, how="inner")
            .select(*group, "hours_with_presence",
                    (F.col("covered_seconds") / 60).alias("covered_minutes"),
                    (F.greatest("_inner_gap", "_tail_gap") / 60).alias("longest_gap_minutes")))
