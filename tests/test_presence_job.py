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
def world(spark, settings, tmp_path_factory):
    base = tmp_path_factory.mktemp("presence")
    raw = base / "raw"
    subprocess.run([sys.executable, "-m", "impact.demo.generate", "--out", str(raw), "--seed", "5",
                    "--officers", "40", "--start", "2026-03-27", "--days", "4"], check=True, cwd=ROOT)
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
