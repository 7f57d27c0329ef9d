"""Seeded area x week panel simulator with switchable planted effects, for back-testing the statistics.

The data-generating process mirrors the demo world (docs/demo_world.md) at area-week grain:

- ``presence_hours`` (patrol officer-hours per area-week) varies week to week around an area level;
  Impact Areas get ``presence_uplift`` times more presence from their designation week on.
- expected crime-type calls ``mu = base_i x season_t x (1 + presence_hours) ** presence_elasticity
  x exp(did_log_effect x post)``; calls are negative binomial (gamma-Poisson, variance
  ``mu + overdispersion x mu**2``).
- calls prevented relative to no presence and no designation, ``mu_no_effect - mu``, re-appear in the
  area's 0-250 m and 250-500 m rings with ``displaced_share_250`` and ``displaced_share_500``.
- each call becomes a recorded crime with probability ``call_to_crime_share`` (binomial thinning);
  ``other_crimes`` (not from calls) are added so recorded crime is not a pure function of calls.

Every effect is a parameter; :meth:`PanelSimParams.effects_off` switches them all to zero. The panel
carries the expected means so tests can compute the exact planted value of each estimand.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["PanelSimParams", "simulate_panel", "planted_did_log_effect"]


@dataclass(frozen=True)
class PanelSimParams:
    """Parameters of the simulated panel (counts per area-week; presence in officer-hours per week)."""

    n_impact: int = 19
    n_comparison: int = 20
    n_weeks: int = 52
    designation_weeks: tuple[int, ...] | None = None  # per Impact Area; None = staggered default
    first_designation_week: int = 14  # used when designation_weeks is None
    last_designation_week: int = 34
    base_calls_per_week: float = 20.0  # busiest-area level before presence effects
    area_sd: float = 0.4  # sd of log area levels
    season_amplitude: float = 0.15  # annual sine on log scale
    week_sd: float = 0.05  # iid week shocks on log scale (common to all areas)
    presence_hours_mean: float = 6.0  # patrol officer-hours per area-week (comparison areas)
    impact_presence_ratio: float = 1.5  # Impact Areas' presence level relative to comparison areas
    presence_sd: float = 0.5  # sd of log presence week to week within an area
    presence_uplift: float = 1.0  # multiplier on Impact Area presence after designation (1 = none)
    presence_elasticity: float = -0.3  # d log calls / d log(1 + presence_hours)
    did_log_effect: float = -0.2  # direct effect of designation on log expected calls (IA only)
    displaced_share_250: float = 0.25
    displaced_share_500: float = 0.10
    ring_250_base_ratio: float = 0.5  # ring 0-250 m baseline calls relative to its area
    ring_500_base_ratio: float = 0.8
    call_to_crime_share: float = 0.35
    other_crimes_per_week: float = 2.0  # recorded crimes not arising from calls (Poisson mean)
    overdispersion: float = 0.05  # NB2 alpha of calls; 0 = Poisson

    def effects_off(self) -> "PanelSimParams":
        """The same world with every planted effect switched off (presence, DiD, displacement, calls->crime)."""
        return dataclasses.replace(
            self,
            presence_elasticity=0.0,
            did_log_effect=0.0,
            presence_uplift=1.0,
            displaced_share_250=0.0,
            displaced_share_500=0.0,
            call_to_crime_share=0.0,
        )

    def staggered_weeks(self) -> tuple[int, ...]:
        """Designation week (0-based index) of each Impact Area: evenly spread between first and last."""
        if self.designation_weeks is not None:
            if len(self.designation_weeks) != self.n_impact:
                raise ValueError(
                    f"designation_weeks has {len(self.designation_weeks)} entries for {self.n_impact} Impact Areas"
                )
            return tuple(int(w) for w in self.designation_weeks)
        weeks = np.linspace(self.first_designation_week, self.last_designation_week, self.n_impact)
        return tuple(int(round(w)) for w in weeks)


def _nb_draw(rng: np.random.Generator, mu: np.ndarray, alpha: float) -> np.ndarray:
    """Negative binomial (NB2) counts with mean mu and variance mu + alpha mu^2 (Poisson if alpha = 0)."""
    if alpha <= 0:
        return rng.poisson(mu)
    frailty = rng.gamma(shape=1.0 / alpha, scale=alpha, size=mu.shape)
    return rng.poisson(mu * frailty)


def simulate_panel(params: PanelSimParams | None = None, seed: int = 0) -> pd.DataFrame:
    """Simulate one area x week panel.

    Returns one row per area and week with columns: ``area_id`` (str), ``area_type`` ("impact" or
    "comparison"), ``week`` (int, 0-based), ``first_treated`` (designation week, NaN for comparison
    areas), ``post`` (1 from the designation week on), ``presence_hours`` (officer-hours in the week),
    ``log1p_presence``, ``calls``, ``crimes``, ``crimes_from_calls``, ``ring_250_calls``,
    ``ring_500_calls``, and the expected values ``mu_calls`` (as simulated), ``mu_calls_untreated``
    (same presence path without designation effects) and ``mu_calls_no_effect`` (no presence, no
    designation). The parameters are stored in ``df.attrs["params"]``.
    """
    p = params or PanelSimParams()
    if p.n_impact < 1 or p.n_comparison < 1 or p.n_weeks < 4:
        raise ValueError("need at least one Impact Area, one comparison area and four weeks")
    rng = np.random.default_rng(seed)
    n_areas = p.n_impact + p.n_comparison
    weeks = np.arange(p.n_weeks)
    is_impact = np.r_[np.ones(p.n_impact, bool), np.zeros(p.n_comparison, bool)]
    designation = np.full(n_areas, np.nan)
    designation[: p.n_impact] = p.staggered_weeks()
    if np.nanmax(designation) >= p.n_weeks:
        raise ValueError("a designation week falls after the last simulated week")

    log_area = np.log(p.base_calls_per_week) - np.abs(rng.normal(0.0, p.area_sd, n_areas))
    log_week = p.season_amplitude * np.sin(2 * np.pi * weeks / 52.0) + rng.normal(0.0, p.week_sd, p.n_weeks)
    presence_level = p.presence_hours_mean * np.where(is_impact, p.impact_presence_ratio, 1.0)

    area_idx = np.repeat(np.arange(n_areas), p.n_weeks)
    week_idx = np.tile(weeks, n_areas)
    first = designation[area_idx]
    post = (week_idx >= np.where(np.isnan(first), np.inf, first)).astype(int)

    presence_base = presence_level[area_idx] * np.exp(rng.normal(0.0, p.presence_sd, area_idx.size))
    presence = presence_base * np.where(post == 1, p.presence_uplift, 1.0)

    base_mu = np.exp(log_area[area_idx] + log_week[week_idx])
    mu_no_effect = base_mu
    mu_untreated = base_mu * (1.0 + presence_base) ** p.presence_elasticity
    mu = base_mu * (1.0 + presence) ** p.presence_elasticity * np.exp(p.did_log_effect * post)

    calls = _nb_draw(rng, mu, p.overdispersion)
    prevented = mu_no_effect - mu  # expected calls prevented by presence and designation
    ring_250_mu = np.clip(p.ring_250_base_ratio * base_mu + p.displaced_share_250 * prevented, 1e-9, None)
    ring_500_mu = np.clip(p.ring_500_base_ratio * base_mu + p.displaced_share_500 * prevented, 1e-9, None)
    ring_250 = _nb_draw(rng, ring_250_mu, p.overdispersion)
    ring_500 = _nb_draw(rng, ring_500_mu, p.overdispersion)
    crimes_from_calls = rng.binomial(calls, p.call_to_crime_share)
    other = rng.poisson(np.full(area_idx.size, p.other_crimes_per_week))

    area_ids = np.array(
        [f"IA{i + 1:02d}" for i in range(p.n_impact)] + [f"CA{i + 1:02d}" for i in range(p.n_comparison)]
    )
    df = pd.DataFrame(
        {
            "area_id": area_ids[area_idx],
            "area_type": np.where(is_impact[area_idx], "impact", "comparison"),
            "week": week_idx,
            "first_treated": designation[area_idx],
            "post": post,
            "presence_hours": presence,
            "log1p_presence": np.log1p(presence),
            "calls": calls,
            "crimes": crimes_from_calls + other,
            "crimes_from_calls": crimes_from_calls,
            "ring_250_calls": ring_250,
            "ring_500_calls": ring_500,
            "mu_calls": mu,
            "mu_calls_untreated": mu_untreated,
            "mu_calls_no_effect": mu_no_effect,
        }
    )
    df.attrs["params"] = dataclasses.asdict(p)
    return df


def planted_did_log_effect(panel: pd.DataFrame) -> float:
    """The planted average effect of designation on log expected calls over treated post weeks:
    mean of log(mu_calls / mu_calls_untreated) where post = 1 (equals did_log_effect when there is
    no presence uplift)."""
    treated = panel[panel["post"] == 1]
    if treated.empty:
        return float("nan")
    return float(np.mean(np.log(treated["mu_calls"] / treated["mu_calls_untreated"])))
