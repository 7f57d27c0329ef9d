"""Correlations with confidence intervals (scipy), pooled within-unit cross-correlation at lags, and
the presence-vs-demand profile alignment ("right place, right time")."""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)

__all__ = ["correlation_with_ci", "cross_correlation", "profile_alignment"]


def _fisher_ci(r: float, se: float, confidence: float) -> tuple[float, float]:
    z_crit = float(stats.norm.ppf(0.5 + confidence / 2))
    zr = math.atanh(max(min(r, 1 - 1e-15), -1 + 1e-15))
    return math.tanh(zr - z_crit * se), math.tanh(zr + z_crit * se)


def _spearman_with_ci(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """Spearman rho (scipy) with the Fisher-z CI using the Bonett & Wright (2000) standard error
    sqrt((1 + rho^2 / 2) / (n - 3))."""
    n = len(x)
    res = stats.spearmanr(x, y)
    rho = float(res.statistic)
    if n < 4 or not math.isfinite(rho):
        return rho, math.nan, math.nan, float(res.pvalue)
    lo, hi = _fisher_ci(rho, math.sqrt((1 + rho**2 / 2) / (n - 3)), confidence)
    return rho, lo, hi, float(res.pvalue)


def _as_pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError(f"x and y must be 1-D and the same length, got {xa.shape} and {ya.shape}")
    bad = ~(np.isfinite(xa) & np.isfinite(ya))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} pair(s) have missing or infinite values; clean them first")
    return xa, ya


def correlation_with_ci(x, y, confidence: float = 0.95) -> dict:
    """Pearson r with scipy's Fisher-z CI and t-test p-value, and Spearman rho with a Bonett-Wright
    Fisher-z CI and scipy's p-value. Assumes independent pairs (serial correlation in area-week data
    makes the CIs too narrow). With n < 4 or a constant input the CIs are NaN."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    xa, ya = _as_pairs(x, y)
    n = len(xa)
    out = {"n": n}
    constant = n < 2 or np.ptp(xa) == 0 or np.ptp(ya) == 0
    if constant or n < 4:
        nan = math.nan
        out.update(pearson_r=nan, pearson_ci_low=nan, pearson_ci_high=nan, pearson_p=nan,
                   spearman_rho=nan, spearman_ci_low=nan, spearman_ci_high=nan, spearman_p=nan)
        return out
    pr = stats.pearsonr(xa, ya)
    ci = pr.confidence_interval(confidence_level=confidence)
    rho, s_lo, s_hi, s_p = _spearman_with_ci(xa, ya, confidence)
    out.update(
        pearson_r=float(pr.statistic), pearson_ci_low=float(ci.low), pearson_ci_high=float(ci.high),
        pearson_p=float(pr.pvalue), spearman_rho=rho, spearman_ci_low=s_lo, spearman_ci_high=s_hi, spearman_p=s_p,
    )
    return out


def cross_correlation(
    panel: pd.DataFrame, x: str, y: str, unit: str, time: str, lags: Iterable[int] = range(-4, 5),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Pooled within-unit correlation of x at period t with y at period t + lag, for each lag.

    Time values are mapped to consecutive positions (one position = one panel period, e.g. a week).
    For each lag, pairs are formed within unit, both series are demeaned within unit over the pairs,
    and r is the pooled Pearson correlation; the Fisher-z CI uses n - n_units + 1 effective pairs
    (one mean per unit instead of one overall mean). Positive lag: x leads y. Assumes no serial correlation beyond the lag
    structure (CIs are optimistic otherwise). Columns: lag, r, ci_low, ci_high, n.
    """
    for c in (x, y, unit, time):
        if c not in panel.columns:
            raise ValueError(f"panel has no column {c!r}")
    if panel[[x, y, unit, time]].isna().any().any():
        raise ValueError("missing values in the cross-correlation columns; clean them first")
    ordered = sorted(pd.unique(panel[time]))
    pos = panel[time].map({v: i for i, v in enumerate(ordered)})
    base = pd.DataFrame({"u": panel[unit].to_numpy(), "t": pos.to_numpy(), "x": panel[x].astype(float).to_numpy(),
                         "y": panel[y].astype(float).to_numpy()})
    z_crit = float(stats.norm.ppf(0.5 + confidence / 2))
    rows = []
    for lag in lags:
        shifted = base[["u", "t", "y"]].assign(t=base["t"] - int(lag))
        pairs = base[["u", "t", "x"]].merge(shifted, on=["u", "t"], how="inner")
        n = len(pairs)
        n_units = pairs["u"].nunique()
        xd = pairs["x"] - pairs.groupby("u")["x"].transform("mean")
        yd = pairs["y"] - pairs.groupby("u")["y"].transform("mean")
        denom = math.sqrt(float((xd**2).sum() * (yd**2).sum()))
        n_eff = n - n_units + 1  # a plain correlation of n_eff pairs loses the same df to its mean
        if denom == 0 or n_eff < 4:
            rows.append({"lag": int(lag), "r": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": n})
            continue
        r = float((xd * yd).sum() / denom)
        zr = math.atanh(max(min(r, 1 - 1e-15), -1 + 1e-15))
        se = 1 / math.sqrt(n_eff - 3)
        rows.append({"lag": int(lag), "r": r, "ci_low": math.tanh(zr - z_crit * se),
                     "ci_high": math.tanh(zr + z_crit * se), "n": n})
    return pd.DataFrame(rows, columns=["lag", "r", "ci_low", "ci_high", "n"])


def profile_alignment(presence: pd.Series, demand: pd.Series, confidence: float = 0.95) -> dict:
    """How well an area's presence profile over the 168 hours of the week follows its demand profile.

    ``spearman_rho`` (with a Bonett-Wright CI) ranks hours by presence and by demand.
    ``share_presence_in_top_half_demand``: the hours holding the top half of demand are taken greedily
    from the highest-demand hour down until their cumulative demand reaches 50 % of the total (ties:
    lower hour index first); the statistic is the share of presence in those hours, to compare with
    ``share_hours_top_half`` (their share of hours: what presence spread evenly would give).
    presence and demand must be aligned Series (same index), non-negative.
    """
    if not presence.index.equals(demand.index):
        raise ValueError("presence and demand must share the same index (hour of week)")
    p, d = _as_pairs(presence.to_numpy(), demand.to_numpy())
    if (p < 0).any() or (d < 0).any():
        raise ValueError("presence and demand must be >= 0")
    n = len(p)
    if n != 168:
        log.warning("profile_alignment: %d hours given, expected 168", n)
    rho, lo, hi = math.nan, math.nan, math.nan
    if n >= 4 and np.ptp(p) > 0 and np.ptp(d) > 0:
        rho, lo, hi, _ = _spearman_with_ci(p, d, confidence)
    share_p, share_h = math.nan, math.nan
    if d.sum() > 0:
        order = np.lexsort((np.arange(n), -d))  # by demand descending, then hour index
        cum = np.cumsum(d[order])
        k = int(np.searchsorted(cum, 0.5 * d.sum(), side="left")) + 1
        top = order[:k]
        share_h = k / n
        share_p = float(p[top].sum() / p.sum()) if p.sum() > 0 else math.nan
    return {"n_hours": n, "spearman_rho": rho, "spearman_ci_low": lo, "spearman_ci_high": hi,
            "share_presence_in_top_half_demand": share_p, "share_hours_top_half": share_h}
