"""Properties of visits on random walks in and out of an area (hypothesis)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from impact.spatial.zones import build_zones
from impact.visits.sessionise import VisitParams, build_visits

PING_SCHEMA = "issi string, collar_number string, fix_at_utc timestamp, easting double, northing double, terminal_type string"
POSTINGS_SCHEMA = "collar_number string, department string, npu string, role string, valid_from date, valid_to date"
T0 = datetime(2026, 3, 28, 23, 0)      # walks cross midnight and, some, the DST change at 01:00 UTC

steps = st.lists(st.tuples(st.sampled_from([30, 60, 120, 240, 300, 900]),     # seconds to next fix (900: silence)
                           st.integers(-200, 300), st.integers(-200, 300)),   # position: square is 0..100
                 min_size=3, max_size=25)


def walks(spark, seqs, seed):
    """One officer per walk (issi i, collar P<i>), all from T0, rows shuffled together."""
    rows = []
    for i, seq in enumerate(seqs):
        t = T0
        for gap, x, y in seq:
            t += timedelta(seconds=gap)
            rows.append((str(i), f"P{i}", t, float(x), float(y), "handheld"))
    random.Random(seed).shuffle(rows)
    return spark.createDataFrame(rows, PING_SCHEMA), rows


# Ten walks per example, each an officer of its own, through one build_visits: the properties hold per
# officer, and one Spark job checks ten walks (ten examples of one walk each took 135-181 s of a suite run)
@hsettings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(steps, min_size=10, max_size=10), st.integers(0, 1000))
def test_visit_properties(spark, seqs, seed):
    areas = spark.createDataFrame([("A", "impact", "POLYGON((0 0, 100 0, 100 100, 0 100, 0 0))")],
                                  "area_id string, area_status string, geometry_wkt string")
    zones = spark.createDataFrame(build_zones(areas).collect(), "zone_id string, area_id string, area_status string, "
                                  "zone_type string, inner_m double, outer_m double, geometry_wkt string, zone_m2 double")
    postings = spark.createDataFrame([], POSTINGS_SCHEMA)
    pings, rows = walks(spark, seqs, seed)
    visits, removed = build_visits(pings, zones, postings, VisitParams())
    assert removed.count() == 0
    all_visits = [r.asDict() for r in visits.collect()]
    area_visits = [v for v in all_visits if v["zone_type"] == "area"]
    for i, seq in enumerate(seqs):
        times = [r[2] for r in rows if r[1] == f"P{i}"]
        span = (max(times) - min(times)).total_seconds()
        got = sorted((v for v in area_visits if v["collar_number"] == f"P{i}"), key=lambda v: v["entry_est_at_utc"])
        for v in got:
            assert 0 <= v["duration_lower_s"] <= v["duration_best_s"] <= v["duration_upper_s"] <= span, (i, v)
            assert v["mode"] in {"foot", "vehicle", "uncertain"} and v["role"] == "unknown"
        for a, b in zip(got, got[1:]):                                  # one officer's visits never overlap
            assert a["exit_est_at_utc"] <= b["entry_est_at_utc"], i
        assert sum(v["duration_best_s"] for v in got) <= span, i
        inside = sum(1 for _, x, y in seq if 0 < x < 100 and 0 < y < 100)
        assert sum(v["fix_count"] for v in got) == inside, i            # every fix inside is in exactly one visit
    # input order and partitioning do not matter
    again, _ = build_visits(pings.repartition(3), zones, postings, VisitParams())
    assert sorted(r["visit_id"] for r in again.collect()) == sorted(v["visit_id"] for v in all_visits)
