"""Interval arithmetic for presence: split intervals at UTC hour boundaries, union overlapping ones,
and derive Europe/London fields.

Everything is keyed by the UTC hour (`hour_start_utc`): a UTC hour always lasts 3,600 s, so a
daylight-saving day neither loses nor doubles presence. Local date and hour are derived labels: on the
25-hour October day local hour 01 occurs twice (two UTC hours, different `utc_offset_hours`), on the
23-hour March day local hour 01 does not occur.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

LOCAL_TZ = "Europe/London"


def seconds_between(start: Column, end: Column) -> Column:
    """Seconds from start to end (double), for timestamp columns."""
    return end.cast("double") - start.cast("double")


def split_by_utc_hour(df: DataFrame, start_col: str, end_col: str) -> DataFrame:
    """One row per (input row, UTC hour it overlaps), with `hour_start_utc`, `piece_start_utc`,
    `piece_end_utc` and `seconds` (> 0). Zero-length and inverted intervals yield no pieces.
    The pieces of an interval add up exactly to its length."""
    start, end = F.col(start_col), F.col(end_col)
    last_hour = F.date_trunc("hour", end - F.expr("INTERVAL 1 MICROSECOND"))
    hours = F.when(end > start, F.sequence(F.date_trunc("hour", start), last_hour, F.expr("INTERVAL 1 HOUR")))
    pieces = df.withColumn("hour_start_utc", F.explode(hours))
    piece_start = F.greatest(start, F.col("hour_start_utc"))
    piece_end = F.least(end, F.col("hour_start_utc") + F.expr("INTERVAL 1 HOUR"))
    return (pieces.withColumn("piece_start_utc", piece_start)
            .withColumn("piece_end_utc", piece_end)
            .withColumn("seconds", seconds_between(F.col("piece_start_utc"), F.col("piece_end_utc"))))


def union_intervals(df: DataFrame, group_cols: list[str], start_col: str, end_col: str) -> DataFrame:
    """Per group, the union of [start, end) intervals as disjoint islands: `group_cols`, `island_start`,
    `island_end`, `interval_count`. Gaps-and-islands: an interval starts a new island when it begins
    after every earlier interval in the group has ended (touching intervals merge)."""
    order = Window.partitionBy(*group_cols).orderBy(start_col, end_col)
    running_end = F.max(end_col).over(order.rowsBetween(Window.unboundedPreceding, -1))
    islands = (df.withColumn("_new", F.when(running_end.isNull() | (F.col(start_col) > running_end), 1).otherwise(0))
               .withColumn("_island", F.sum("_new").over(order.rowsBetween(Window.unboundedPreceding, 0))))
    return (islands.groupBy(*group_cols, "_island")
            .agg(F.min(start_col).alias("island_start"), F.max(end_col).alias("island_end"),
                 F.count("*").alias("interval_count"))
            .drop("_island"))


def union_seconds(df: DataFrame, group_cols: list[str], start_col: str, end_col: str) -> DataFrame:
    """Per group, the length in seconds of the union of [start, end) intervals (time covered by at
    least one interval), as `covered_seconds`, plus `interval_count`."""
    return (union_intervals(df, group_cols, start_col, end_col)
            .groupBy(*group_cols)
            .agg(F.sum(seconds_between(F.col("island_start"), F.col("island_end"))).alias("covered_seconds"),
                 F.sum("interval_count").alias("interval_count"))
            .select(*group_cols, "covered_seconds", "interval_count"))


def overlap_seconds(a_start: Column, a_end: Column, b_start: Column, b_end: Column) -> Column:
    """Seconds two intervals overlap (0 when they do not)."""
    return F.greatest(F.lit(0.0), seconds_between(F.greatest(a_start, b_start), F.least(a_end, b_end)))


def with_local_time(df: DataFrame, utc_col: str, prefix: str = "local_") -> DataFrame:
    """Add Europe/London `<prefix>date`, `<prefix>hour` (0-23), `<prefix>weekday` (Mon..Sun) and
    `utc_offset_hours` (0 in GMT, 1 in BST) derived from a UTC timestamp column."""
    local = F.from_utc_timestamp(F.col(utc_col), LOCAL_TZ)
    return df.withColumns({
        f"{prefix}date": F.to_date(local),
        f"{prefix}hour": F.hour(local),
        f"{prefix}weekday": F.date_format(local, "E"),
        "utc_offset_hours": ((local.cast("long") - F.col(utc_col).cast("long")) / 3600).cast("int"),
    })
