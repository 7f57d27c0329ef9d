"""Marts -> the analysis's small panels (pure DataFrame transforms; no I/O, no session lookup).

Every panel is small (tens of zones x tens of weeks, or x 168 hours of the week) and is collected to
pandas by `impact.analysis.pipeline` for the statistics. Weeks are Europe/London weeks starting on
Monday (`week_start`); the hour of the week is `weekday_index x 24 + local hour` (Monday 00:00 = 0).
"""
from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from impact.exact import exact_sum

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
PRESENCE_SUMS = ["officer_minutes", "patrol_minutes", "responding_officer_minutes",
                 "patrolling_officer_minutes", "transit_officer_minutes"]
EVENT_SUMS = ["crimes", "crime_harm", "incidents", "incidents_priority_1_2", "searches"]
FLOAT_SUMS = set(PRESENCE_SUMS) | {"crime_harm"}     # the double columns of the two lists


def total(column: str) -> Column:
    """`column`'s sum under its own name: exact (`exact_sum`) for the double columns of FLOAT_SUMS."""
    return (exact_sum(column) if column in FLOAT_SUMS else F.sum(column)).alias(column)


def in_window(df: DataFrame, column: str, start: date, end: date) -> DataFrame:
    """Rows whose `column` (a date) lies in start..end inclusive."""
    return df.where(F.col(column).between(F.lit(start), F.lit(end)))


def week_start(column: str) -> Column:
    """Monday of the (local) date in `column`."""
    return F.to_date(F.date_trunc("week", F.col(column)))


def hour_of_week(weekday: str = "local_weekday", hour: str = "local_hour") -> Column:
    """0..167 from a Mon..Sun weekday label and a 0-23 local hour."""
    index = F.create_map(*[x for i, d in enumerate(WEEKDAYS) for x in (F.lit(d), F.lit(i))])
    return (index[F.col(weekday)] * 24 + F.col(hour)).cast("int")


def designations(dim_area: DataFrame, overrides: DataFrame | None = None) -> DataFrame:
    """area_id -> designated_from (date; null for comparison areas): from dim_area, replaced per area by
    `overrides` (area_id, designated_from) where given."""
    base = (dim_area.where(F.col("zone_type") == "area")
            .select("area_id", "area_status", F.col("designated_from").cast("date").alias("designated_from")))
    if overrides is None:
        return base
    o = overrides.select("area_id", F.col("designated_from").cast("date").alias("override_from"))
    return (base.join(o, on="area_id", how="left")
            .select("area_id", "area_status", F.coalesce("override_from", "designated_from").alias("designated_from")))


def zone_day_panel(area_day: DataFrame, designation: DataFrame) -> DataFrame:
    """fact_area_day (one window) + each area's designation date -> zone x local day with `post`
    (1 from the zone's area designation on; always 0 for comparison zones) and `week_start`."""
    d = designation.select("area_id", "designated_from")
    return (area_day.join(d, on="area_id", how="left")
            .withColumn("post", F.when(F.col("designated_from").isNotNull()
                                       & (F.col("local_date") >= F.col("designated_from")), 1).otherwise(0))
            .withColumn("week_start", week_start("local_date"))
            .select("zone_id", "area_id", "zone_type", "area_status", "local_date", "week_start", "hours_in_day",
                    "designated_from", "post", *PRESENCE_SUMS, *EVENT_SUMS))


def zone_week_panel(zone_day: DataFrame) -> DataFrame:
    """zone x week sums of `zone_day_panel` with `days` observed (the exposure of partial weeks) and
    `post` = 1 when the week contains or follows the designation date."""
    keys = ["zone_id", "area_id", "zone_type", "area_status", "week_start", "designated_from"]
    return (zone_day.groupBy(*keys)
            .agg(F.count(F.lit(1)).alias("days"), *[total(c) for c in PRESENCE_SUMS + EVENT_SUMS])
            .withColumn("post", F.when(F.col("designated_from").isNotNull()
                                       & (F.date_add("week_start", 6) >= F.col("designated_from")), 1).otherwise(0))
            .select(*keys, "days", "post", *PRESENCE_SUMS, *EVENT_SUMS))


def role_week_presence(presence_unit: DataFrame, role_groups: dict[str, list[str]]) -> DataFrame:
    """fact_presence_hour_unit -> zone x week x role group: officer- and patrolling officer-minutes.
    `role_groups` maps a group name to roles; other roles fall in `other`."""
    group = F.lit("other")
    for name, roles in reversed(list(role_groups.items())):
        group = F.when(F.col("role").isin(roles), F.lit(name)).otherwise(group)
    return (presence_unit.withColumn("role_group", group).withColumn("week_start", week_start("local_date"))
            .groupBy("zone_id", "week_start", "role_group")
            .agg(total("officer_minutes"), total("patrolling_officer_minutes")))


