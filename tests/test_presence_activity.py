"""Activity of hand-built visits: the responding / transit / patrolling split, incidents attended,
searches and crimes attributed to one visit each, and the split carried exactly into hours."""
from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import functions as F

from impact.presence.activity import ActivityParams, activity_pieces, with_activity
from impact.presence.facts import presence_by_hour

T = lambda hh, mm, ss=0: datetime(2026, 3, 20, hh, mm, ss)  # noqa: E731
PARAMS = ActivityParams()

VISITS = [  # visit_id, collar, zone, entry, exit, mode, vehicle_share
    ("V1", "A1", "Z1", T(10, 0), T(10, 30), "foot", 0.0),
    ("V2", "A1", "Z2", T(10, 40), T(10, 42), "vehicle", 1.0),      # short, never slowed: transit
    ("V3", "B2", "Z1", T(11, 0), T(11, 4), "vehicle", 0.95),       # on the way to a call elsewhere
    ("V4", "B2", "Z1", T(12, 0), T(12, 20), "vehicle", 1.0),       # driving round for 20 min: patrol
    ("V5", "A1", "Z1", T(13, 0), T(13, 10), "foot", 0.0),
    ("V6", "C3", "Z3", T(9, 50), T(10, 10), "foot", 0.0),          # across an hour boundary
]
RESOURCES = [  # incident_ref, system, resource, assigned, arrived, cleared
    ("I1", "oasis", "A1", T(10, 10), T(10, 12), T(10, 20)),
    ("I2", "oasis", "b2", T(10, 50), T(10, 55), None),             # never cleared: until arrival + 1 h
    ("I3", "controlworks", "C3", T(9, 55), T(9, 56), T(10, 5)),
]
EVENTS = [  # event_id, type, system, ref, zone, occurred, recorded, officer
    ("incident:oasis:I1", "incident", "oasis", "I1", "Z1", T(10, 5), T(10, 5), None),
    ("incident:oasis:I2", "incident", "oasis", "I2", "Z9", T(10, 45), T(10, 45), None),
    ("incident:controlworks:I3", "incident", "controlworks", "I3", "Z3", T(9, 50), T(9, 50), None),
    ("search:force:S1", "search", "force", "S1", "Z1", T(10, 33), T(10, 33), "A1"),   # 3 min after V1: V1
    ("search:force:S2", "search", "force", "S2", "Z1", T(11, 0), T(11, 0), "A1"),     # 30 min after: none
    ("crime:connect:C1", "crime", "connect", "C1", "Z1", T(9, 0), T(12, 0), "A1"),    # recorded 1.5 h after V1
    ("crime:connect:C2", "crime", "connect", "C2", "Z2", T(10, 30), T(10, 41), "A1"),
    ("crime:connect:C3", "crime", "connect", "C3", "Z1", T(13, 0), T(13, 30), "A1"),  # nearest is V5, not V1
]


@pytest.fixture(scope="module")
def frames(spark):
    visits = spark.createDataFrame(
        VISITS, "visit_id string, collar_number string, zone_id string, entry_est_at_utc timestamp, "
                "exit_est_at_utc timestamp, mode string, vehicle_share double")
    visits = visits.withColumns({
        "duration_best_s": F.col("exit_est_at_utc").cast("double") - F.col("entry_est_at_utc").cast("double"),
        "visit_date": F.to_date("entry_est_at_utc")})
    resources = spark.createDataFrame(
        RESOURCES, "incident_ref string, source_system string, resource_ref string, assigned_at_utc timestamp, "
                   "arrived_at_utc timestamp, cleared_at_utc timestamp")
    events = spark.createDataFrame(
        EVENTS, "event_id string, event_type string, source_system string, event_ref string, zone_id string, "
                "occurred_at_utc timestamp, recorded_at_utc timestamp, officer_collar string")
    out, responding = with_activity(visits, resources, events, PARAMS)
    return out, responding


