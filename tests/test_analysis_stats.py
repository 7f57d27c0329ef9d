"""Reference cases and behaviour of impact.analysis statistics (pure pandas/numpy, no Spark).

Published reference values: each test names its source. No published numeric WDQ example other than
the issue's check case was found (Bowers & Johnson 2003 and Guerette 2009 give formulas; Ratcliffe's
calculator is a spreadsheet without published outputs), so the other WDQ tests check algebraic
identities rather than numbers.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from impact.analysis.correlation import correlation_with_ci, cross_correlation, profile_alignment
from impact.analysis.displacement import wdd, wdq
from impact.analysis.models import _poisson_two_way, count_panel_model, staggered_did
from impact.analysis.simulate_panel import PanelSimParams, simulate_panel

warnings.filterwarnings("ignore", category=DeprecationWarning)


# ---------------------------------------------------------------- WDQ (Bowers & Johnson 2003)

def test_wdq_issue_check_case():
    # Source: issue 10 check case (formulas of Bowers & Johnson 2003; TNE of Guerette 2009).
    r = wdq(a0=100, a1=50, b0=100, b1=150, c0=100, c1=100)
    assert r.success_measure == pytest.approx(-0.5)
    assert r.buffer_measure == pytest.approx(0.5)
    assert r.wdq == pytest.approx(-1.0)
    assert r.total_net_effect == pytest.approx(0.0)


def test_wdq_identities_and_edge_cases():
    # TNE equals (control-expected minus observed) crimes summed over target and buffer; WDQ is
    # invariant to scaling both control counts by the same factor (only the control trend matters).
    r = wdq(80, 60, 120, 110, 400, 500)
    assert r.total_net_effect == pytest.approx((80 * 500 / 400 - 60) + (120 * 500 / 400 - 110))
    assert r.wdq == pytest.approx(wdq(80, 60, 120, 110, 40, 50).wdq)
    assert r.wdq == pytest.approx(r.buffer_measure / r.success_measure)
    assert math.isnan(wdq(10, 10, 5, 7, 20, 20).wdq)  # no success: quotient undefined
    with pytest.raises(ValueError, match="control"):
        wdq(10, 5, 5, 5, 0, 10)
    with pytest.raises(ValueError, match=">= 0"):
        wdq(-1, 5, 5, 5, 10, 10)


# ---------------------------------------------------------------- WDD (Wheeler & Ratcliffe 2018)

def test_wdd_paper_example():
    # Source: Wheeler & Ratcliffe (2018) Crime Science 7:11, worked example, as encoded in ptools
    # tests/testthat/test-wdd.R ("Est & Variance Paper"): control 308 -> 318, treated 207 -> 110,
    # displacement control 150 -> 140, displacement treated 178 -> 157; WDD -118, SE sqrt(1568),
    # Z -2.98, 95% CI -196 to -40 (rounded).
    r = wdd(a0=207, a1=110, c0=308, c1=318, b0=178, b1=157, bc0=150, bc1=140, confidence=0.95)
    assert r.wdd == pytest.approx(-118)
    assert r.std_error == pytest.approx(math.sqrt(1568))
    assert round(r.z, 2) == -2.98
    assert round(r.ci_low) == -196 and round(r.ci_high) == -40
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(r.z)))
    assert r.wdd_local + r.wdd_displacement == pytest.approx(r.wdd)


def test_wdd_ptools_simple_cases():
    # Source: ptools tests/testthat/test-wdd.R: "Local -10", "Displacement -10", "Total -20".
    assert wdd(a0=20, a1=10, c0=20, c1=20).wdd == pytest.approx(-10)
    r = wdd(a0=20, a1=20, c0=20, c1=20, b0=20, b1=10, bc0=20, bc1=20)
    assert r.wdd_displacement == pytest.approx(-10)
    assert wdd(a0=20, a1=10, c0=20, c1=20, b0=20, b1=10, bc0=20, bc1=20).wdd == pytest.approx(-20)


def test_wdd_time_and_area_weights():
    # Source: ptools test-wdd.R "Time Weights" (andrewpwheeler.com 2021-01-09): control 100 -> 50,
    # treated 80 -> 20, pre period twice as long: WDD -20, SE sqrt(115).
    r = wdd(a0=80, a1=20, c0=100, c1=50, time_weights=(2, 1))
    assert r.wdd == pytest.approx(-20)
    assert r.std_error == pytest.approx(math.sqrt(115))
    # Source: ptools test-wdd.R "Area Weights" (andrewpwheeler.com 2021-02-23): paper counts with
    # area weights (control, treated, disp control, disp treated) = (0.9, 1.2, 1.6, 1.5).
    r = wdd(a0=207, a1=110, c0=308, c1=318, b0=178, b1=157, bc0=150, bc1=140,
            area_weights=(0.9, 1.2, 1.6, 1.5))
    assert r.wdd == pytest.approx(-99.69444444)
    assert r.std_error == pytest.approx(35.4280755)
    assert r.z == pytest.approx(-2.813995483)
    assert r.ci_low == pytest.approx(-169.1321965)
    assert r.ci_high == pytest.approx(-30.25669241)


def test_wdd_blog_example_and_errors():
    # Source: crimede-coder.com/blogposts/2025/WDDExtensions: control 100 -> 90, treated 100 -> 80:
    # "the extra reduction due to the treatment is 10 crimes ... the standard error is 19".
    r = wdd(a0=100, a1=80, c0=100, c1=90)
    assert r.wdd == pytest.approx(-10)
    assert round(r.std_error) == 19
    with pytest.raises(ValueError, match="all of b0"):
        wdd(1, 2, 3, 4, b0=5)
    with pytest.raises(ValueError):
        wdd(1, 2, 3, -4)


# ---------------------------------------------------------------- count panel models

@pytest.fixture(scope="module")
def sim_panel() -> pd.DataFrame:
    return simulate_panel(PanelSimParams(n_weeks=40, first_designation_week=10, last_designation_week=28), seed=11)


def test_poisson_pyfixest_agrees_with_statsmodels(sim_panel):
    a = count_panel_model(sim_panel, "calls", ["log1p_presence", "post"], "area_id", "week")
    b = count_panel_model(sim_panel, "calls", ["log1p_presence", "post"], "area_id", "week", engine="statsmodels")
    assert list(a.columns[:11]) == ["term", "estimate", "std_error", "irr", "irr_ci_low", "irr_ci_high",
                                    "p_value", "n_obs", "n_units", "family", "method"]
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-6)
    # CRV1 small-sample factors differ (pyfixest does not count FE nested in clusters): within 3 %
    np.testing.assert_allclose(a["std_error"], b["std_error"], rtol=0.03)
    assert (a["irr_ci_low"] < a["irr"]).all() and (a["irr"] < a["irr_ci_high"]).all()
    assert a["n_obs"].iloc[0] == len(sim_panel) and a["n_units"].iloc[0] == 39


def test_negbin_close_to_poisson_and_exposure_offset(sim_panel):
    nb = count_panel_model(sim_panel, "calls", ["log1p_presence", "post"], "area_id", "week", family="negbin")
    po = count_panel_model(sim_panel, "calls", ["log1p_presence", "post"], "area_id", "week")
    assert (nb["family"] == "negbin").all() and nb["alpha"].iloc[0] > 0
    np.testing.assert_allclose(nb["estimate"], po["estimate"], atol=0.03)
    # a constant exposure is absorbed by the fixed effects: slopes unchanged
    off = count_panel_model(sim_panel.assign(days=7.0), "calls", ["log1p_presence"], "area_id", "week",
                            exposure="days")
    base = count_panel_model(sim_panel, "calls", ["log1p_presence"], "area_id", "week")
    assert off["estimate"].iloc[0] == pytest.approx(base["estimate"].iloc[0], rel=1e-6)


def test_count_model_rejects_bad_input(sim_panel):
    bad = sim_panel.copy()
    bad.loc[3, "calls"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        count_panel_model(bad, "calls", ["log1p_presence"], "area_id", "week")
    neg = sim_panel.assign(calls=sim_panel["calls"] - 100)
    with pytest.raises(ValueError, match="negative"):
        count_panel_model(neg, "calls", ["log1p_presence"], "area_id", "week")
    with pytest.raises(ValueError, match="missing column"):
        count_panel_model(sim_panel, "nope", ["log1p_presence"], "area_id", "week")



@pytest.mark.parametrize("family", ["poisson", "negbin"])
def test_count_model_on_a_panel_of_singletons_is_a_clear_error(sim_panel, family):
    # A one-week window leaves one row per area: every row is absorbed by its own fixed effect. pyfixest's
    # demeaning aborted the whole process on that panel (a Rust panic that no except clause catches; seen
    # on `make run DAYS=2`); the model must raise ValueError so the job reports it as not estimated.
    one_week = sim_panel[sim_panel["week"] == sim_panel["week"].min()]
    with pytest.raises(ValueError, match="not identified"):
        count_panel_model(one_week, "calls", ["log1p_presence"], "area_id", "week", family=family)
    # two weeks of two areas with one regressor: 4 rows, 2 + 1 + 1 parameters: no residual left either
    two = sim_panel[sim_panel["area_id"].isin(sim_panel["area_id"].unique()[:2]) & (sim_panel["week"] <= sim_panel["week"].min() + 1)]
    assert len(two) == 4
    with pytest.raises(ValueError, match="not identified"):
        count_panel_model(two, "calls", ["log1p_presence"], "area_id", "week", family=family)
    # three areas over two weeks whose second week has no events: that week is separated, which leaves
    # one row per area again
    sep = pd.DataFrame({"a": list("aabbcc"), "w": [0, 1] * 3, "y": [1, 0, 2, 0, 3, 0], "x": [0.1, 0.5, 0.3, 0.2, 0.9, 0.4]})
    with pytest.raises(ValueError, match="not identified"):
        count_panel_model(sep, "y", ["x"], "a", "w", family=family)


@pytest.mark.parametrize("family,engine", [("poisson", None), ("poisson", "statsmodels"), ("negbin", None)])
def test_a_regressor_that_separates_the_counts_is_not_estimated(family, engine):
    # treated areas have no events once treated: the ML estimate of the treatment is -infinity, for NB2
    # as for Poisson. Without the separation check the fits stopped near -19 (pyfixest, standard error
    # 0.18: a confident 100% fall) or -23 (statsmodels' Poisson, 0.85; its NB2 with no standard error,
    # nor one for the other regressor); with it the separated rows are dropped and the term is reported as
    # not estimated (alone: a clear error; beside another regressor: NaN, the other estimated on the rest)
    rng = np.random.default_rng(0)
    rows = [(u, t, float(u < 3 and t >= 2), 0 if (u < 3 and t >= 2) else rng.poisson(3), rng.normal())
            for u in range(10) for t in range(4)]
    panel = pd.DataFrame(rows, columns=["u", "t", "post", "y", "z"])
    with pytest.raises(ValueError, match="not identified.*separation"):
        count_panel_model(panel, "y", ["post"], "u", "t", family=family, engine=engine)
    both = count_panel_model(panel, "y", ["post", "z"], "u", "t", family=family, engine=engine).set_index("term")
    assert np.isnan(both.loc["post", "estimate"]) and np.isnan(both.loc["post", "irr_ci_low"])
    assert np.isfinite(both.loc["z", "estimate"]) and np.isfinite(both.loc["z", "std_error"])
    assert both.loc["z", "n_obs"] == len(panel) - 6          # the six treated-and-post rows are dropped
    # on the rows left, the estimate is the model's own fit of z alone
    rest = panel[~((panel["u"] < 3) & (panel["t"] >= 2))]
    alone = count_panel_model(rest, "y", ["z"], "u", "t", family=family, engine=engine)
    assert both.loc["z", "estimate"] == pytest.approx(alone["estimate"].iloc[0], rel=1e-6)
    # one treated-and-post row with an event: the estimate is finite again (nothing is dropped)
    one = panel.copy()
    one.loc[(one["u"] == 0) & (one["t"] == 3), "y"] = 1
    fit = count_panel_model(one, "y", ["post"], "u", "t", family=family, engine=engine)
    assert np.isfinite(fit["estimate"].iloc[0]) and fit["estimate"].iloc[0] < -1 and fit["n_obs"].iloc[0] == len(one)
    assert np.isfinite(fit["std_error"].iloc[0])


# ---------------------------------------------------------------- staggered DiD

def test_poisson_two_way_matches_statsmodels_glm(sim_panel):
    # The imputation step's two-way Poisson ML (IPF) equals a statsmodels Poisson GLM with dummies on
    # an unbalanced set of cells (the reference observations).
    import statsmodels.api as sm

    ref = sim_panel[sim_panel["post"] == 0].reset_index(drop=True)
    u, _ = pd.factorize(ref["area_id"])
    t = ref["week"].to_numpy()
    a, lt = _poisson_two_way(ref["calls"].to_numpy(float), u, t, u.max() + 1, t.max() + 1)
    X = sm.add_constant(pd.concat([pd.get_dummies(ref["area_id"], drop_first=True, dtype=float),
                                   pd.get_dummies(ref["week"].astype(str), drop_first=True, dtype=float)], axis=1))
    glm = sm.GLM(ref["calls"].astype(float), X, family=sm.families.Poisson()).fit()
    np.testing.assert_allclose(a[u] * lt[t], glm.fittedvalues, rtol=1e-6)


def test_linear_imputation_matches_pyfixest_did2s(sim_panel):
    # family="gaussian" is the linear imputation estimator; pyfixest.did2s (Gardner two-stage) with the
    # same untreated set gives numerically the same event-time estimates.
    import pyfixest as pf

    pre, post = 3, 4
    df = sim_panel.assign(y=np.log1p(sim_panel["calls"]))
    ours = staggered_did(df, "y", "area_id", "week", "first_treated", pre=pre, post=post, family="gaussian", n_boot=49)
    e = df["week"] - df["first_treated"]
    df["treat"] = (e >= -pre).astype(int)
    df["rel"] = np.where(df["treat"] == 1, np.minimum(e, post + 1), -1000.0)
    fit = pf.did2s(df, yname="y", first_stage="~ 0 | area_id + week", second_stage="~ i(rel, ref=-1000.0)",
                   treatment="treat", cluster="area_id")
    theirs = fit.coef()
    for k in range(-pre, post + 1):
        mine = ours.loc[ours["event_time"] == k, "estimate"].iloc[0]
        assert mine == pytest.approx(theirs[f"rel::{float(k)}"], abs=1e-6)
    # the cluster bootstrap SE is in the same range as did2s's analytic GMM SE
    ratio = ours.set_index("event_time").loc[0, "std_error"] / fit.se()["rel::0.0"]
    assert 0.6 < ratio < 1.6


def test_staggered_did_output_shape_and_errors(sim_panel):
    r = staggered_did(sim_panel, "calls", "area_id", "week", "first_treated", pre=3, post=2, n_boot=29)
    assert list(r.columns[:12]) == ["event_time", "term", "estimate", "std_error", "ci_low", "ci_high", "irr",
                                    "irr_ci_low", "irr_ci_high", "p_value", "n_obs", "method"]
    assert r["event_time"].iloc[:-1].tolist() == [-3, -2, -1, 0, 1, 2]
    assert r["term"].iloc[-1] == "overall" and pd.isna(r["event_time"].iloc[-1])
    assert np.allclose(r["irr"], np.exp(r["estimate"]))
    assert (r["ci_low"] < r["estimate"]).all() and (r["estimate"] < r["ci_high"]).all()
    # same seed, same answer
    again = staggered_did(sim_panel, "calls", "area_id", "week", "first_treated", pre=3, post=2, n_boot=29)
    pd.testing.assert_frame_equal(r, again)
    with pytest.raises(ValueError, match="never-treated"):
        staggered_did(sim_panel[sim_panel["area_type"] == "impact"], "calls", "area_id", "week", "first_treated")
    with pytest.raises(ValueError, match="not time values"):
        staggered_did(sim_panel.assign(first_treated=sim_panel["first_treated"] + 0.5), "calls", "area_id",
                      "week", "first_treated")


# ---------------------------------------------------------------- correlation

def test_pearson_ci_is_fisher_z_and_spearman_bonett_wright():
    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    y = 0.5 * x + rng.normal(size=60)
    out = correlation_with_ci(x, y)
    r, n, zc = out["pearson_r"], out["n"], stats.norm.ppf(0.975)
    assert n == 60
    assert out["pearson_ci_low"] == pytest.approx(math.tanh(math.atanh(r) - zc / math.sqrt(n - 3)), rel=1e-9)
    assert out["pearson_ci_high"] == pytest.approx(math.tanh(math.atanh(r) + zc / math.sqrt(n - 3)), rel=1e-9)
    rho = out["spearman_rho"]
    se_bw = math.sqrt((1 + rho**2 / 2) / (n - 3))  # Bonett & Wright (2000), Psychometrika 65(1)
    assert out["spearman_ci_low"] == pytest.approx(math.tanh(math.atanh(rho) - zc * se_bw))
    assert out["spearman_ci_low"] < rho < out["spearman_ci_high"]
    assert out["pearson_p"] < 0.05
    small = correlation_with_ci([1, 2, 3], [1, 3, 2])
    assert small["n"] == 3 and math.isnan(small["pearson_ci_low"])
    with pytest.raises(ValueError, match="missing"):
        correlation_with_ci([1, 2, np.nan, 4, 5], [1, 2, 3, 4, 5])


def test_cross_correlation_finds_the_lead():
    # y follows x two periods later: the lag +2 correlation dominates and its CI excludes 0
    rng = np.random.default_rng(8)
    rows = []
    for u in range(12):
        x = rng.normal(size=40)
        y = np.r_[rng.normal(size=2), x[:-2]] + 0.5 * rng.normal(size=40) + u
        rows += [{"unit": u, "week": t, "x": x[t], "y": y[t]} for t in range(40)]
    cc = cross_correlation(pd.DataFrame(rows), "x", "y", "unit", "week")
    assert cc["lag"].tolist() == list(range(-4, 5))
    best = cc.loc[cc["r"].idxmax()]
    assert best["lag"] == 2 and best["ci_low"] > 0.5
    assert cc.loc[cc["lag"] == 2, "n"].iloc[0] == 12 * 38
    others = cc[cc["lag"] != 2]
    assert (others["r"].abs() < 0.2).all()


def test_profile_alignment():
    hours = pd.RangeIndex(168, name="hour_of_week")
    demand = pd.Series(np.where(np.arange(168) % 24 >= 18, 10.0, 1.0), index=hours)
    aligned = profile_alignment(demand * 3, demand)
    assert aligned["n_hours"] == 168 and aligned["spearman_rho"] == pytest.approx(1.0)
    # top half of demand: the evening hours (6 a day x 7 = 42 hours hold 420 of 546); fewer needed
    top = aligned["share_hours_top_half"]
    assert 0 < top < 42 / 168 + 1e-9
    assert aligned["share_presence_in_top_half_demand"] > 0.5
    uniform = profile_alignment(pd.Series(1.0, index=hours), demand)
    assert uniform["share_presence_in_top_half_demand"] == pytest.approx(uniform["share_hours_top_half"])
    assert math.isnan(uniform["spearman_rho"])
    with pytest.raises(ValueError, match="same index"):
        profile_alignment(pd.Series(1.0, index=range(1, 169)), demand)