def proactive_day_presence(presence_unit: DataFrame, reactive_roles: list[str]) -> DataFrame:
    """fact_presence_hour_unit -> zone x local day: `proactive_patrolling_minutes`, the patrolling
    officer-minutes of officers whose role is not reactive (response cars are sent where crime has just
    happened, so their time in an area follows its crime: the presence models leave it out)."""
    return (presence_unit.where(~F.col("role").isin(reactive_roles) | F.col("role").isNull())
            .groupBy("zone_id", "local_date")
            .agg(exact_sum("patrolling_officer_minutes").alias("proactive_patrolling_minutes")))


def exact_events(events: DataFrame, start: date, end: date) -> DataFrame:
    """fact_event rows with an exact time that occurred (local date) in the window, with week and hour of week."""
    return (in_window(events.where(F.col("time_precision") == "exact"), "local_date", start, end)
            .withColumn("week_start", week_start("local_date"))
            .withColumn("hour_of_week", hour_of_week()))


def key_type(column: Column, lists: dict[str, list[str]]) -> Column:
    """The key type whose list holds `column` (case-insensitive), else OTHER."""
    out = F.lit("OTHER")
    for name, values in reversed(list(lists.items())):
        out = F.when(F.lower(column).isin([v.lower() for v in values]), F.lit(name)).otherwise(out)
    return out


def crime_type_week(events: DataFrame, offence_classes: dict[str, list[str]]) -> DataFrame:
    """Exact crimes -> zone x week x key crime type (by offence class, else the police.uk crime type;
    crimes of no key type are OTHER)."""
    crime_type = key_type(F.coalesce("offence_class", "category"), offence_classes)
    return (events.where(F.col("event_type") == "crime").withColumn("crime_type", crime_type)
            .groupBy("zone_id", "week_start", "crime_type").agg(F.count(F.lit(1)).alias("crimes")))


def incident_category_week(events: DataFrame, call_categories: dict[str, list[str]]) -> DataFrame:
    """Exact incidents -> zone x week x key call type (by opening category; others OTHER): calls."""
    return (events.where(F.col("event_type") == "incident")
            .groupBy("zone_id", "week_start", key_type(F.coalesce("category", F.lit("")), call_categories).alias("call_category"))
            .agg(F.count(F.lit(1)).alias("calls")))


def crime_calls_day(events: DataFrame, call_categories: dict[str, list[str]]) -> DataFrame:
    """Exact incidents whose opening category is of a key crime type -> zone x local day: `crime_calls`
    (the demand the presence models also fit: more events than recorded crimes, so tighter intervals)."""
    return (events.where(F.col("event_type") == "incident")
            .where(key_type(F.coalesce("category", F.lit("")), call_categories) != "OTHER")
            .groupBy("zone_id", "local_date").agg(F.count(F.lit(1)).alias("crime_calls")))


def hour_of_week_profile(presence_hour: DataFrame, events: DataFrame) -> DataFrame:
    """zone x hour of week: presence (officer- and patrol-minutes) and demand (crimes, harm, incidents,
    searches), all 168 hours of every zone present (zeros included)."""
    presence = (presence_hour.withColumn("hour_of_week", hour_of_week())
                .groupBy("zone_id", "hour_of_week")
                .agg(total("officer_minutes"), total("patrol_minutes")))
    demand = (events.groupBy("zone_id", "hour_of_week").agg(
        F.sum(F.when(F.col("event_type") == "crime", 1).otherwise(0)).alias("crimes"),
        exact_sum(F.when(F.col("event_type") == "crime", F.coalesce("harm_weight", F.lit(1.0))).otherwise(0.0)).alias("crime_harm"),
        F.sum(F.when(F.col("event_type") == "incident", 1).otherwise(0)).alias("incidents"),
        F.sum(F.when(F.col("event_type") == "search", 1).otherwise(0)).alias("searches")))
    return presence.join(demand, on=["zone_id", "hour_of_week"], how="full").fillna(0)


def resource_presence(presence_unit: DataFrame, visits: DataFrame) -> DataFrame:
    """zone x department x NPU x role x mode: officer-, patrol-, responding/patrolling/transit minutes
    (from fact_presence_hour_unit) and distinct officers (from fact_visit), for small-cell suppression."""
    keys = ["zone_id", "department", "npu", "role", "mode"]
    minutes = presence_unit.groupBy(*keys).agg(*[total(c) for c in PRESENCE_SUMS])
    officers = visits.groupBy(*keys).agg(F.countDistinct("collar_number").alias("officers"),
                                         F.count(F.lit(1)).alias("visits"),
                                         F.sum("incidents_attended").alias("incidents_attended"),
                                         F.sum("searches_conducted").alias("searches_conducted"),
                                         F.sum("crimes_recorded").alias("crimes_recorded"))
    return minutes.join(officers, on=keys, how="full").fillna(0)


