"""Foot / vehicle by segment (with_segments) on hand-built traces at radio cadence (one fix every 30 s)."""
from __future__ import annotations

from datetime import datetime, timedelta

from impact.visits.sessionise import VisitParams, with_segments

PARAMS = VisitParams()
SCHEMA = "collar_number string, fix_at_utc timestamp, easting double, northing double, terminal_type string"
T0 = datetime(2026, 3, 16, 10, 0, 0)
STEP = 30


def trace(*legs: tuple[float, float]) -> list[tuple[int, float]]:
    """(seconds, metres along a straight road) every STEP s for legs of (duration s, speed m/s)."""
    out, t, x = [(0, 0.0)], 0, 0.0
    for duration, speed in legs:
        for _ in range(int(duration // STEP)):
            t, x = t + STEP, x + speed * STEP
            out.append((t, x))
    return out


def modes(spark, fixes, terminal="handheld", jump_at=None) -> list[tuple[int, str]]:
    """(seconds, seg_mode) per fix; `jump_at`: the fix at that second is thrown 600 m sideways."""
    rows = [("A1", T0 + timedelta(seconds=t), x, 600.0 if t == jump_at else 0.0, terminal) for t, x in fixes]
    got = with_segments(spark.createDataFrame(rows, SCHEMA), PARAMS).select("fix_at_utc", "seg_mode").collect()
    return sorted((int((r["fix_at_utc"] - T0).total_seconds()), r["seg_mode"]) for r in got)


def test_stop_at_lights_stays_vehicle(spark):
    got = modes(spark, trace((300, 10.0), (240, 0.0), (300, 10.0)))
    assert {m for t, m in got if t > 0} == {"vehicle"}


def test_wait_in_the_vehicle_between_rides_is_vehicle(spark):
    got = modes(spark, trace((300, 10.0), (1200, 0.0), (300, 10.0)))         # 20 min parked, engine running
    assert {m for t, m in got if t > 0} == {"vehicle"}


def test_walk_straight_after_a_ride_is_foot(spark):
    # the old rule (fastest speed within +-5 min) called the first five minutes of this walk vehicle
    got = modes(spark, trace((600, 10.0), (900, 1.3)))
    walk = [m for t, m in got if t >= 600 + PARAMS.speed_window_s + STEP]
    assert walk and set(walk) == {"foot"}
    assert {m for t, m in got if 0 < t <= 600 - PARAMS.speed_window_s} == {"vehicle"}


def test_gps_jump_in_a_walk_stays_foot(spark):
    fixes = trace((1200, 1.2))
    got = modes(spark, fixes, jump_at=600)
    assert set(m for t, m in got if t > 0) == {"foot"}


def test_jog_pace_is_uncertain_and_vehicle_terminal_is_vehicle(spark):
    got = modes(spark, trace((900, 2.8)))                                    # faster than a walk, slower than traffic
    assert {m for t, m in got if t > 0} == {"uncertain"}
    got = modes(spark, trace((900, 1.0)), terminal="vehicle")
    assert {m for _, m in got} == {"vehicle"}