@pytest.fixture(scope="module")
def by_visit(frames):
    return {r["visit_id"]: r.asDict() for r in frames[0].collect()}


def test_split_adds_up_to_the_dwell(by_visit):
    for v in by_visit.values():
        assert v["responding_s"] + v["transit_s"] + v["patrolling_s"] == pytest.approx(v["duration_best_s"])
        assert min(v["responding_s"], v["transit_s"], v["patrolling_s"]) >= 0


def test_responding_is_the_assigned_part_of_the_visit(by_visit):
    v1 = by_visit["V1"]
    assert (v1["responding_s"], v1["transit_s"], v1["patrolling_s"]) == (600, 0, 1200)
    assert v1["activity"] == "patrolling"
    v3 = by_visit["V3"]                                   # assignment open until arrival + 1 h: whole visit
    assert (v3["responding_s"], v3["transit_s"], v3["activity"]) == (240, 0, "responding")


def test_transit_needs_a_short_fast_visit(by_visit):
    assert (by_visit["V2"]["transit_s"], by_visit["V2"]["activity"]) == (120, "transit")
    assert by_visit["V4"]["transit_s"] == 0 and by_visit["V4"]["patrolling_s"] == 1200


def test_incidents_attended_match_officer_time_and_area(by_visit):
    assert by_visit["V1"]["incidents_attended"] == 1      # I1 is in Z1
    assert by_visit["V3"]["incidents_attended"] == 0      # I2 is elsewhere: responding, but not attended here
    assert by_visit["V6"]["incidents_attended"] == 1


def test_searches_and_crimes_count_for_the_nearest_visit_only(by_visit):
    assert by_visit["V1"]["searches_conducted"] == 1
    assert sum(v["searches_conducted"] for v in by_visit.values()) == 1
    assert (by_visit["V1"]["crimes_recorded"], by_visit["V2"]["crimes_recorded"], by_visit["V5"]["crimes_recorded"]) == (1, 1, 1)


def test_activity_is_split_exactly_across_hours(frames):
    out, responding = frames
    pieces = activity_pieces(out, responding)
    hourly = {(r["zone_id"], r["hour_start_utc"].hour): r.asDict()
              for r in presence_by_hour(out, ["zone_id"], pieces).collect()}
    assert hourly[("Z3", 9)]["officer_minutes"] == pytest.approx(10)
    assert hourly[("Z3", 9)]["responding_officer_minutes"] == pytest.approx(5)   # 09:55-10:00
    assert hourly[("Z3", 10)]["responding_officer_minutes"] == pytest.approx(5)  # 10:00-10:05
    for row in hourly.values():
        parts = row["responding_officer_minutes"] + row["patrolling_officer_minutes"] + row["transit_officer_minutes"]
        assert parts == pytest.approx(row["officer_minutes"])


def test_unmatched_assignments_counted_by_shape(spark):
    """Assignments naming no known officer can never match a visit: counted by the reference's shape."""
    from datetime import date

    from impact.presence.activity import unmatched_assignments

    postings = spark.createDataFrame([("A1", date(2020, 1, 1)), ("B2", date(2020, 1, 1)), ("4321", date(2020, 1, 1))],
                                     "collar_number string, valid_from date")
    refs = ["A1", " b2 ", "4321", "Z999999", "1234", "BE21", "be21a", "LIMA 21", "??", "X"]
    resources = spark.createDataFrame([(f"I{n}", "oasis", r) for n, r in enumerate(refs)],
                                      "incident_ref string, source_system string, resource_ref string")
    got = {r["kind"]: r["assignments"] for r in unmatched_assignments(resources, postings).collect()}
    assert got == {"collar_shaped": 2, "call_sign_shaped": 3, "other": 2}
    none = {r["kind"]: r["assignments"] for r in unmatched_assignments(resources.where(F.col("incident_ref").isin("I0", "I1", "I2")), postings).collect()}
    assert none == {"collar_shaped": 0, "call_sign_shaped": 0, "other": 0}