def search_summary(events: DataFrame) -> DataFrame:
    """Exact searches -> zone x legislation x object x outcome: searches and finds (outcome linked to object)."""
    return (events.where(F.col("event_type") == "search")
            .groupBy("zone_id", F.coalesce("legislation", F.lit("unknown")).alias("legislation"),
                     F.coalesce("category", F.lit("unknown")).alias("object"),
                     F.coalesce("outcome", F.lit("unknown")).alias("outcome"))
            .agg(F.count(F.lit(1)).alias("searches"),
                 F.sum(F.when(F.col("outcome_linked_to_object"), 1).otherwise(0)).alias("finds")))


def incident_summary(events: DataFrame) -> DataFrame:
    """Exact incidents -> zone x priority x opening category: incidents."""
    return (events.where(F.col("event_type") == "incident")
            .groupBy("zone_id", F.coalesce(F.col("priority_grade").cast("string"), F.lit("unknown")).alias("priority"),
                     F.upper(F.coalesce("category", F.lit("UNKNOWN"))).alias("category"))
            .agg(F.count(F.lit(1)).alias("incidents")))


def shift_coverage(pings: DataFrame, shift_break_s: float, gap_s: float) -> DataFrame:
    """Accepted pings -> one row per officer shift (fixes of one collar number with no break longer than
    `shift_break_s`): fixes, span (hours), fixes per hour, gaps longer than `gap_s` and their minutes.
    The collar number stays in this intermediate frame only; outputs are aggregates."""
    w = Window.partitionBy("collar_number").orderBy("t")
    p = (pings.select("collar_number", F.col("fix_at_utc").cast("double").alias("t"))
         .withColumn("gap", F.col("t") - F.lag("t").over(w)))
    p = p.withColumn("shift_no", F.sum(F.when(F.col("gap").isNull() | (F.col("gap") > shift_break_s), 1).otherwise(0)).over(
        w.rowsBetween(Window.unboundedPreceding, 0)))
    inner = F.when(F.col("gap") <= shift_break_s, F.col("gap"))
    return (p.groupBy("collar_number", "shift_no").agg(
        F.count(F.lit(1)).alias("fixes"),
        ((F.max("t") - F.min("t")) / 3600.0).alias("span_hours"),
        F.sum(F.when(inner > gap_s, 1).otherwise(0)).alias("gaps_over"),
        exact_sum(F.when(inner > gap_s, inner).otherwise(0.0) / 60.0).alias("gap_minutes"))
        .withColumn("fixes_per_hour", F.col("fixes") / F.greatest(F.col("span_hours"), F.lit(1 / 60))))


def officers_never_seen(postings: DataFrame, pings: DataFrame, start: date, end: date) -> DataFrame:
    """Collar numbers with a posting overlapping the window and no accepted ping in it (one column)."""
    active = (postings.where((F.col("valid_from") <= F.lit(end))
                             & (F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(start))))
              .select("collar_number").distinct())
    seen = pings.select("collar_number").distinct()
    return active.join(seen, on="collar_number", how="left_anti")


def incident_attendance(events: DataFrame, resources: DataFrame, visits: DataFrame) -> DataFrame:
    """Incidents in areas (zone_type area) -> `has_resource` (any resource row) and `attended` (a visit by
    an assigned collar number to that zone overlapping arrival..clearance, or assignment + 1 h)."""
    inc = (events.where((F.col("event_type") == "incident") & (F.col("zone_type") == "area"))
           .select("event_ref", "zone_id", "area_status"))
    res = resources.select(F.col("incident_ref").alias("event_ref"), "resource_ref",
                           F.coalesce("arrived_at_utc", "assigned_at_utc").alias("r_from"),
                           F.coalesce("cleared_at_utc", F.col("assigned_at_utc") + F.expr("INTERVAL 1 HOUR")).alias("r_to"))
    vis = visits.select(F.col("collar_number").alias("resource_ref"), "zone_id", "entry_est_at_utc", "exit_est_at_utc")
    linked = inc.join(res, on="event_ref", how="left")
    hit = (linked.join(vis, on=["resource_ref", "zone_id"], how="left")
           .withColumn("overlap", F.col("entry_est_at_utc").isNotNull() & (F.col("entry_est_at_utc") <= F.col("r_to"))
                       & (F.col("exit_est_at_utc") >= F.col("r_from"))))
    return (hit.groupBy("event_ref", "zone_id", "area_status")
            .agg(F.max(F.col("resource_ref").isNotNull()).alias("has_resource"), F.max("overlap").alias("attended"))
            .fillna(False, subset=["attended"]))
