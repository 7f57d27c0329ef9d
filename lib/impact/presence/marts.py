"""The star schema the Qlik dashboard reads: dimensions and the area-day summary. Pure transforms.

Dimensions: `dim_area` (one row per zone: an area or one of its rings), `dim_officer` (posting history,
nothing personal beyond the collar number), `dim_date` (Europe/London dates), `dim_hour` (UTC hours
with local labels). Facts join to them on `zone_id`, `collar_number` + date, `local_date`,
`hour_start_utc`.
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from impact.exact import exact_sum
from impact.postings import posting_at_date
from impact.presence.facts import ACTIVITY_MINUTES, DWELL_BANDS, dwell_band
from impact.spatial.bng import geometry_wkt_to_wgs84


def dim_area(zones: DataFrame, areas: DataFrame) -> DataFrame:
    """Zones with their area's name, status and designation date, geometry in BNG and WGS84 WKT."""
    a = areas.select("area_id", "area_name", "designated_from")
    return (zones.join(a, "area_id", "left")
            .withColumn("geometry_wkt_wgs84", geometry_wkt_to_wgs84(F.col("geometry_wkt")))
            .withColumn("is_ring", F.col("zone_type") != "area"))


def dim_officer(postings: DataFrame) -> DataFrame:
    """One row per posting: the officer's unit, department and role over [valid_from, valid_to]."""
    return postings.select(
        F.concat_ws("|", "collar_number", F.col("valid_from").cast("string")).alias("officer_posting_key"),
        "collar_number", "department", F.coalesce("npu", F.lit("none")).alias("npu"), "role",
        "valid_from", "valid_to", F.col("valid_to").isNull().alias("is_current"))


def fact_visit(visits_with_activity: DataFrame, officers: DataFrame) -> DataFrame:
    """Visits with activity, dwell band, local labels of the entry and the key of the officer's posting
    that day (`officer_posting_key`, null without one). The track lives in fact_visit_track."""
    local = F.from_utc_timestamp("entry_est_at_utc", "Europe/London")
    v = visits_with_activity.withColumns({"entry_local_date": F.to_date(local), "entry_local_hour": F.hour(local),
                                          "dwell_band": dwell_band(F.col("duration_best_s"))})
    return posting_at_date(v, officers, ["officer_posting_key"])


def fact_visit_track(visits: DataFrame) -> DataFrame:
    """Simplified track per visit, in BNG and WGS84 WKT (for the dashboard map)."""
    return visits.select("visit_id", "collar_number", "zone_id", "visit_date",
                         F.col("track_wkt").alias("track_wkt_bng"),
                         geometry_wkt_to_wgs84(F.col("track_wkt")).alias("track_wkt_wgs84"),
                         F.col("fix_count"))


def area_day(zones: DataFrame, dates: DataFrame, presence_hour: DataFrame, intermittency: DataFrame,
             events: DataFrame, visits: DataFrame, start: date, end: date) -> DataFrame:
    """Every zone x local date in [start, end] (days with nothing are rows of zeros: they are data),
    with presence, intermittency, events occurring that day and what officers did there. The day's
    minutes and harm are order-independent sums (impact.exact): the same rows give the same bits
    whatever plan delivered them (D29)."""
    grid = (zones.select("zone_id", "area_id", "zone_type", "area_status", "designated_from")
            .crossJoin(dates.where(F.col("local_date").between(F.lit(start), F.lit(end)))
                       .select("local_date", "hours_in_day")))
    band_cols = ["visits_started"] + [f"visits_{n}" for n, _, _ in DWELL_BANDS]
    minute_cols = ["officer_minutes", "patrol_minutes"] + [f"{a}_officer_minutes" for a in ACTIVITY_MINUTES]
    pres = presence_hour.groupBy("zone_id", "local_date").agg(
        *[exact_sum(c).alias(c) for c in minute_cols], *[F.sum(c).alias(c) for c in band_cols],
        F.max("max_officers").alias("max_officers"))
    inter = intermittency.select("zone_id", "local_date", "hours_with_presence", "longest_gap_minutes")
    exact = events.where(F.col("time_precision") == "exact")
    ev = exact.groupBy("zone_id", "local_date").agg(
        F.sum(F.when(F.col("event_type") == "crime", 1).otherwise(0)).alias("crimes"),
        exact_sum(F.when(F.col("event_type") == "crime", F.col("harm_weight")).otherwise(0.0)).alias("crime_harm"),
        F.sum(F.when(F.col("event_type") == "incident", 1).otherwise(0)).alias("incidents"),
        F.sum(F.when((F.col("event_type") == "incident") & (F.col("priority_grade") <= 2), 1).otherwise(0)).alias("incidents_priority_1_2"),
        F.sum(F.when(F.col("event_type") == "search", 1).otherwise(0)).alias("searches"),
    )
    act = (visits.withColumn("local_date", F.to_date(F.from_utc_timestamp("entry_est_at_utc", "Europe/London")))
           .groupBy("zone_id", "local_date")
           .agg(F.sum("incidents_attended").alias("incidents_attended"),
                F.sum("searches_conducted").alias("searches_conducted"),
                F.sum("crimes_recorded").alias("crimes_recorded"),
                F.countDistinct("collar_number").alias("officers_visiting")))
    zero_cols = (minute_cols + band_cols + ["max_officers", "hours_with_presence", "crimes", "crime_harm", "incidents",
                                            "incidents_priority_1_2", "searches", "incidents_attended",
                                            "searches_conducted", "crimes_recorded", "officers_visiting"])
    out = (grid.join(pres, ["zone_id", "local_date"], "left").join(inter, ["zone_id", "local_date"], "left")
           .join(ev, ["zone_id", "local_date"], "left").join(act, ["zone_id", "local_date"], "left")
           .fillna(0, subset=zero_cols)
           .withColumn("longest_gap_minutes", F.coalesce("longest_gap_minutes", F.col("hours_in_day") * 60.0))
           .withColumn("designated", (F.col("area_status") == "impact") & F.col("designated_from").isNotNull()
                       & (F.col("local_date") >= F.col("designated_from"))))
    return out.drop("designated_from")
