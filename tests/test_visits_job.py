"""The visits job end to end on a small demo world: truth within the dwell bounds, midnight and re-runs."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from deltalake import DeltaTable

from impact.ingest.pipeline import run_ingest
from impact.visits.pipeline import run_visits

D1, D2 = date(2026, 3, 28), date(2026, 3, 29)          # the second day is the spring-forward day

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(spark, settings, tmp_path_factory, generate_world):
    base = tmp_path_factory.mktemp("visits")
    raw = generate_world(base / "raw", seed=11, officers=30, start=date(2026, 3, 27), days=4)
    local = settings.with_overrides(raw_root=str(raw), warehouse=str(base / "wh"))
    results = run_ingest(spark, local, "airwave_pings,officers,areas", (date(2026, 3, 27), date(2026, 3, 30)))
    assert all(r.status == "ok" for r in results)
    return local, raw


def visits_frame(settings) -> pd.DataFrame:
    frame = DeltaTable(settings.table_path("visits")).to_pandas()
    return frame[frame["visit_date"].astype(str).isin([D1.isoformat(), D2.isoformat()])]


def test_truth_lies_within_the_dwell_bounds(spark, world):
    settings, raw = world
    run_visits(spark, settings, D1, D2, run_id="two-days")
    visits = visits_frame(settings)
    areas = visits[visits["zone_type"] == "area"]
    assert len(areas) > 50
    assert (areas["duration_lower_s"] <= areas["duration_best_s"]).all()
    assert (areas["duration_best_s"] <= areas["duration_upper_s"]).all()
    assert set(areas["role"]) - {"unknown"}                               # postings attached
    # the generator's officer-minutes inside areas, from the continuous simulated tracks, by local day;
    # the visits compared are those whose entry falls on the same local days (28 March: GMT; 29 March:
    # 00:00 GMT - 23:00 UTC), all of which this run owns. docs/visits.md says what the bounds bound.
    truth = pd.read_csv(raw / "_truth" / "area_day_truth.csv")
    days = [D1.isoformat(), D2.isoformat()]
    true_minutes = truth[truth["local_date"].isin(days)]["all_officer_minutes"].sum()
    entry = pd.to_datetime(areas["entry_est_at_utc"])
    entry = entry.dt.tz_localize("UTC") if entry.dt.tz is None else entry
    same_days = areas[entry.dt.tz_convert("Europe/London").dt.date.astype(str).isin(days)]
    lower, best, upper = (same_days[c].sum() / 60 for c in ("duration_lower_s", "duration_best_s", "duration_upper_s"))
    assert lower <= true_minutes <= upper, (lower, best, true_minutes, upper)    # no slack
    # the best estimate runs low (radio silences): measured -15.4% on this world since the demo world's
    # designation waves (was -14.0%), -6.2% on the default world; a gross regression still fails here
    assert abs(best - true_minutes) / true_minutes < 0.20, (best, true_minutes)


def test_one_two_day_run_equals_two_one_day_runs(spark, world):
    settings, _ = world
    run_visits(spark, settings, D1, D2, run_id="together")
    together = visits_frame(settings).drop(columns=["visits_run_id"]).sort_values("visit_id").reset_index(drop=True)
    run_visits(spark, settings, D1, D1, run_id="first")
    run_visits(spark, settings, D2, D2, run_id="second")
    apart = visits_frame(settings)
    assert set(apart["visits_run_id"]) == {"first", "second"}
    apart = apart.drop(columns=["visits_run_id"]).sort_values("visit_id").reset_index(drop=True)
    assert apart["visit_id"].is_unique
    pd.testing.assert_frame_equal(together, apart)
    midnight = together[together["last_fix_at_utc"].dt.date > together["first_fix_at_utc"].dt.date]
    assert len(midnight) > 0                                            # some visits do cross midnight
