"""Date and hour dimensions for the marts, built from a UTC window (no I/O)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from impact.presence.intervals import with_local_time


def hour_dim(spark: SparkSession, start: date, end: date) -> DataFrame:
    """One row per UTC hour from start 00:00 UTC to end 23:00 UTC, with Europe/London labels.
    The key is `hour_start_utc`; local date/hour are labels (see intervals.py on DST)."""
    first = datetime(start.year, start.month, start.day)
    last = datetime(end.year, end.month, end.day) + timedelta(hours=23)
    hours = spark.range(1).select(
        F.explode(F.sequence(F.lit(first), F.lit(last), F.expr("INTERVAL 1 HOUR"))).alias("hour_start_utc"))
    return (with_local_time(hours, "hour_start_utc")
            .withColumn("utc_date", F.to_date("hour_start_utc"))
            .select("hour_start_utc", "utc_date", "local_date", "local_hour", "local_weekday", "utc_offset_hours"))


def date_dim(spark: SparkSession, start: date, end: date) -> DataFrame:
    """One row per local (Europe/London) date with calendar attributes and its length in hours
    (23 on the March clock change, 25 in October, else 24)."""
    hours = hour_dim(spark, start - timedelta(days=1), end + timedelta(days=1))
    days = hours.groupBy("local_date").agg(F.count("*").alias("hours_in_day"))
    return (days.where(F.col("local_date").between(F.lit(start), F.lit(end)))
            .withColumns({
                "weekday": F.date_format("local_date", "EEEE"),
                "is_weekend": F.dayofweek("local_date").isin(1, 7),
                "iso_week": F.weekofyear("local_date"),
                "month": F.date_format("local_date", "yyyy-MM"),
            })
            .select("local_date", "weekday", "is_weekend", "iso_week", "month", "hours_in_day"))
