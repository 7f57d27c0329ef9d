"""Presence arithmetic on hand-built visits: union vs sum, hour splitting, concurrency, dwell bands, DST."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from impact.presence.facts import intermittency_by_day, presence_by_hour

SCHEMA = "visit_id string, collar_number string, zone_id string, mode string, " \
         "entry_est_at_utc timestamp, exit_est_at_utc timestamp, duration_best_s double"


def visits(spark, rows):
    out = []
    for vid, collar, zone, mode, s, e in rows:
        out.append((vid, collar, zone, mode, s, e, (e - s).total_seconds()))
    return spark.createDataFrame(out, SCHEMA)


def t(h, m=0, day=16, month=3):
    return datetime(2026, month, day, h, m)


@pytest.fixture(scope="module")
def hour_rows(spark):
    df = visits(spark, [
        ("v1", "A", "Z1", "foot", t(9, 0), t(9, 30)),      # 30 min, 10-16? no: over 16
        ("v2", "B", "Z1", "foot", t(9, 20), t(9, 32)),     # overlaps v1: 12 min (10-16 band)
        ("v3", "A", "Z1", "foot", t(9, 50), t(10, 10)),    # crosses 10:00
        ("v4", "C", "Z1", "vehicle", t(9, 40), t(9, 41)),  # 1 min (under 2)
        ("v5", "A", "Z2", "foot", t(9, 0), t(9, 5)),       # another zone
    ])
    return {(r["zone_id"], r["hour_start_utc"].hour): r for r in presence_by_hour(df, ["zone_id"]).collect()}


def test_officer_minutes_sum_but_patrol_minutes_union(hour_rows):
    nine = hour_rows[("Z1", 9)]
    assert nine["officer_minutes"] == pytest.approx(30 + 12 + 10 + 1)
    assert nine["patrol_minutes"] == pytest.approx(32 + 1 + 10)    # 9:00-9:32, 9:40-9:41, 9:50-10:00
    assert nine["officers_present"] == 3
    assert nine["max_officers"] == 2
    assert nine["mean_officers"] == pytest.approx(53 / 60)


def test_visit_crossing_the_hour_is_split_exactly(hour_rows):
    ten = hour_rows[("Z1", 10)]
    assert ten["officer_minutes"] == pytest.approx(10)
    assert ten["patrol_minutes"] == pytest.approx(10)
    assert ten["visits_started"] == 0              # v3 started at 9:50
    assert hour_rows[("Z2", 9)]["officer_minutes"] == pytest.approx(5)


def test_dwell_bands_count_visits_where_they_start(hour_rows):
    nine = hour_rows[("Z1", 9)]
    assert (nine["visits_started"], nine["visits_under_2"], nine["visits_2_10"], nine["visits_10_16"],
            nine["visits_over_16"]) == (4, 1, 0, 1, 2)


def test_grouping_by_mode_keeps_union_within_group(spark):
    df = visits(spark, [("v1", "A", "Z1", "foot", t(9), t(9, 30)), ("v2", "B", "Z1", "vehicle", t(9, 10), t(9, 40))])
    rows = {r["mode"]: r for r in presence_by_hour(df, ["zone_id", "mode"]).collect()}
    assert rows["foot"]["patrol_minutes"] == pytest.approx(30)
    assert rows["vehicle"]["patrol_minutes"] == pytest.approx(30)
    total = presence_by_hour(df, ["zone_id"]).first()
    assert total["patrol_minutes"] == pytest.approx(40)          # not 60: the union across modes


def test_dst_spring_day_no_lost_hour(spark):
    # 29 March 2026: 00:30-02:30 UTC spans local 00:30 GMT -> 03:30 BST (local 01:xx never happens)
    df = visits(spark, [("v", "A", "Z1", "foot", t(0, 30, day=29), t(2, 30, day=29))])
    rows = presence_by_hour(df, ["zone_id"]).collect()
    assert sum(r["officer_minutes"] for r in rows) == pytest.approx(120)
    assert sorted(r["local_hour"] for r in rows) == [0, 2, 3]


def test_intermittency_longest_gap_and_hours(spark):
    df = visits(spark, [
        ("v1", "A", "Z1", "foot", t(8, 0, day=17), t(8, 30, day=17)),
        ("v2", "B", "Z1", "foot", t(20, 0, day=17), t(20, 15, day=17)),
    ])
    row = intermittency_by_day(df, ["zone_id"]).first()
    assert row["local_date"] == date(2026, 3, 17)
    assert row["hours_with_presence"] == 2
    assert row["covered_minutes"] == pytest.approx(45)
    assert row["longest_gap_minutes"] == pytest.approx(11.5 * 60)   # 08:30 -> 20:00


def test_intermittency_counts_a_visit_across_local_midnight_on_both_days(spark):
    # 30 March (BST): 22:30-23:30 UTC = local 23:30 on the 30th to 00:30 on the 31st
    df = visits(spark, [("v", "A", "Z1", "foot", t(22, 30, day=30), t(23, 30, day=30))])
    rows = {r["local_date"].isoformat(): r for r in intermittency_by_day(df, ["zone_id"]).collect()}
    assert set(rows) == {"2026-03-30", "2026-03-31"}
    assert rows["2026-03-30"]["covered_minutes"] == pytest.approx(30)
    assert rows["2026-03-31"]["covered_minutes"] == pytest.approx(30)
    assert rows["2026-03-31"]["longest_gap_minutes"] == pytest.approx(23.5 * 60)


def test_one_dwell_band_rule_for_the_hour_counts_and_fact_visit(spark):
    """fact_visit's dwell_band and presence_by_hour's visits_<band> share one definition: at each band
    edge (lower edge included) both put a visit in the same band."""
    from datetime import timedelta

    from impact.presence.facts import DWELL_BANDS
    from impact.presence.marts import fact_visit

    edges = sorted({s for _, lo, hi in DWELL_BANDS for s in (lo, hi) if s} | {1, 119, 599, 959, 5000})   # 0 s has no piece
    rows = [(f"v{s}", f"C{s}", "Z1", "foot", t(9, 0), t(9, 0) + timedelta(seconds=s)) for s in edges]
    df = visits(spark, rows)
    hour = presence_by_hour(df, ["collar_number"]).collect()
    counted = {r["collar_number"]: [n for n, _, _ in DWELL_BANDS if r[f"visits_{n}"] == 1] for r in hour
               if r["hour_start_utc"].hour == 9}                                 # the hour they start
    officers = spark.createDataFrame([], "officer_posting_key string, collar_number string, valid_from date, valid_to date")
    banded = {r["visit_id"]: r["dwell_band"] for r in fact_visit(df.withColumn("visit_date", F.to_date("entry_est_at_utc")),
                                                                officers).collect()}
    expected = {s: next(n for n, lo, hi in DWELL_BANDS if s >= lo and (hi is None or s < hi)) for s in edges}
    assert {s: banded[f"v{s}"] for s in edges} == expected
    assert {s: counted[f"C{s}"] for s in edges} == {s: [b] for s, b in expected.items()}


def test_one_posting_rule_for_visits_and_fact_visit(spark):
    """The posting valid on the visit date (inclusive ends, open end, latest valid_from on overlap) is the
    same for visits (department / role) and fact_visit (officer_posting_key)."""
    from impact.presence.marts import dim_officer, fact_visit
    from impact.visits.sessionise import with_posting

    d = lambda day: date(2026, 3, day)  # noqa: E731
    postings = spark.createDataFrame([
        ("A", "D1", "N1", "PC", d(1), d(10)), ("A", "D2", "N2", "PS", d(10), None),   # overlap on the 10th
        ("B", "D3", None, "PC", d(5), d(6)),
    ], "collar_number string, department string, npu string, role string, valid_from date, valid_to date")
    vis = spark.createDataFrame([("v1", "A", d(9)), ("v2", "A", d(10)), ("v3", "A", d(20)), ("v4", "B", d(6)),
                                 ("v5", "B", d(7)), ("v6", "Z", d(9))],
                                "visit_id string, collar_number string, visit_date date")
    posted = {r["visit_id"]: (r["department"], r["role"]) for r in with_posting(vis, postings).collect()}
    assert posted == {"v1": ("D1", "PC"), "v2": ("D2", "PS"), "v3": ("D2", "PS"), "v4": ("D3", "PC"),
                      "v5": ("unknown", "unknown"), "v6": ("unknown", "unknown")}
    keyed = {r["visit_id"]: r["officer_posting_key"] for r in fact_visit(
        vis.withColumns({"entry_est_at_utc": F.to_timestamp("visit_date"), "duration_best_s": F.lit(60.0)}),
        dim_officer(postings)).collect()}
    assert keyed == {"v1": "A|2026-03-01", "v2": "A|2026-03-10", "v3": "A|2026-03-10", "v4": "B|2026-03-05",
                     "v5": None, "v6": None}


def test_one_sweep_gives_the_union_to_the_bit_and_the_most_present_at_once(spark):
    """The sweep's covered seconds equal union_seconds exactly (not approximately) and its max_officers
    a brute-force count, on random pieces with microsecond ends, touching, nested and repeated ones."""
    import random
    from datetime import timedelta

    from impact.presence.facts import _sweep
    from impact.presence.intervals import split_by_utc_hour, union_seconds

    rng = random.Random(7)
    base = datetime(2026, 3, 16, 9)
    rows = []
    for i in range(400):
        zone = f"Z{rng.randrange(4)}"
        start = base + timedelta(microseconds=rng.randrange(0, 7_200_000_000))
        if rows and rng.random() < 0.2:                      # touch or repeat an earlier interval's end
            start = rows[rng.randrange(len(rows))][5]
        end = start + timedelta(microseconds=rng.randrange(1, 1_500_000_000))
        rows.append((f"v{i}", f"C{rng.randrange(30)}", zone, "foot", start, end))
    rows += [("t1", "A", "ZT", "foot", t(9, 0), t(9, 10)), ("t2", "B", "ZT", "foot", t(9, 10), t(9, 20))]  # hand-over
    pieces = split_by_utc_hour(visits(spark, rows), "entry_est_at_utc", "exit_est_at_utc").cache()
    keys = ["zone_id", "hour_start_utc"]
    swept = {(r["zone_id"], r["hour_start_utc"]): r for r in _sweep(pieces, ["zone_id"]).collect()}
    union = {(r["zone_id"], r["hour_start_utc"]): r["covered_seconds"]
             for r in union_seconds(pieces, keys, "piece_start_utc", "piece_end_utc").collect()}
    assert set(swept) == set(union) and len(union) >= 8
    assert all(swept[k]["covered_seconds"] == union[k] for k in union)   # exact equality, by design
    collected = pieces.collect()
    for (zone, hour), row in swept.items():
        mine = [(p["piece_start_utc"], p["piece_end_utc"]) for p in collected
                if p["zone_id"] == zone and p["hour_start_utc"] == hour]
        # an exit at t before an entry at t: count at every start instant, pieces [s, e)
        most = max(sum(1 for s, e in mine if s <= at < e) for at, _ in mine)
        assert row["max_officers"] == most, (zone, hour)
    assert swept[("ZT", t(9))]["max_officers"] == 1 and swept[("ZT", t(9))]["covered_seconds"] == 1200.0
    pieces.unpersist()


def test_intermittency_from_the_cut_pieces_equals_cutting_again(spark):
    from impact.presence.intervals import split_by_utc_hour

    df = visits(spark, [("v1", "A", "Z1", "foot", t(22, 10), t(23, 50)), ("v2", "B", "Z1", "foot", t(23, 20), t(1, 5, day=17)),
                        ("v3", "A", "Z2", "foot", t(5, 0), t(5, 0, day=17))])
    pieces = split_by_utc_hour(df, "entry_est_at_utc", "exit_est_at_utc")
    again = sorted(intermittency_by_day(df, ["zone_id"]).collect())
    assert again and sorted(intermittency_by_day(df, ["zone_id"], pieces).collect()) == again


def test_area_day_sums_do_not_depend_on_the_order_the_hours_arrive_in(spark):
    # presence_by_hour's plan decides the order area_day receives the hours in; doubles added in that
    # order round differently (0.1 ten times is 0.9999999999999999, 1e16 swallows what is added to it).
    # The day's minutes and harm are exact sums, the same bits in any order (D29)
    from impact.presence.facts import ACTIVITY_MINUTES, DWELL_BANDS
    from impact.presence.marts import area_day

    day = date(2026, 3, 16)
    zones = spark.createDataFrame([("Z1", "A1", "area", "impact", None)],
                                  "zone_id string, area_id string, zone_type string, area_status string, designated_from date")
    dates = spark.createDataFrame([(day, 24)], "local_date date, hours_in_day int")
    minutes = ["officer_minutes", "patrol_minutes"] + [f"{a}_officer_minutes" for a in ACTIVITY_MINUTES]
    counts = ["visits_started"] + [f"visits_{n}" for n, _, _ in DWELL_BANDS] + ["max_officers"]
    hour_schema = ", ".join(["zone_id string", "local_date date"] + [f"{c} double" for c in minutes] + [f"{c} long" for c in counts])
    values = [0.1] * 10 + [1e16, -1e16, 2.5]
    hours = [("Z1", day, *([v] * len(minutes)), *([1] * len(counts))) for v in values]
    events = spark.createDataFrame([("Z1", day, "exact", "crime", v, None) for v in values],
                                   "zone_id string, local_date date, time_precision string, event_type string, "
                                   "harm_weight double, priority_grade int")
    inter = spark.createDataFrame([], "zone_id string, local_date date, hours_with_presence int, longest_gap_minutes double")
    visits_ = spark.createDataFrame([], "zone_id string, collar_number string, entry_est_at_utc timestamp, "
                                        "incidents_attended long, searches_conducted long, crimes_recorded long")
    out = []
    for rows, parts in ((hours, 1), (list(reversed(hours)), 3), (hours[5:] + hours[:5], 2)):
        hour_df = spark.createDataFrame(rows, hour_schema).repartition(parts)
        ev = events.repartition(parts)
        out.append(area_day(zones, dates, hour_df, inter, ev, visits_, day, day).first())
    assert {tuple(r[c] for c in [*minutes, "crime_harm"]) for r in out} == {tuple([3.5] * (len(minutes) + 1))}
