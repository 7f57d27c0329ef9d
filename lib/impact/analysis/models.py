"""Count panel models and a staggered difference-in-differences event study (pandas in, pandas out).

Count models use maintained libraries: pyfixest (``fepois``: Poisson pseudo-maximum likelihood with
unit and time fixed effects, cluster-robust CRV1 covariance) and statsmodels (negative binomial NB2 by
maximum likelihood with unit/time dummies and cluster-robust covariance; Poisson GLM as a cross-check).
The staggered DiD is the imputation estimator written here (no Python library offers a Poisson
staggered estimator; pyfixest's saturated event study is linear and its clustered SEs degenerate when
each cohort is one unit, as with 19 Impact Areas designated on different dates); its two-way Poisson
fit is cross-checked against statsmodels in the tests.

Units: estimates are on the log scale of the outcome's expected count (log incidence-rate ratio per
unit of the regressor); ``irr = exp(estimate)``. Confidence intervals are Wald intervals.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

__all__ = ["count_panel_model", "staggered_did"]

_COUNT_COLUMNS = [
    "term", "estimate", "std_error", "irr", "irr_ci_low", "irr_ci_high", "p_value",
    "n_obs", "n_units", "family", "method",
]
_DID_COLUMNS = [
    "event_time", "term", "estimate", "std_error", "ci_low", "ci_high", "irr", "irr_ci_low",
    "irr_ci_high", "p_value", "n_obs", "method",
]


def _require_columns(panel: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in panel.columns]
    if missing:
        raise ValueError(f"panel is missing column(s) {missing}; it has {list(panel.columns)}")


def _require_complete(panel: pd.DataFrame, columns: Sequence[str]) -> None:
    bad = panel[list(columns)].isna().any(axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} panel row(s) have missing values in {list(columns)}; fill or quarantine "
            "them before modelling (rows are never dropped silently)"
        )


def _require_counts(y: pd.Series, name: str) -> None:
    values = y.to_numpy(dtype=float)
    if (values < 0).any():
        raise ValueError(f"outcome {name!r} has negative values; a count model needs counts >= 0")


def _drop_all_zero_units(df: pd.DataFrame, y: str, unit: str) -> pd.DataFrame:
    """Units whose outcome is zero in every period carry no information in a FE Poisson/NB model
    (their fixed effect diverges); drop them with a log line, as fixest and pyfixest do."""
    totals = df.groupby(unit, observed=True)[y].transform("sum")
    dropped = df.loc[totals <= 0, unit].unique()
    if len(dropped):
        log.warning("dropping %d unit(s) with an all-zero outcome: %s", len(dropped), list(dropped)[:10])
    return df.loc[totals > 0]


def _require_identified(df: pd.DataFrame, n_regressors: int) -> None:
    """Raise (a model reported as not estimated) where the two-way fixed-effects model has nothing left to
    fit once singletons are removed: a unit or period with a single row is absorbed by its own fixed effect.
    Checked here because pyfixest's demeaning aborts the whole process (a Rust panic, not an exception)
    on a panel that is all singletons, such as a window of a single week."""
    rows = df[["_u", "_t", "_y"]]
    while len(rows):
        # singletons, and units or periods whose outcome is zero throughout (separated: dropped by the fit)
        single = (rows.groupby("_u")["_u"].transform("size") == 1) | (rows.groupby("_t")["_t"].transform("size") == 1)
        zero = (rows.groupby("_u")["_y"].transform("sum") <= 0) | (rows.groupby("_t")["_y"].transform("sum") <= 0)
        if not (single | zero).any():
            break
        rows = rows[~(single | zero)]
    units, periods = rows["_u"].nunique(), rows["_t"].nunique()
    if units < 2 or periods < 2 or len(rows) <= units + periods - 1 + n_regressors:
        raise ValueError(f"not identified: after removing singletons {len(rows)} row(s) in {units} unit(s) x {periods} "
                         f"period(s) remain; two-way fixed effects and {n_regressors} regressor(s) need more "
                         "(a longer window or more areas with events)")


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _pyfixest():
    import pyfixest as pf  # imported lazily: slow first import

    return pf


def count_panel_model(
    panel: pd.DataFrame,
    outcome: str,
    regressors: Sequence[str],
    unit: str,
    time: str,
    family: str = "poisson",
    cluster: str | None = None,
    exposure: str | None = None,
    confidence: float = 0.95,
    engine: str | None = None,
) -> pd.DataFrame:
    """Count regression of ``outcome`` on ``regressors`` with ``unit`` and ``time`` fixed effects.

    family="poisson": Poisson pseudo-ML (pyfixest ``fepois``; consistent whenever the conditional mean
    is exp(linear index), whatever the dispersion); engine="statsmodels" fits the same model as a
    Poisson GLM with dummies (cross-check). family="negbin": NB2 maximum likelihood (statsmodels
    ``NegativeBinomial``) with unit and time dummies; the dispersion alpha is in column ``alpha``.
    Standard errors are clustered by ``cluster`` (default ``unit``). ``exposure`` names a positive
    column (e.g. days observed or km2) used as log offset. Units with an all-zero outcome are dropped
    (logged); missing values raise. Rows a regressor separates (zero counts wherever it points) are
    dropped in every family and engine, and a regressor left without information is NaN (D27, D33).
    Returns one row per regressor: estimate (log IRR per unit of the regressor), std_error, irr and its
    CI, p_value, n_obs, n_units, family, method (+ alpha).
    Measured limit (docs/analysis_methods.md): with ~30 weeks of overdispersed counts the Poisson CRV1
    interval of a week-level regressor rejected a true null ~10 % of the time (NB2: 6 %).
    """
    regressors = list(regressors)
    if not regressors:
        raise ValueError("count_panel_model needs at least one regressor")
    if family not in ("poisson", "negbin"):
        raise ValueError(f"family must be 'poisson' or 'negbin', got {family!r}")
    cluster = cluster or unit
    z = _z(confidence)
    cols = list(dict.fromkeys([outcome, *regressors, unit, time, cluster] + ([exposure] if exposure else [])))
    _require_columns(panel, cols)
    _require_complete(panel, cols)
    _require_counts(panel[outcome], outcome)
    if exposure is not None and (panel[exposure] <= 0).any():
        raise ValueError(f"exposure {exposure!r} must be > 0 in every row")

    # internal, formula-safe names
    names = {r: f"x{i}" for i, r in enumerate(regressors)}
    df = pd.DataFrame({"_y": panel[outcome].astype(float).to_numpy()}, index=panel.index)
    for r, n in names.items():
        df[n] = panel[r].astype(float).to_numpy()
    df["_u"] = panel[unit].astype(str).to_numpy()
    df["_t"] = panel[time].astype(str).to_numpy()
    df["_c"] = panel[cluster].astype(str).to_numpy()
    if exposure is not None:
        df["_off"] = np.log(panel[exposure].astype(float).to_numpy())
    df = _drop_all_zero_units(df, "_y", "_u").reset_index(drop=True)
    n_obs, n_units = len(df), df["_u"].nunique()
    if n_units < 2:
        raise ValueError("need at least two units with a non-zero outcome")
    _require_identified(df, len(regressors))

    alpha = np.nan
    if engine not in (None, "pyfixest", "statsmodels"):
        raise ValueError(f"engine must be 'pyfixest' or 'statsmodels', got {engine!r}")
    if family == "poisson" and (engine or "pyfixest") == "pyfixest":
        fit = _fepois(df, names, exposure)
        coefs = fit.coef()
        ses = fit.se()
        pvals = fit.pvalue()
        n_obs = int(fit._N)
        method = f"pyfixest.fepois Poisson PML, {unit}+{time} fixed effects, CRV1 clustered by {cluster}"
        est = {r: (coefs.get(n, np.nan), ses.get(n, np.nan), pvals.get(n, np.nan)) for r, n in names.items()}
    else:
        import statsmodels.api as sm

        # The same separation check as the Poisson path, then the model on what is left (D33). The rows it
        # finds are separated for NB2 as well: a zero count's likelihood rises towards its maximum as its
        # mean goes to zero in both families, so the estimate runs off to minus infinity in both. A
        # regressor the check leaves without information (dropped as collinear) is reported as NaN.
        probe = _fepois(df, names, exposure, fixef_rm="none")
        separated = np.asarray(probe.na_index, dtype=int)
        if len(separated):
            log.info("%s: dropping %d observation(s) separated by the regressors (the count is zero wherever they "
                     "point), as the Poisson fit does", family, len(separated))
            df = df.drop(index=separated).reset_index(drop=True)
            n_obs = len(df)
        probed = probe.coef()
        kept = {r: n for r, n in names.items() if np.isfinite(probed.get(n, np.nan))}
        if not kept:
            raise ValueError("not identified: no regressor is left once the separated observations are dropped "
                             "(separation)")
        _require_identified(df, len(kept))
        X = pd.concat(
            [
                df[list(kept.values())],
                pd.get_dummies(df["_u"], prefix="u", drop_first=True, dtype=float),
                pd.get_dummies(df["_t"], prefix="t", drop_first=True, dtype=float),
            ],
            axis=1,
        )
        X = sm.add_constant(X, has_constant="add")
        groups = pd.factorize(df["_c"])[0]
        offset = df["_off"].to_numpy() if exposure else None
        pois = sm.GLM(df["_y"], X, family=sm.families.Poisson(), offset=offset)
        if family == "poisson":
            res = pois.fit(cov_type="cluster", cov_kwds={"groups": groups})
            method = f"statsmodels GLM Poisson, {unit}+{time} dummies, cluster-robust by {cluster}"
        else:
            start = pois.fit().params.to_numpy()
            nb = sm.NegativeBinomial(df["_y"], X, loglike_method="nb2", offset=offset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = nb.fit(
                    start_params=np.r_[start, 0.1], method="lbfgs", maxiter=2000, disp=0,
                    cov_type="cluster", cov_kwds={"groups": groups},
                )
            if not res.mle_retvals.get("converged", True) or not np.all(np.isfinite(res.params)):
                raise RuntimeError("negative binomial fit did not converge; try family='poisson'")
            alpha = float(res.params["alpha"])
            method = f"statsmodels NegativeBinomial NB2 ML, {unit}+{time} dummies, cluster-robust by {cluster}"
        est = {r: (res.params[n], res.bse[n], res.pvalues[n]) if r in kept else (np.nan, np.nan, np.nan)
               for r, n in names.items()}

    rows = []
    for r in regressors:
        b, se, p = (float(v) for v in est[r])
        rows.append(
            {
                "term": r, "estimate": b, "std_error": se, "irr": np.exp(b),
                "irr_ci_low": np.exp(b - z * se), "irr_ci_high": np.exp(b + z * se), "p_value": p,
                "n_obs": n_obs, "n_units": n_units, "family": family, "method": method, "alpha": alpha,
            }
        )
    return pd.DataFrame(rows, columns=[*_COUNT_COLUMNS, "alpha"])


def _fepois(df: pd.DataFrame, names: dict[str, str], exposure: str | None, fixef_rm: str = "singleton"):
    """pyfixest's Poisson PML of `_y` on the `names` columns with `_u` + `_t` fixed effects, clustered by `_c`,
    with its separation checks. Raises ValueError "not identified ... separation" when no regressor is left."""
    pf = _pyfixest()
    fml = f"_y ~ {' + '.join(names.values())} | _u + _t"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            # "ir" (the iterative rectifier of Correia, Guimaraes and Zylkin) also drops the rows a regressor
            # separates: without it a regressor whose non-zero rows all have a zero count gets an estimate
            # of about -16 with a small standard error, i.e. a confident, spurious 100% fall (D27)
            return pf.fepois(fml, data=df, vcov={"CRV1": "_c"}, offset="_off" if exposure else None,
                             separation_check=["fe", "ir"], fixef_rm=fixef_rm)
        except ValueError as error:
            if "collinear" not in str(error):
                raise
            raise ValueError("not identified: once the observations the regressors separate are dropped (the count is "
                             "zero wherever they are non-zero), nothing is left to estimate them from: the effect "
                             "is not finite (separation); a longer window or more events are needed") from error


def _time_positions(values: pd.Series) -> tuple[pd.Series, dict]:
    """Map time values (ints, dates, strings: anything orderable) to consecutive integer positions."""
    ordered = sorted(pd.unique(values))
    lookup = {v: i for i, v in enumerate(ordered)}
    return values.map(lookup).astype(int), lookup


def _poisson_two_way(y: np.ndarray, u: np.ndarray, t: np.ndarray, n_u: int, n_t: int,
                     tol: float = 1e-10, max_iter: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Poisson maximum likelihood of log E[y_ut] = a_u + l_t on the observed (u, t) cells, by iterative
    proportional fitting (the classic ML algorithm for a two-way log-linear model with missing cells).
    Returns multiplicative effects exp(a_u), exp(l_t) (each unit and time needs a positive total)."""
    a = np.ones(n_u)
    lt = np.ones(n_t)
    y_u = np.bincount(u, weights=y, minlength=n_u)
    y_t = np.bincount(t, weights=y, minlength=n_t)
    for _ in range(max_iter):
        a_new = y_u / np.bincount(u, weights=lt[t], minlength=n_u)
        lt_new = y_t / np.bincount(t, weights=a_new[u], minlength=n_t)
        done = np.allclose(a_new[u] * lt_new[t], a[u] * lt[t], rtol=tol, atol=0)
        a, lt = a_new, lt_new
        if done:
            break
    return a, lt


