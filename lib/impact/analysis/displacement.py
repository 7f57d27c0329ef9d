"""Displacement and diffusion measures for place-based interventions (own formulas; tested against
published values in tests/test_analysis_stats.py).

- Weighted Displacement Quotient, Bowers & Johnson (2003), J. Quant. Criminol. 19(3) 275-301, with
  the Total Net Effect of Guerette (2009), POP Center Tool Guide 10.
- Weighted Displacement Difference, Wheeler & Ratcliffe (2018), Crime Science 7:11, with the time and
  area weights of Wheeler's ptools R package (``wdd``).

Inputs are crime counts (or harm-weighted sums) for the before (0) and after (1) periods.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = ["WDQResult", "WDDResult", "wdq", "wdd"]


@dataclass(frozen=True)
class WDQResult:
    """WDQ components. Negative success = crime fell in the target relative to control; positive
    buffer = crime rose in the buffer relative to control (possible displacement); WDQ < 0 means
    displacement, > 0 diffusion of benefit; total_net_effect > 0 = crimes prevented overall."""

    success_measure: float
    buffer_measure: float
    wdq: float
    total_net_effect: float


@dataclass(frozen=True)
class WDDResult:
    """WDD (negative = fewer crimes than expected), its Poisson standard error, Wald CI, z and
    two-sided p-value; plus the local (target) and displacement parts."""

    wdd: float
    std_error: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    wdd_local: float = math.nan
    se_local: float = math.nan
    wdd_displacement: float = 0.0
    se_displacement: float = 0.0


def _check_counts(**counts: float | None) -> None:
    for name, value in counts.items():
        if value is None:
            continue
        if not math.isfinite(float(value)) or float(value) < 0:
            raise ValueError(f"{name} must be a finite count >= 0, got {value!r}")


def wdq(a0: float, a1: float, b0: float, b1: float, c0: float, c1: float) -> WDQResult:
    """Weighted Displacement Quotient (Bowers & Johnson 2003).

    a = target (treated) area, b = buffer (displacement) area, c = control area; 0 = before, 1 = after
    (counts over periods of equal length). success = a1/c1 - a0/c0, buffer = b1/c1 - b0/c0,
    WDQ = buffer / success (NaN when success == 0), total net effect (crimes prevented, Guerette 2009)
    = (a0*c1/c0 - a1) + (b0*c1/c0 - b1). Control counts must be > 0.
    """
    _check_counts(a0=a0, a1=a1, b0=b0, b1=b1, c0=c0, c1=c1)
    if c0 <= 0 or c1 <= 0:
        raise ValueError("control counts c0 and c1 must be > 0 for the WDQ")
    success = a1 / c1 - a0 / c0
    buffer = b1 / c1 - b0 / c0
    quotient = buffer / success if success != 0 else math.nan
    tne = (a0 * c1 / c0 - a1) + (b0 * c1 / c0 - b1)
    return WDQResult(success_measure=success, buffer_measure=buffer, wdq=quotient, total_net_effect=tne)


def _weighted_diff(pre: float, post: float, w_pre: float, w_post: float) -> tuple[float, float]:
    """(post/w_post - pre/w_pre, Poisson variance post/w_post^2 + pre/w_pre^2)."""
    return post / w_post - pre / w_pre, post / w_post**2 + pre / w_pre**2


def wdd(
    a0: float,
    a1: float,
    c0: float,
    c1: float,
    b0: float | None = None,
    b1: float | None = None,
    bc0: float | None = None,
    bc1: float | None = None,
    confidence: float = 0.95,
    time_weights: Sequence[float] = (1.0, 1.0),
    area_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> WDDResult:
    """Weighted Displacement Difference (Wheeler & Ratcliffe 2018).

    WDD = (a1 - a0) - (c1 - c0) + (b1 - b0) - (bc1 - bc0): a target, c its control, b the displacement
    (buffer) area and bc the buffer's control (b* and bc* optional, all four or none). Variance is the
    sum of the counts (each count treated as Poisson); CI = WDD -/+ z * SE, p two-sided normal.
    ``time_weights`` (pre, post) and ``area_weights`` (control, target, buffer control, buffer), as in
    ptools::wdd, divide each count so the WDD is per unit time / area; variances divide by the square.
    """
    buffer_given = [v is not None for v in (b0, b1, bc0, bc1)]
    if any(buffer_given) and not all(buffer_given):
        raise ValueError("give all of b0, b1, bc0, bc1 or none of them")
    _check_counts(a0=a0, a1=a1, c0=c0, c1=c1, b0=b0, b1=b1, bc0=bc0, bc1=bc1)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tw_pre, tw_post = (float(w) for w in time_weights)
    aw_c, aw_a, aw_bc, aw_b = (float(w) for w in area_weights)
    if min(tw_pre, tw_post, aw_c, aw_a, aw_bc, aw_b) <= 0:
        raise ValueError("time and area weights must be > 0")

    d_a, v_a = _weighted_diff(a0, a1, tw_pre * aw_a, tw_post * aw_a)
    d_c, v_c = _weighted_diff(c0, c1, tw_pre * aw_c, tw_post * aw_c)
    local, var_local = d_a - d_c, v_a + v_c
    disp, var_disp = 0.0, 0.0
    if all(buffer_given):
        d_b, v_b = _weighted_diff(b0, b1, tw_pre * aw_b, tw_post * aw_b)
        d_bc, v_bc = _weighted_diff(bc0, bc1, tw_pre * aw_bc, tw_post * aw_bc)
        disp, var_disp = d_b - d_bc, v_b + v_bc
    total, var_total = local + disp, var_local + var_disp
    se = math.sqrt(var_total)
    z_crit = float(stats.norm.ppf(0.5 + confidence / 2))
    z = total / se if se > 0 else math.nan
    p = float(2 * stats.norm.sf(abs(z))) if se > 0 else math.nan
    return WDDResult(
        wdd=total, std_error=se, ci_low=total - z_crit * se, ci_high=total + z_crit * se, z=z, p_value=p,
        wdd_local=local, se_local=math.sqrt(var_local), wdd_displacement=disp, se_displacement=math.sqrt(var_disp),
    )
