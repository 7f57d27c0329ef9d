"""The presence job end to end on a small demo world (ingest -> visits -> presence), read back with a
non-Spark Delta reader: every mart complete, the arithmetic consistent with the visits, re-runs stable."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from impact.ingest.pipeline import run_ingest
from impact.presence.pipeline import MART_TABLES, run_presence
from impact.schemas import table_schema
from impact.visits.pipeline import run_visits

ROOT = Path(__file__).resolve().parent.parent
D1, D2 = date(2026, 3, 28), date(2026, 3, 29)          # 29 March: the 23-hour spring-forward day

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(spark, settings, tmp_path_factory, generate_world):
    base = tmp_path_factory.mktemp("presence")
    raw = generate_world(base / "raw", seed=5, officers=40, start=date(2026, 3, 27), days=4)
    local = settings.with_overrides(raw_root=str(raw), warehouse=str(base / "wh"))
    results = run_ingest(spark, local, "force", (date(2026, 3, 27), date(2026, 3, 30)))
    assert not [r.source for r in results if r.status == "failed"]   # Oasis has no files after the cut-over
    run_visits(spark, local, date(2026, 3, 27), date(2026, 3, 30))
    first = run_presence(spark, local, D1, D2, run_id="first")
    return local, raw, first


def table(settings, name: str) -> pd.DataFrame:
    return DeltaTable(settings.table_path(name)).to_pandas()


def test_every_mart_is_written_and_readable_without_spark(world):
    settings, _, first = world
    for name in MART_TABLES:
        frame = table(settings, name)
        assert list(frame.columns) == table_schema(name).names, name
        assert len(frame) > 0, name
        assert first["rows"][name] > 0


def test_hourly_presence_matches_the_visits(world):
    settings, _, _ = world
    visits = table(settings, "visits")
    lo, hi = pd.Timestamp(datetime(2026, 3, 28)), pd.Timestamp(datetime(2026, 3, 30))
    entry = visits["entry_est_at_utc"].dt.tz_localize(None).clip(lower=lo, upper=hi)
    exit_ = visits["exit_est_at_utc"].dt.tz_localize(None).clip(lower=lo, upper=hi)
    expected = ((exit_ - entry).dt.total_seconds().sum()) / 60
    hourly = table(settings, "fact_presence_hour")
    assert hourly["officer_minutes"].sum() == pytest.approx(expected, rel=1e-9)
    unit = table(settings, "fact_presence_hour_unit")
    assert unit["officer_minutes"].sum() == pytest.approx(expected, rel=1e-9)
    parts = hourly[["responding_officer_minutes", "patrolling_officer_minutes", "transit_officer_minutes"]].sum(axis=1)
    assert np.allclose(parts, hourly["officer_minutes"])
    assert (hourly["patrol_minutes"] <= np.minimum(60.0, hourly["officer_minutes"]) + 1e-9).all()
    assert (hourly["max_officers"] <= hourly["officers_present"]).all()


def test_area_day_is_a_complete_grid_with_the_short_day(world):
    settings, raw, _ = world
    day = table(settings, "fact_area_day")
    zones = table(settings, "dim_area")
    assert len(day) == len(zones) * 2
    hours = day.groupby(day["local_date"].astype(str))["hours_in_day"].first().to_dict()
    assert hours == {"2026-03-28": 24, "2026-03-29": 23}
    assert (day["longest_gap_minutes"] <= day["hours_in_day"] * 60 + 1e-9).all()
    # the generator's own officer-minutes inside the areas (continuous tracks) against the estimate
    truth = pd.read_csv(raw / "_truth" / "area_day_truth.csv")
    truth = truth[truth["local_date"].isin([D1.isoformat(), D2.isoformat()])]["all_officer_minutes"].sum()
    measured = day[day["zone_type"] == "area"]["officer_minutes"].sum()
    assert abs(measured - truth) / truth < 0.15, (measured, truth)


def test_activity_and_events_are_linked(world):
    settings, _, _ = world
    visits = table(settings, "fact_visit")
    assert visits["officer_posting_key"].notna().all()
    assert set(visits["activity"]) <= {"responding", "patrolling", "transit"}
    assert visits["incidents_attended"].sum() > 0
    events = table(settings, "fact_event")
    assert set(events["event_type"]) == {"crime", "incident", "search"}
    assert events["harm_weight"].notna().sum() == (events["event_type"] == "crime").sum()
    track = table(settings, "fact_visit_track")
    assert track["track_wkt_wgs84"].str.match(r"^(LINESTRING|POINT) \(-[12]\.\d+ 52\.").all()   # Birmingham


def test_rerun_gives_the_same_marts(spark, world):
    settings, _, _ = world
    before = {n: table(settings, n) for n in ("fact_visit", "fact_presence_hour", "fact_area_day", "fact_event")}
    run_presence(spark, settings, D1, D2, run_id="second")
    for name, old in before.items():
        new = table(settings, name)
        assert set(new["marts_run_id"]) == {"second"}
        key = [c for c in new.columns if c != "marts_run_id"]
        a = old.drop(columns="marts_run_id").sort_values(key[:3]).reset_index(drop=True)
        b = new.drop(columns="marts_run_id").sort_values(key[:3]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a[sorted(a.columns)], b[sorted(b.columns)], check_like=True)


def test_marts_are_served_over_hiveserver2(world, tmp_path):
    """jobs/serve.py registers the warehouse and serves it the way Qlik's Hive/Spark ODBC connector reads."""
    import os
    import signal
    import time

    from pyhive import hive

    from impact.serve.thrift import free_port, port_open

    settings, _, _ = world
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "jobs/serve.py", "--conf", "conf/local.yaml", "--warehouse", settings.warehouse,
         "--database", "impact_test", "--master", "local[1]", "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    try:
        deadline = time.monotonic() + 240
        while not port_open("127.0.0.1", port):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "serve.py did not listen within 240 s"
            time.sleep(1)
        with hive.Connection(host="127.0.0.1", port=port, username="qlik", database="impact_test") as conn:
            cursor = conn.cursor()
            cursor.execute("SHOW TABLES IN impact_test")
            served = {row[1] for row in cursor.fetchall()}
            assert set(MART_TABLES) <= served
            cursor.execute("SELECT zone_type, sum(officer_minutes), count(*) FROM impact_test.fact_area_day "
                           "GROUP BY zone_type ORDER BY zone_type")
            rows = cursor.fetchall()
        day = table(settings, "fact_area_day").groupby("zone_type")["officer_minutes"].agg(["sum", "count"])
        assert [r[0] for r in rows] == list(day.index)
        for zone_type, minutes, count in rows:
            assert minutes == pytest.approx(day.loc[zone_type, "sum"], rel=1e-9)
            assert count == day.loc[zone_type, "count"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            assert server.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
        finally:
            if server.poll() is None:
                server.kill()
            log.close()


def test_an_event_source_never_ingested_reads_as_no_events(spark, local):
    # a fresh warehouse whose first day had no stop-search file: presence read the missing table and
    # failed (exit 1) on that day; a source that never delivered holds no events
    from impact.schemas import table_schema
    from impact.tables import read_events_table, read_table

    with pytest.raises(FileNotFoundError, match="stop_searches"):
        read_table(spark, local, "stop_searches")          # a required table stays an error
    for name in ("crimes", "incidents", "stop_searches", "incident_resources"):
        empty = read_events_table(spark, local, name)
        assert empty.count() == 0 and empty.columns == table_schema(name).names, name
