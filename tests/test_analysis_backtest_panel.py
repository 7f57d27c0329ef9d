"""Back-tests of impact.analysis on the seeded panel simulator: each estimator finds the planted effect,
finds nothing when every effect is switched off, and its 95% CI rejects a true null about 5% of the time.

Tolerances are stated per test; they are about 3 simulation standard deviations of the estimator,
measured over seeds (docs/analysis_methods.md, "Back-tests").
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from impact.analysis.correlation import cross_correlation
from impact.analysis.displacement import wdd, wdq
from impact.analysis.models import count_panel_model, staggered_did
from impact.analysis.simulate_panel import PanelSimParams, planted_did_log_effect, simulate_panel

warnings.filterwarnings("ignore", category=DeprecationWarning)

# a world with staggered designation weeks 16..40 over 60 weeks, 19 Impact Areas vs 20 comparison areas
DID_WORLD = PanelSimParams(n_weeks=60, base_calls_per_week=60.0, did_log_effect=-0.3,
                           first_designation_week=16, last_designation_week=40)
# a busier, less noisy world for the displacement ratios (WDQ is a ratio of two noisy differences)
DISPLACEMENT_WORLD = PanelSimParams(n_weeks=60, base_calls_per_week=200.0, did_log_effect=-0.5, presence_sd=0.3,
                                    overdispersion=0.02, first_designation_week=16, last_designation_week=40)


def _covers(low: float, high: float, value: float) -> bool:
    return bool(low <= value <= high)


# ---------------------------------------------------------------- presence elasticity (Poisson / NB FE)

@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_presence_elasticity_recovered(family):
    panel = simulate_panel(PanelSimParams(), seed=21)
    res = count_panel_model(panel, "calls", ["log1p_presence", "post"], "area_id", "week", family=family)
    row = res.set_index("term").loc["log1p_presence"]
    # tolerance 0.08 (about 3 SE); the CI must contain the planted -0.3 and exclude 0
    assert row["estimate"] == pytest.approx(-0.3, abs=0.08)
    assert _covers(row["irr_ci_low"], row["irr_ci_high"], np.exp(-0.3))
    assert row["irr_ci_high"] < 1.0
    # recorded crimes are a binomial thinning of calls plus unrelated crimes: the elasticity carries over
    crimes = count_panel_model(panel, "crimes_from_calls", ["log1p_presence", "post"], "area_id", "week")
    assert crimes.set_index("term").loc["log1p_presence", "estimate"] == pytest.approx(-0.3, abs=0.12)


def test_presence_elasticity_off_is_consistent_with_zero():
    # 5 effects-off worlds: each term's 95% CI contains IRR 1 in at least 4 of them (one miss in five is
    # within chance: P(>= 2 misses) = 2 %); the calibration itself is test_false_positive_rate_near_nominal
    covered = {"log1p_presence": 0, "post": 0}
    for seed in range(22, 27):
        panel = simulate_panel(PanelSimParams().effects_off(), seed=seed)
        res = count_panel_model(panel, "calls", ["log1p_presence", "post"], "area_id", "week").set_index("term")
        for term in covered:
            covered[term] += _covers(res.loc[term, "irr_ci_low"], res.loc[term, "irr_ci_high"], 1.0)
        assert abs(res.loc["log1p_presence", "estimate"]) < 0.1
    assert all(n >= 4 for n in covered.values()), covered


# ---------------------------------------------------------------- staggered DiD

def test_staggered_did_recovers_planted_effect():
    panel = simulate_panel(DID_WORLD, seed=31)
    truth = planted_did_log_effect(panel)
    res = staggered_did(panel, "calls", "area_id", "week", "first_treated", pre=4, post=8, n_boot=99)
    overall = res[res["term"] == "overall"].iloc[0]
    # tolerance 0.12 on the log scale (about 3 simulation SDs); CI excludes 0
    assert overall["estimate"] == pytest.approx(truth, abs=0.12)
    assert overall["ci_high"] < 0
    assert overall["irr"] == pytest.approx(np.exp(overall["estimate"]))
    # parallel-trends check: the pre-period placebo estimates are near 0 (at most one CI misses 0)
    pre = res[res["event_time"] < 0]
    assert len(pre) == 4
    assert sum(_covers(r.ci_low, r.ci_high, 0.0) for r in pre.itertuples()) >= 3
    assert (pre["estimate"].abs() < 0.25).all()
    # each post event time shows a reduction
    post = res[res["event_time"] >= 0]
    assert (post["estimate"] < 0).mean() >= 0.8


def test_staggered_did_effects_off_covers_zero():
    panel = simulate_panel(DID_WORLD.effects_off(), seed=32)
    res = staggered_did(panel, "calls", "area_id", "week", "first_treated", pre=4, post=8, n_boot=99)
    overall = res[res["term"] == "overall"].iloc[0]
    assert _covers(overall["ci_low"], overall["ci_high"], 0.0)
    assert abs(overall["estimate"]) < 0.12


# ---------------------------------------------------------------- displacement (WDQ / WDD)

def _pooled_counts(panel: pd.DataFrame, ring: str, weeks: int = 16) -> dict[str, float]:
    """Sum over Impact Areas of target (a), ring (b) and all-comparison-area (c) counts in the
    ``weeks`` before and from each area's own designation week; bc = the comparison areas' rings."""
    comp = panel[panel["area_type"] == "comparison"].groupby("week")[["calls", ring]].sum()
    tot = dict.fromkeys(["a0", "a1", "b0", "b1", "c0", "c1", "bc0", "bc1"], 0.0)
    for _, g in panel[panel["area_type"] == "impact"].groupby("area_id"):
        d = int(g["first_treated"].iloc[0])
        g = g.set_index("week")
        before, after = list(range(d - weeks, d)), list(range(d, d + weeks))
        for suffix, window in (("0", before), ("1", after)):
            tot["a" + suffix] += g.loc[window, "calls"].sum()
            tot["b" + suffix] += g.loc[window, ring].sum()
            tot["c" + suffix] += comp.loc[window, "calls"].sum()
            tot["bc" + suffix] += comp.loc[window, ring].sum()
    return tot


@pytest.mark.parametrize("ring,share", [("ring_250_calls", 0.25), ("ring_500_calls", 0.10)])
def test_wdq_recovers_displaced_share(ring, share):
    # WDQ = buffer change / target change (both relative to control) = -(displaced share) in this
    # world. One world's WDQ has SD about 0.06 (measured over 20 seeds), so: mean over 8 seeds,
    # tolerance 0.07 (about 3 SDs of the 8-seed mean).
    on = [wdq(**{k: v for k, v in _pooled_counts(simulate_panel(DISPLACEMENT_WORLD, seed=s), ring).items()
                 if not k.startswith("bc")}).wdq for s in range(41, 49)]
    assert np.mean(on) == pytest.approx(-share, abs=0.07)


def test_wdd_finds_reduction_and_nothing_when_off():
    on = _pooled_counts(simulate_panel(DISPLACEMENT_WORLD, seed=46), "ring_250_calls")
    # scale the pooled comparison counts to the target's pre-period level (WDD assumes matched control)
    k = on["a0"] / on["c0"]
    r = wdd(on["a0"], on["a1"], on["c0"] * k, on["c1"] * k)
    assert r.ci_high < 0
    off = _pooled_counts(simulate_panel(DISPLACEMENT_WORLD.effects_off(), seed=47), "ring_250_calls")
    k = off["a0"] / off["c0"]
    r0 = wdd(off["a0"], off["a1"], off["c0"] * k, off["c1"] * k)
    # the Poisson SE ignores the control's scaling and overdispersion: check a 3-SE band around 0
    assert abs(r0.wdd) < 3 * r0.std_error


# ---------------------------------------------------------------- calls -> crime

def test_calls_to_crime_share_and_cross_correlation():
    panel = simulate_panel(PanelSimParams(), seed=51)
    # within-area OLS slope of recorded crimes on calls = the call-to-crime share (0.35)
    fit = smf.ols("crimes ~ calls + C(area_id) + C(week)", data=panel).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(panel["area_id"])[0]})
    lo, hi = fit.conf_int().loc["calls"]
    assert fit.params["calls"] == pytest.approx(0.35, abs=0.05) and lo <= 0.35 <= hi
    cc = cross_correlation(panel, "calls", "crimes", "area_id", "week").set_index("lag")
    assert cc.loc[0, "ci_low"] > 0.3
    assert cc["r"].idxmax() == 0

    off = simulate_panel(PanelSimParams().effects_off(), seed=52)
    cc0 = cross_correlation(off, "calls", "crimes", "area_id", "week")
    covers = [_covers(r.ci_low, r.ci_high, 0.0) for r in cc0.itertuples()]
    assert sum(covers) >= 8  # 9 lags at 95%: at most one miss expected by chance


# ---------------------------------------------------------------- false-positive rate over seeds

@pytest.mark.slow
def test_false_positive_rate_near_nominal():
    """200 effects-off worlds (39 areas x 30 weeks): the 95% CI of the designation term ('post') in the
    Poisson FE model excludes 0 in about 5% of them. Binomial tolerance: the two-sided 99.9% range of
    Binomial(200, 0.05) is 2..22 rejections."""
    params = PanelSimParams(n_weeks=30, first_designation_week=8, last_designation_week=22).effects_off()
    logging.getLogger("impact.analysis.models").setLevel(logging.ERROR)
    n, rejections = 200, 0
    for seed in range(n):
        panel = simulate_panel(params, seed=3000 + seed)
        row = count_panel_model(panel, "calls", ["post"], "area_id", "week").iloc[0]
        rejections += not _covers(row["irr_ci_low"], row["irr_ci_high"], 1.0)
    low, high = stats.binom.ppf([0.0005, 0.9995], n, 0.05)
    logging.getLogger(__name__).info("false-positive rate %d/%d = %.3f", rejections, n, rejections / n)
    assert low <= rejections <= high, f"{rejections}/{n} rejections"
