"""What officers did while present: incidents attended, searches conducted, crimes recorded, and the
split of each visit's time into responding, patrolling and transit. Pure transforms; thresholds in
conf/marts.yaml (ActivityParams), reasons in docs/presence.md.

- Responding: time inside the visit while the officer was assigned to an incident (assigned until
  cleared; an assignment never cleared counts `open_assignment_s` from arrival, or from assignment).
  Any incident, anywhere: a car crossing an area on the way to a call is responding, not patrolling.
- Transit: the rest of a visit that only passed through: vehicle mode, at least
  `transit_min_vehicle_share` of its time at vehicle speed (it never stopped) and no longer than
  `transit_max_s`.
- Patrolling: the rest. responding + transit + patrolling = the visit's best-estimate dwell, always.
- Incidents attended: assignments of the officer overlapping the visit, for incidents located in the
  visit's zone (matched by officer, time and area).
- Searches conducted / crimes recorded: searches by the officer, crimes with the officer as recording
  officer, located in the visit's zone, at a time within the visit (searches: +- `event_slack_s`;
  crimes: from `event_slack_s` before entry to `crime_recording_lag_s` after exit, because a crime is
  often recorded after the officer has left). Each search or crime counts for one visit at most: the
  nearest in time.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from impact.presence.intervals import overlap_seconds, seconds_between, split_by_utc_hour, union_intervals

ACTIVITIES = ("responding", "patrolling", "transit")


@dataclass(frozen=True)
class ActivityParams:
    transit_max_s: float = 300.0
    transit_min_vehicle_share: float = 0.9
    open_assignment_s: float = 3600.0
    event_slack_s: float = 300.0
    crime_recording_lag_s: float = 14400.0


def _plus(ts: Column, seconds: float) -> Column:
    return (ts.cast("double") + F.lit(float(seconds))).cast("timestamp")


def _dates(start: Column, end: Column) -> Column:
    """UTC dates an interval touches (a join key that keeps officer-level joins small)."""
    return F.explode(F.sequence(F.to_date(start), F.to_date(F.greatest(start, end))))


def assignment_intervals(resources: DataFrame, params: ActivityParams) -> DataFrame:
    """Incident resource rows -> `collar_number, source_system, incident_ref, a_start, a_end`."""
    start = F.col("assigned_at_utc")
    fallback = _plus(F.coalesce(F.col("arrived_at_utc"), start), params.open_assignment_s)
    end = F.greatest(start, F.coalesce(F.col("cleared_at_utc"), fallback))
    return resources.select(F.upper(F.trim("resource_ref")).alias("collar_number"), "source_system",
                            "incident_ref", start.alias("a_start"), end.alias("a_end"))


# Shapes of a resource reference that names no known officer (upper-cased, trimmed). A collar number is
# digits with at most one leading letter (the demo's A594120, a force's 4321); a call sign has two or more
# letters then digits, optionally a suffix letter or a space / dash (BE21, BE21A, LIMA 21). Only used to
# report what could not be matched: assignments are matched to visits by collar number.
COLLAR_SHAPE = r"^[A-Z]?[0-9]{3,7}$"
CALL_SIGN_SHAPE = r"^[A-Z]{2,}[ -]?[0-9]{1,4}[A-Z]?$"
UNMATCHED_KINDS = ("collar_shaped", "call_sign_shaped", "other")


def unmatched_assignments(resources: DataFrame, postings: DataFrame) -> DataFrame:
    """`kind, assignments`: incident assignments whose resource_ref is the collar number of no officer in
    `postings` (so they can never match a visit), by the shape of the reference (UNMATCHED_KINDS: an
    unknown collar number, a call sign, or neither). Every kind has a row (0 where none)."""
    known = postings.select(F.upper(F.trim("collar_number")).alias("_ref")).distinct()
    ref = F.upper(F.trim("resource_ref"))
    kind = (F.when(ref.rlike(COLLAR_SHAPE), F.lit("collar_shaped"))
            .when(ref.rlike(CALL_SIGN_SHAPE), F.lit("call_sign_shaped")).otherwise(F.lit("other")))
    unmatched = (resources.select(ref.alias("_ref"), kind.alias("kind"))
                 .join(F.broadcast(known), "_ref", "left_anti"))
    kinds = resources.sparkSession.createDataFrame([(k,) for k in UNMATCHED_KINDS], "kind string")
    return (kinds.join(unmatched.groupBy("kind").agg(F.count("*").alias("assignments")), "kind", "left")
            .fillna(0, subset=["assignments"]))


def _visit_assignment_pairs(visits: DataFrame, assignments: DataFrame) -> DataFrame:
    v = visits.select("visit_id", "collar_number", "zone_id", "entry_est_at_utc", "exit_est_at_utc",
                      _dates(F.col("entry_est_at_utc"), F.col("exit_est_at_utc")).alias("_d"))
    a = assignments.select("*", _dates(F.col("a_start"), F.col("a_end")).alias("_d"))
    overlaps = (F.col("a_start") < F.col("exit_est_at_utc")) & (F.col("a_end") > F.col("entry_est_at_utc"))
    return (v.join(F.broadcast(a), ["collar_number", "_d"]).where(overlaps).drop("_d")
            .dropDuplicates(["visit_id", "source_system", "incident_ref", "a_start"]))


def responding_intervals(visits: DataFrame, assignments: DataFrame) -> DataFrame:
    """Per visit, the disjoint stretches of it spent assigned to an incident: `visit_id, r_start, r_end`."""
    pairs = _visit_assignment_pairs(visits, assignments).select(
        "visit_id", F.greatest("entry_est_at_utc", "a_start").alias("s"), F.least("exit_est_at_utc", "a_end").alias("e"))
    return (union_intervals(pairs.where(F.col("e") > F.col("s")), ["visit_id"], "s", "e")
            .select("visit_id", F.col("island_start").alias("r_start"), F.col("island_end").alias("r_end")))


def incidents_attended(visits: DataFrame, assignments: DataFrame, zoned_events: DataFrame) -> DataFrame:
    """`visit_id, incidents_attended`: distinct incidents located in the visit's zone that the officer
    was assigned to during the visit."""
    incident_zones = (zoned_events.where(F.col("event_type") == "incident")
                      .select("source_system", F.col("event_ref").alias("incident_ref"), "zone_id").distinct())
    pairs = _visit_assignment_pairs(visits, assignments).join(incident_zones, ["source_system", "incident_ref", "zone_id"])
    return pairs.groupBy("visit_id").agg(
        F.countDistinct("source_system", "incident_ref").alias("incidents_attended"))


def _nearest_visit(visits: DataFrame, events: DataFrame, time_col: str, before_s: float, after_s: float,
                   out: str) -> DataFrame:
    """Each event (by the officer, in the zone) counted for the one visit nearest it in time, within
    [entry - before_s, exit + after_s]; `visit_id, <out>`."""
    v = visits.select("visit_id", "collar_number", "zone_id", "entry_est_at_utc", "exit_est_at_utc",
                      _dates(_plus(F.col("entry_est_at_utc"), -before_s), _plus(F.col("exit_est_at_utc"), after_s)).alias("_d"))
    e = events.select("event_id", F.col("officer_collar").alias("collar_number"), "zone_id",
                      F.col(time_col).alias("_t"), F.to_date(time_col).alias("_d")).where(F.col("_t").isNotNull())
    t, entry, exit_ = F.col("_t"), F.col("entry_est_at_utc"), F.col("exit_est_at_utc")
    within = (t >= _plus(entry, -before_s)) & (t <= _plus(exit_, after_s))
    distance = F.greatest(F.lit(0.0), seconds_between(t, entry), seconds_between(exit_, t))
    nearest = Window.partitionBy("event_id", "zone_id").orderBy(distance.asc(), entry.desc(), F.col("visit_id"))
    picked = (v.join(F.broadcast(e), ["collar_number", "zone_id", "_d"]).where(within)
              .withColumn("_r", F.row_number().over(nearest)).where(F.col("_r") == 1))
    return picked.groupBy("visit_id").agg(F.countDistinct("event_id").alias(out))


def with_activity(visits: DataFrame, resources: DataFrame, zoned_events: DataFrame,
                  params: ActivityParams) -> tuple[DataFrame, DataFrame]:
    """Visits with `incidents_attended, searches_conducted, crimes_recorded, responding_s, transit_s,
    patrolling_s, activity` (the largest of the three); also returns the responding intervals."""
    assignments = assignment_intervals(resources, params)
    responding = responding_intervals(visits, assignments)
    resp_s = responding.groupBy("visit_id").agg(F.sum(seconds_between(F.col("r_start"), F.col("r_end"))).alias("_resp"))
    searches = _nearest_visit(visits, zoned_events.where(F.col("event_type") == "search"), "occurred_at_utc",
                              params.event_slack_s, params.event_slack_s, "searches_conducted")
    crimes = _nearest_visit(visits, zoned_events.where(F.col("event_type") == "crime"), "recorded_at_utc",
                            params.event_slack_s, params.crime_recording_lag_s, "crimes_recorded")
    attended = incidents_attended(visits, assignments, zoned_events)
    counts = ["incidents_attended", "searches_conducted", "crimes_recorded"]
    # the four per-visit tables hold only visits with some activity (in the demo world 18% of visits have
    # responding time, 4% an incident attended, under 1% a search or a crime): broadcast, so the visits
    # themselves are neither shuffled nor sorted for these joins (D29; sized for windows of days to weeks)
    joined = (visits.join(F.broadcast(resp_s), "visit_id", "left").join(F.broadcast(attended), "visit_id", "left")
              .join(F.broadcast(searches), "visit_id", "left").join(F.broadcast(crimes), "visit_id", "left")
              .fillna(0, subset=counts))
    best = F.col("duration_best_s")
    responding_s = F.least(best, F.coalesce(F.col("_resp"), F.lit(0.0)))
    transit = ((F.col("mode") == "vehicle") & (F.col("vehicle_share") >= params.transit_min_vehicle_share)
               & (best <= params.transit_max_s))
    out = (joined.withColumn("responding_s", responding_s)
           .withColumn("is_transit", transit)
           .withColumn("transit_s", F.when(transit, best - F.col("responding_s")).otherwise(F.lit(0.0)))
           .withColumn("patrolling_s", best - F.col("responding_s") - F.col("transit_s")))
    largest = F.greatest("responding_s", "patrolling_s", "transit_s")
    activity = (F.when(best <= 0, F.lit("patrolling"))
                .when(F.col("responding_s") == largest, F.lit("responding"))
                .when(F.col("transit_s") == largest, F.lit("transit")).otherwise(F.lit("patrolling")))
    return out.withColumn("activity", activity).drop("_resp"), responding


def activity_pieces(visits: DataFrame, responding: DataFrame) -> DataFrame:
    """Each visit cut at UTC hours, with the piece's `responding_s`, `transit_s` and `patrolling_s`
    (exact: responding from the intervals, transit for the whole of a transit visit)."""
    pieces = split_by_utc_hour(visits, "entry_est_at_utc", "exit_est_at_utc")
    overlap = (pieces.select("visit_id", "hour_start_utc", "piece_start_utc", "piece_end_utc")
               .join(F.broadcast(responding), "visit_id")
               .groupBy("visit_id", "hour_start_utc")
               .agg(F.sum(overlap_seconds(F.col("piece_start_utc"), F.col("piece_end_utc"),
                                          F.col("r_start"), F.col("r_end"))).alias("_r")))
    with_r = pieces.join(F.broadcast(overlap), ["visit_id", "hour_start_utc"], "left")
    r = F.least(F.col("seconds"), F.coalesce(F.col("_r"), F.lit(0.0)))
    t = F.when(F.col("is_transit"), F.col("seconds") - r).otherwise(F.lit(0.0))
    return (with_r.withColumn("piece_responding_s", r).withColumn("piece_transit_s", t)
            .withColumn("piece_patrolling_s", F.col("seconds") - F.col("piece_responding_s") - F.col("piece_transit_s"))
            .drop("_r"))
