"""Sessionisation rules on hand-built ping sequences (square area 0..100 m, rings around it)."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

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


LONDON = ZoneInfo("Europe/London")


def local_fixes(day: date, clock: list[tuple[int, int, int]], step_s: int = 120) -> list[tuple[float, int, int]]:
    """Fixes at the middle of the area every `step_s` along Europe/London wall-clock runs
    (hour, minute, fold) -> (hour, minute, fold), as seconds after T0 in UTC. fold=1 is the second
    01:xx of the autumn change."""
    out = []
    for (h0, m0, f0), (h1, m1, f1) in zip(clock[::2], clock[1::2]):
        t, end = datetime(day.year, day.month, day.day, h0, m0, fold=f0), datetime(day.year, day.month, day.day, h1, m1, fold=f1)
        while (t.hour, t.minute) <= (end.hour, end.minute):
            utc = t.replace(tzinfo=LONDON).astimezone(timezone.utc).replace(tzinfo=None)
            out.append(((utc - T0).total_seconds(), 50, 50))
            t = (t + timedelta(seconds=step_s)).replace(fold=f0)   # arithmetic resets fold
    return out


def test_visits_across_both_2026_clock_changes_from_local_wall_clock(spark, zones, postings):
    """Fixes every 2 min given as Europe/London wall-clock times across the spring (29 March) and autumn
    (25 October) changes. Treating local time as UTC, or losing / doubling the hour, changes every figure:
    the spring visit would split at the missing hour (a 62 min silence), the autumn one would fold its
    second 01:xx onto the first (68 min), and both late-evening BST visits would be dated a day later."""
    spring = local_fixes(date(2026, 3, 29), [(0, 40, 0), (0, 58, 0), (2, 0, 0), (2, 20, 0)])   # 00:40 GMT - 02:20 BST
    spring_late = local_fixes(date(2026, 3, 30), [(0, 30, 0), (0, 50, 0)])                      # 00:30-00:50 BST
    autumn = local_fixes(date(2026, 10, 25), [(0, 50, 0), (1, 58, 0), (1, 0, 1), (1, 30, 1)])   # 00:50 BST - 01:30 GMT
    rows, _ = area_visits(spark, zones, postings, spring + spring_late + autumn)
    got = [(r["visit_date"], r["duration_lower_s"], r["fix_count"]) for r in rows]
    assert got == [(date(2026, 3, 29), 40 * 60, 21),      # UTC 00:40-01:20: one visit, 40 real minutes
                   (date(2026, 3, 29), 20 * 60, 11),      # UTC 29 March 23:30-23:50: dated 29 March
                   (date(2026, 10, 24), 100 * 60, 51)]    # UTC 24 October 23:50 - 25 October 01:30
    assert [r["entry_est_at_utc"].isoformat() for r in rows] == [
        "2026-03-29T00:40:00", "2026-03-29T23:30:00", "2026-10-24T23:50:00"]


def test_visits_yaml_rejects_unknown_keys(tmp_path, settings):
    """A typo in conf/visits.yaml stops with the file and key (it used to leave the default in force)."""
    import shutil

    from impact.visits.pipeline import load_params

    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(settings.conf_path, conf / "local.yaml")
    shipped = (settings.conf_path.parent / "visits.yaml").read_text()
    (conf / "visits.yaml").write_text(shipped)
    local = settings.with_overrides(conf_path=conf / "local.yaml")
    params, raw = load_params(local)
    assert params.max_gap_s == float(raw["max_gap_s"])
    (conf / "visits.yaml").write_text(shipped + "max_gap_seconds: 900\n")
    with pytest.raises(ValueError, match=r"visits.yaml: unknown setting\(s\) \['max_gap_seconds'\]"):
        load_params(local)
