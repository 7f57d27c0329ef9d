"""Back-test of the strategic analysis through the whole pipeline (demo world -> ingest -> visits ->
presence -> analysis), once with the planted effects on and once with them off (same seed, same
officers, same staggered designation): the analysis must recover what is planted and find nothing
where nothing is.

The world (tests/conftest.py `analysis_world`, shared with the job tests) is long and light: 16
officers for 6 weeks (2 before the first designation wave, a second wave a week later) with 4x the
default crime-type call rate (`--base-calls 12`), so the area-day panel has about 1,600 area-days,
3,300 crime-type calls and 1,100 recorded crimes. Tolerances and the figures measured on this world
are in docs/analysis.md ("Back-tests and what the demo world lets us recover")."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

PLANTED_ELASTICITY = -0.3
PLANTED_CALL_TO_CRIME = 0.35

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def on(analysis_world):
    settings, _, truth = analysis_world("on")
    return settings, truth


@pytest.fixture(scope="module")
def off(analysis_world):
    settings, _, truth = analysis_world("off")
    return settings, truth


def _models(settings) -> pd.DataFrame:
    m = DeltaTable(settings.table_path("analysis_models")).to_pandas()
    return m[m["estimate"].notna()]


def _one(models: pd.DataFrame, model: str, outcome: str, term: str) -> pd.Series:
    rows = models[(models["model"] == model) & (models["outcome"] == outcome) & (models["term"] == term)]
    assert len(rows) == 1, (model, outcome, term, len(rows))
    return rows.iloc[0]


def _interval(row: pd.Series) -> tuple[float, float]:
    return row["estimate"] - 1.96 * row["std_error"], row["estimate"] + 1.96 * row["std_error"]


def test_worlds_differ_only_in_the_planted_effects(on, off):
    (_, truth_on), (_, truth_off) = on, off
    assert truth_on["effects"]["presence_elasticity"] == PLANTED_ELASTICITY
    assert truth_off["effects"]["presence_elasticity"] == 0.0
    assert truth_on["designated_from"] == truth_off["designated_from"]
    assert len(set(truth_on["designated_from"].values())) == 2                 # staggered: two waves


def test_presence_elasticity_is_recovered_when_planted(on):
    """Effects on: the 95% interval of the proactive-presence elasticity of crime-type calls (the outcome
    the world plants it on) covers the planted -0.3 and lies below zero; for recorded crimes (35% of those
    calls, so about 3x the standard error) it covers -0.3 (measured: -0.30, interval -0.63 to 0.03)."""
    settings, _ = on
    models = _models(settings)
    calls = _one(models, "presence_day_poisson", "crime_calls", "log_patrol_hours")
    low, high = _interval(calls)
    assert low <= PLANTED_ELASTICITY <= high < 0, (calls["estimate"], low, high)
    crimes = _one(models, "presence_day_poisson", "crimes", "log_patrol_hours")
    low, high = _interval(crimes)
    assert low <= PLANTED_ELASTICITY <= high, (crimes["estimate"], low, high)
    assert crimes["estimate"] < 0


def test_no_presence_effect_is_found_when_none_is_planted(off):
    """Effects off: for recorded crimes the 95% interval covers zero. For crime-type calls the estimate is
    within 0.15 of zero (half the planted size) and its interval excludes the planted -0.3: no effect of
    the planted size. Its interval need not cover zero on every seed: at 95% one world in twenty misses,
    and this seed's does (measured +0.100, 0.022 to 0.177; seeds 6-8 cover zero; docs/analysis.md)."""
    settings, _ = off
    models = _models(settings)
    crimes = _one(models, "presence_day_poisson", "crimes", "log_patrol_hours")
    low, high = _interval(crimes)
    assert low <= 0 <= high, (crimes["estimate"], low, high)
    calls = _one(models, "presence_day_poisson", "crime_calls", "log_patrol_hours")
    low, high = _interval(calls)
    assert abs(calls["estimate"]) < 0.15 and low > PLANTED_ELASTICITY, (calls["estimate"], low, high)


def test_reactive_presence_would_bias_the_elasticity_upward(on):
    """Response officers go where crime has just happened: with their time in the regressor the
    elasticity is pulled towards zero or above; the proactive regressor the models use is not."""
    settings, _ = on
    models = _models(settings)
    proactive = _one(models, "presence_day_poisson", "crimes", "log_patrol_hours")["estimate"]
    all_roles = _one(models, "presence_day_poisson_all_roles", "crimes", "log_patrol_hours_all_roles")["estimate"]
    assert all_roles > proactive


def _true_first_stage(raw: Path) -> float:
    """Designation's effect on patrol officer-minutes in the world's own continuous-track truth: the ratio
    of Impact Areas' mean after / before designation to comparison areas' after / before the first wave."""
    t = pd.read_csv(raw / "_truth" / "area_day_truth.csv")
    ia, comp = t[t["status"] == "impact"], t[t["status"] == "comparison"]
    first = ia[ia["designated"]]["local_date"].min()
    ia_ratio = ia[ia["designated"]]["patrol_officer_minutes"].mean() / ia[~ia["designated"]]["patrol_officer_minutes"].mean()
    comp_after = comp["local_date"] >= first
    return ia_ratio / (comp[comp_after]["patrol_officer_minutes"].mean() / comp[~comp_after]["patrol_officer_minutes"].mean())


@pytest.mark.parametrize("world", ["on", "off"])
def test_first_stage_designation_raises_patrolling_presence(world, request):
    """Directed patrols follow designation in both worlds: the staggered DiD on patrolling minutes has an
    IRR above 1 whose 95% interval covers the ratio in the world's truth. With 16 officers presence is
    lumpy (a few beats), so the interval is wide (measured 0.83 to 4.3 around 1.9) and is not asserted
    to exclude 1."""
    settings, _ = request.getfixturevalue(world)
    row = _one(_models(settings), "staggered_did", "patrolling_officer_minutes", "overall")
    truth = _true_first_stage(Path(settings.raw_root))
    assert truth > 1.3, truth
    assert row["irr"] > 1 and row["irr_ci_low"] <= truth <= row["irr_ci_high"], (world, truth, row["irr"], row["irr_ci_low"], row["irr_ci_high"])


def test_staggered_did_on_crime_finds_nothing_when_nothing_is_planted(off):
    settings, _ = off
    row = _one(_models(settings), "staggered_did", "crimes", "overall")
    assert row["irr_ci_low"] <= 1 <= row["irr_ci_high"], (row["irr"], row["irr_ci_low"], row["irr_ci_high"])
    pre = _models(settings)
    pre = pre[(pre["model"] == "staggered_did") & (pre["outcome"] == "crimes") & (pre["event_time"] < 0)]
    assert len(pre) >= 1 and ((pre["irr_ci_low"] <= 1) & (1 <= pre["irr_ci_high"])).all()   # parallel pre-trends


@pytest.mark.parametrize("world", ["on", "off"])
def test_call_to_crime_share_is_recovered(world, request):
    settings, _ = request.getfixturevalue(world)
    calls = DeltaTable(settings.table_path("analysis_calls_crime")).to_pandas()
    conv = calls[(calls["kind"] == "conversion") & (calls["call_category"] == "ALL_KEY_TYPES") & (calls["area_status"] == "all")]
    assert len(conv) == 1
    assert abs(conv["crimes_per_call"].iloc[0] - PLANTED_CALL_TO_CRIME) < 0.03, conv["crimes_per_call"].iloc[0]
