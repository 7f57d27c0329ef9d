"""Sessionisation rules on hand-built ping sequences (square area 0..100 m, rings around it)."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from impact.spatial.zones import build_zones
from impact.visits.sessionise import VisitParams, build_visits

PARAMS = VisitParams()
PING_SCHEMA = "issi string, collar_number string, fix_at_utc timestamp, easting double, northing double, terminal_type string"
POSTINGS_SCHEMA = "collar_number string, department string, npu string, role string, valid_from date, valid_to date"
T0 = datetime(2026, 3, 16, 10, 0, 0)


@pytest.fixture(scope="module")
def zones(spark):
    areas = spark.createDataFrame([("A", "impact", "POLYGON((0 0, 100 0, 100 100, 0 100, 0 0))")],
                                  "area_id string, area_status string, geometry_wkt string")
    return spark.createDataFrame(build_zones(areas).collect(), build_zones(areas).schema)


@pytest.fixture(scope="module")
def postings(spark):
    return spark.createDataFrame([
        ("A1", "Neighbourhood Policing", "Birmingham East", "neighbourhood", date(2020, 1, 1), date(2026, 3, 16)),
        ("A1", "Neighbourhood Policing", "Birmingham West", "neighbourhood", date(2026, 3, 17), None),
    ], POSTINGS_SCHEMA)


def pings(spark, seq, collar="A1", terminal="handheld", shuffle=False):
    """seq: (seconds after T0, easting, northing)."""
    rows = [("100", collar, T0 + timedelta(seconds=s), float(x), float(y), terminal) for s, x, y in seq]
    if shuffle:
        rows = rows + rows[:3]                       # resends
        random.Random(1).shuffle(rows)
    return spark.createDataFrame(rows, PING_SCHEMA)


def area_visits(spark, zones, postings, seq, **kw):
    visits, removed = build_visits(pings(spark, seq, **kw), zones, postings, PARAMS)
    rows = sorted((r.asDict() for r in visits.where("zone_type = 'area'").collect()), key=lambda r: r["first_fix_at_utc"])
    return rows, removed


WALK_IN_OUT = [(0, -300, 50), (120, -150, 50), (240, 10, 50), (360, 50, 50), (480, 90, 50), (600, 250, 50)]


def test_walk_through_one_visit_with_bounds(spark, zones, postings):
    rows, removed = area_visits(spark, zones, postings, WALK_IN_OUT)
    assert removed.count() == 0
    assert len(rows) == 1
    v = rows[0]
    assert v["fix_count"] == 3
    assert v["duration_lower_s"] == 240                 # 240 -> 480 s
    assert v["duration_best_s"] == 360                  # midpoints 180 s -> 540 s
    assert v["duration_upper_s"] == 480                 # 120 s -> 600 s
    assert v["entry_est_at_utc"] == T0 + timedelta(seconds=180)
    assert v["mode"] == "foot"
    assert (v["npu"], v["role"]) == ("Birmingham East", "neighbourhood")


def test_long_gap_inside_splits_the_visit(spark, zones, postings):
    seq = [(0, 50, 50), (120, 55, 50), (120 + 900, 60, 50), (120 + 1020, 65, 50)]   # 15 min silence
    rows, _ = area_visits(spark, zones, postings, seq)
    assert [r["fix_count"] for r in rows] == [2, 2]


def test_leave_and_return_is_two_visits(spark, zones, postings):
    seq = [(0, 50, 50), (120, 50, 150), (240, 50, 50)]
    rows, _ = area_visits(spark, zones, postings, seq)
    assert len(rows) == 2


def test_duplicates_and_disorder_give_the_same_visits(spark, zones, postings):
    clean, _ = area_visits(spark, zones, postings, WALK_IN_OUT)
    messy, removed = area_visits(spark, zones, postings, WALK_IN_OUT, shuffle=True)
    assert clean == messy
    assert removed.count() == 3 and {r["reason"] for r in removed.collect()} == {"duplicate_fix"}


def test_speed_spike_removed(spark, zones, postings):
    seq = [(0, 50, 50), (60, 50, 50000), (120, 55, 50), (180, 60, 50)]     # 50 km jump in a minute
    rows, removed = area_visits(spark, zones, postings, seq)
    assert [r["reason"] for r in removed.collect()] == ["speed_spike"]
    assert len(rows) == 1 and rows[0]["fix_count"] == 3


def test_driving_through_is_a_vehicle_visit(spark, zones, postings):
    seq = [(0, -400, 50), (40, 20, 50), (50, 80, 50), (90, 500, 50)]       # ~10 m/s
    rows, _ = area_visits(spark, zones, postings, seq, terminal="unknown")
    assert rows[0]["mode"] == "vehicle"


def test_posting_changes_by_visit_date(spark, zones, postings):
    day2 = [(86400 + s, x, y) for s, x, y in WALK_IN_OUT]
    rows, _ = area_visits(spark, zones, postings, WALK_IN_OUT + day2)
    assert [r["npu"] for r in rows] == ["Birmingham East", "Birmingham West"]
    rows, _ = area_visits(spark, zones, postings, WALK_IN_OUT, collar="Z9")
    assert rows[0]["role"] == "unknown"


def test_visit_across_dst_change_has_true_duration(spark, zones, postings):
    # 29 March 2026 00:50 -> 01:10 UTC (local 00:50 GMT -> 02:10 BST): 20 real minutes
    base = datetime(2026, 3, 29, 0, 50) - T0
    seq = [(base.total_seconds() + s, 50, 50) for s in range(0, 1201, 120)]
    rows, _ = area_visits(spark, zones, postings, seq)
    assert rows[0]["duration_lower_s"] == 1200