def _linear_two_way(y: np.ndarray, u: np.ndarray, t: np.ndarray, n_u: int, n_t: int,
                    tol: float = 1e-12, max_iter: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of y_ut = a_u + l_t on the observed cells by alternating projections
    (Gauss-Seidel on the normal equations). Returns additive effects a_u, l_t."""
    a = np.zeros(n_u)
    lt = np.zeros(n_t)
    n_per_u = np.bincount(u, minlength=n_u)
    n_per_t = np.bincount(t, minlength=n_t)
    for _ in range(max_iter):
        a_new = np.bincount(u, weights=y - lt[t], minlength=n_u) / n_per_u
        lt_new = np.bincount(t, weights=y - a_new[u], minlength=n_t) / np.maximum(n_per_t, 1)
        done = np.max(np.abs((a_new[u] + lt_new[t]) - (a[u] + lt[t]))) < tol * (1 + np.max(np.abs(y)))
        a, lt = a_new, lt_new
        if done:
            break
    return a, lt


def staggered_did(
    panel: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    first_treated: str,
    pre: int = 4,
    post: int = 4,
    confidence: float = 0.95,
    n_boot: int = 199,
    seed: int = 0,
    family: str = "poisson",
) -> pd.DataFrame:
    """Staggered difference-in-differences event study on a count outcome: the imputation estimator
    (Borusyak, Jaravel & Spiess 2024) in its Poisson form (Wooldridge 2023), valid when designation
    dates differ between units and effects differ between cohorts and over time.

    1. Fit log E[y_it] = a_i + l_t by Poisson ML on the *reference* observations only: never-treated
       units (all periods) and treated units' periods before event time e = -pre.
    2. Impute the untreated expectation mu0_it = exp(a_i + l_t) for every treated unit-period with
       -pre <= e (event time e = t - first treated period; periods after ``post`` are imputed but
       not reported).
    3. Event-time estimate at e: log(sum y / sum mu0) over treated units at e (log incidence-rate
       ratio; for e < 0 a placebo: the parallel-trends check, expected near 0). ``overall``: the same
       over all treated unit-periods with 0 <= e <= post.
    Standard errors: cluster bootstrap over units (``n_boot`` resamples, treated and never-treated
    units resampled separately; ``seed`` fixes them), times sqrt(G/(G-1)) with G the smaller of the
    treated and never-treated unit counts; CIs and p-values use Student t with G-1 df (few clusters).

    ``first_treated`` holds each unit's first treated ``time`` value (NaN/None when never treated); it
    must be one of the panel's time values and constant within a unit. Time values may be ints or
    dates; they are mapped to consecutive positions (one position = one panel period, e.g. a week).
    Treated units without any reference period (first treated within ``pre`` periods of the start)
    are dropped with a log line (column ``n_units_dropped``). Missing outcomes raise.
    ``family="gaussian"`` is the linear imputation estimator (mean of y - y0_hat; irr columns NaN),
    numerically the did2s / BJS estimator; the tests check it against pyfixest.did2s.
    Returns rows for e = -pre..post and one ``overall`` row (event_time <NA>).
    """
    if family not in ("poisson", "gaussian"):
        raise ValueError(f"family must be 'poisson' or 'gaussian', got {family!r}")
    if pre < 1 or post < 0:
        raise ValueError("pre must be >= 1 and post >= 0")
    if n_boot < 20:
        raise ValueError("n_boot must be >= 20 for a usable bootstrap standard error")
    _z(confidence)  # validates the level
    _require_columns(panel, [outcome, unit, time, first_treated])
    _require_complete(panel, [outcome, unit, time])
    if family == "poisson":
        _require_counts(panel[outcome], outcome)

    df = pd.DataFrame(
        {"_y": panel[outcome].astype(float).to_numpy(), "_u": panel[unit].astype(str).to_numpy()}
    )
    df["_t"], lookup = _time_positions(panel[time].reset_index(drop=True))
    ft = panel[first_treated].reset_index(drop=True)
    unknown = set(ft[ft.notna()].unique()) - set(lookup)
    if unknown:
        raise ValueError(f"first_treated value(s) {sorted(unknown)[:5]} are not time values of the panel")
    df["_g"] = ft.map(lookup).astype(float)
    per_unit = df.groupby("_u")["_g"].nunique(dropna=False)
    if (per_unit > 1).any():
        raise ValueError(f"first_treated varies within unit(s) {list(per_unit[per_unit > 1].index)[:5]}")
    if df.duplicated(["_u", "_t"]).any():
        raise ValueError("duplicate unit-time rows in the panel")
    df["_e"] = df["_t"] - df["_g"]
    df["_ref"] = df["_g"].isna() | (df["_e"] < -pre)

    # units that cannot be imputed: no reference period, or no positive reference outcome
    ref_total = df[df["_ref"]].groupby("_u")["_y"].agg(["sum", "size"])
    ok_units = set(ref_total.index[(ref_total["sum"] > 0) if family == "poisson" else (ref_total["size"] > 0)])
    all_units = set(df["_u"])
    dropped_units = sorted(all_units - ok_units)
    if dropped_units:
        log.warning("staggered_did: dropping %d unit(s) with no positive reference-period outcome: %s",
                    len(dropped_units), dropped_units[:10])
    df = df[df["_u"].isin(ok_units)].reset_index(drop=True)
    treated_units = sorted(df.loc[df["_g"].notna(), "_u"].unique())
    control_units = sorted(df.loc[df["_g"].isna(), "_u"].unique())
    if not control_units:
        raise ValueError("no never-treated units: the estimator uses never-treated units as the reference")
    if not treated_units:
        raise ValueError("no treated units with a reference period")

    keys = list(range(-pre, post + 1)) + ["overall"]
    target = df[~df["_ref"] & (df["_e"] <= post)]
    n_obs = int(df["_ref"].sum() + len(target))

    y_all = df["_y"].to_numpy()
    t_all = df["_t"].to_numpy().astype(int)
    e_all = df["_e"].to_numpy()
    ref_all = df["_ref"].to_numpy()
    n_t = int(t_all.max()) + 1

    def estimate(rows: np.ndarray, u_codes: np.ndarray, n_u: int) -> np.ndarray:
        y, t, e, ref = y_all[rows], t_all[rows], e_all[rows], ref_all[rows]
        tgt = (~ref) & (e <= post)
        et, yt = e[tgt], y[tgt]
        if family == "poisson":
            y_t_ref = np.bincount(t[ref], weights=y[ref], minlength=n_t)
            a, lt = _poisson_two_way(y[ref], u_codes[ref], t[ref], n_u, n_t)
            valid = y_t_ref[t[tgt]] > 0  # periods with no reference outcome cannot be imputed
            mu0 = np.where(valid, a[u_codes[tgt]] * lt[t[tgt]], 0.0)
        else:
            a, lt = _linear_two_way(y[ref], u_codes[ref], t[ref], n_u, n_t)
            valid = np.bincount(t[ref], minlength=n_t)[t[tgt]] > 0
            mu0 = a[u_codes[tgt]] + lt[t[tgt]]
        out = []
        for k in keys:
            sel = valid & ((et >= 0) if k == "overall" else (et == k))
            if family == "poisson":
                s_y, s_mu = yt[sel].sum(), mu0[sel].sum()
                out.append(np.log(s_y / s_mu) if s_y > 0 and s_mu > 0 else np.nan)
            else:
                out.append(float(np.mean(yt[sel] - mu0[sel])) if sel.any() else np.nan)
        return np.array(out)

    unit_codes, unit_levels = pd.factorize(df["_u"])
    unit_rows = {u: np.flatnonzero(unit_codes == i) for i, u in enumerate(unit_levels)}
    point = estimate(np.arange(len(df)), unit_codes, len(unit_levels))
    rng = np.random.default_rng(seed)
    boots = np.full((n_boot, len(keys)), np.nan)
    for b in range(n_boot):
        picks = list(rng.choice(treated_units, len(treated_units))) + list(
            rng.choice(control_units, len(control_units))
        )
        rows = np.concatenate([unit_rows[u] for u in picks])
        codes = np.repeat(np.arange(len(picks)), [len(unit_rows[u]) for u in picks])
        boots[b] = estimate(rows, codes, len(picks))
    # small-cluster adjustment: CRV1-style factor G/(G-1) on the bootstrap variance and Student t
    # critical values with G-1 df, G = the smaller of the treated and never-treated unit counts
    g = min(len(treated_units), len(control_units))
    se = np.nanstd(boots, axis=0, ddof=1) * (np.sqrt(g / (g - 1)) if g > 1 else np.nan)
    crit = float(stats.t.ppf(0.5 + confidence / 2, df=max(g - 1, 1)))

    kind = "Poisson" if family == "poisson" else "Linear"
    method = (
        f"{kind} imputation DiD (Borusyak-Jaravel-Spiess 2024 / Wooldridge 2023): {unit}+{time} effects "
        f"fitted by {'Poisson ML' if family == 'poisson' else 'least squares'} on never-treated units and "
        f"periods before e={-pre}; "
        f"cluster bootstrap by {unit} (B={n_boot}, seed={seed}), t({g - 1}) intervals"
    )
    rows = []
    for k, b, s in zip(keys, point, se):
        lo, hi = b - crit * s, b + crit * s
        p = float(2 * stats.t.sf(abs(b / s), df=max(g - 1, 1))) if np.isfinite(s) and s > 0 and np.isfinite(b) else np.nan
        rows.append(
            {
                "event_time": pd.NA if k == "overall" else k, "term": "overall" if k == "overall" else f"event_{k}",
                "estimate": b, "std_error": s, "ci_low": lo, "ci_high": hi,
                "irr": np.exp(b) if family == "poisson" else np.nan,
                "irr_ci_low": np.exp(lo) if family == "poisson" else np.nan,
                "irr_ci_high": np.exp(hi) if family == "poisson" else np.nan, "p_value": p, "n_obs": n_obs,
                "method": method, "n_units_dropped": len(dropped_units),
            }
        )
    result = pd.DataFrame(rows, columns=[*_DID_COLUMNS, "n_units_dropped"])
    result["event_time"] = result["event_time"].astype("Int64")
    return result
