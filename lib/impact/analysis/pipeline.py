"""Analysis job (the I/O edge): read the marts, build panels in Spark, collect them, fit the statistics
on the driver (`impact.analysis.displacement / models / correlation`), write one Delta table per result
family and the HTML report. See docs/analysis.md for every method.

A run for dates D1..D2 analyses local dates D1..D2 and owns the rows of each `analysis_*` table whose
`window_start, window_end` are D1, D2 (Delta replaceWhere), so re-running a window replaces its results
and other windows stay. No row names or ranks an officer: officer ids are only counted, and resource
cells with fewer than `suppression_min_officers` officers are suppressed.
"""
from __future__ import annotations

import csv
import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import AtomicType, BooleanType, DateType, DoubleType, IntegerType, LongType, StringType

from impact.analysis import panels as P
from impact.analysis.privacy import load_key, suppress_small_cells
from impact.config import ConfigError, Settings, load_yaml
from impact.runlog import logged_stage
from impact.schemas import table_schema
from impact.tables import read_table, replace_predicate, table_exists, write_table

log = logging.getLogger(__name__)

RESULT_TABLES = ("analysis_baselines", "analysis_activity", "analysis_events", "analysis_alignment",
                 "analysis_models", "analysis_displacement", "analysis_calls_crime", "analysis_data_quality")
MODE_ACCURACY = ("mode measured on labelled real traces at radio cadence (docs/visits.md, evaluation users): foot "
                 "right for about 97% of walking time, vehicle for about 80% of car/taxi/bus time (64-68% on a city "
                 "bus); about 1 in 5 foot minutes is really slow vehicle time, vehicle minutes are about 97% right")


@dataclass(frozen=True)
class AnalysisConf:
    """conf/analysis.yaml, parsed."""

    designation_dates: str | None
    key_crime_types: list[str]
    offence_classes: dict[str, list[str]]
    call_categories: dict[str, list[str]]
    role_groups: dict[str, list[str]]
    reactive_role_groups: list[str] = field(default_factory=lambda: ["response"])
    suppression_min_officers: int = 5
    confidence: float = 0.95
    did_pre: int = 4
    did_post: int = 4
    did_family: str = "poisson"
    families: list[str] = field(default_factory=lambda: ["poisson", "negbin"])
    displacement_outcome: str = "crimes"
    lags: int = 4
    shift_break_minutes: float = 120.0
    gap_minutes: float = 10.0
    wide_dwell_minutes: float = 10.0
    key_env: str = "IMPACT_PSEUDONYM_KEY"
    key_file: str | None = None
    report_folder: str = "_reports"
    folder: Path = Path("conf")


def load_analysis_conf(settings: Settings) -> AnalysisConf:
    """conf/analysis.yaml beside the environment config -> AnalysisConf (clear error on a bad value)."""
    folder = Path(settings.conf_path).parent
    raw = load_yaml(folder / "analysis.yaml")
    did, dq, priv = raw.get("did") or {}, raw.get("data_quality") or {}, raw.get("privacy") or {}
    types = raw.get("key_crime_types") or {}
    if not isinstance(types, dict) or not types:
        raise ConfigError("analysis.yaml key_crime_types must map each type to offence_classes and call_categories")
    conf = AnalysisConf(
        designation_dates=raw.get("designation_dates"),
        key_crime_types=[str(t) for t in types],
        offence_classes={str(t): [str(v) for v in (spec or {}).get("offence_classes") or []] for t, spec in types.items()},
        call_categories={str(t): [str(v) for v in (spec or {}).get("call_categories") or []] for t, spec in types.items()},
        role_groups={str(k): [str(r) for r in v] for k, v in (raw.get("role_groups") or {}).items()},
        reactive_role_groups=[str(g) for g in raw.get("reactive_role_groups", ["response"]) or []],
        suppression_min_officers=int(raw.get("suppression_min_officers", 5)),
        confidence=float(raw.get("confidence", 0.95)),
        did_pre=int(did.get("pre_weeks", 4)), did_post=int(did.get("post_weeks", 4)),
        did_family=str(did.get("family", "poisson")),
        families=[str(f) for f in (raw.get("models") or {}).get("families", ["poisson", "negbin"])],
        displacement_outcome=str((raw.get("displacement") or {}).get("outcome", "crimes")),
        lags=int(raw.get("cross_correlation_lags", 4)),
        shift_break_minutes=float(dq.get("shift_break_minutes", 120)), gap_minutes=float(dq.get("gap_minutes", 10)),
        wide_dwell_minutes=float(dq.get("wide_dwell_minutes", 10)),
        key_env=str(priv.get("key_env") or "IMPACT_PSEUDONYM_KEY"), key_file=priv.get("key_file"),
        report_folder=str((raw.get("report") or {}).get("folder", "_reports")), folder=folder)
    if not 0 < conf.confidence < 1:
        raise ConfigError(f"analysis.yaml confidence {conf.confidence} must be between 0 and 1")
    if conf.suppression_min_officers < 1:
        raise ConfigError("analysis.yaml suppression_min_officers must be at least 1")
    unknown_groups = set(conf.reactive_role_groups) - set(conf.role_groups)
    if unknown_groups:
        raise ConfigError(f"analysis.yaml reactive_role_groups {sorted(unknown_groups)} are not role_groups {sorted(conf.role_groups)}")
    if conf.displacement_outcome not in P.EVENT_SUMS:
        raise ConfigError(f"analysis.yaml displacement.outcome must be one of {P.EVENT_SUMS}")
    unknown = set(conf.families) - {"poisson", "negbin"}
    if unknown:
        raise ConfigError(f"analysis.yaml models.families: unknown {sorted(unknown)} (poisson, negbin)")
    return conf


def read_designation_csv(path: Path) -> pd.DataFrame:
    """A designation-dates CSV (columns area_id, designated_from as YYYY-MM-DD) -> DataFrame; bad rows
    are a ValueError naming the line (never silently dropped)."""
    if not path.is_file():
        raise ConfigError(f"designation dates file {path} not found")
    rows = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"area_id", "designated_from"} <= set(reader.fieldnames or []):
            raise ConfigError(f"{path}: needs columns area_id,designated_from (has {reader.fieldnames})")
        for n, row in enumerate(reader, start=2):
            try:
                rows.append({"area_id": row["area_id"].strip(), "designated_from": date.fromisoformat(row["designated_from"].strip())})
            except ValueError as error:
                raise ConfigError(f"{path} line {n}: bad designated_from {row['designated_from']!r}: {error}") from error
    return pd.DataFrame(rows, columns=["area_id", "designated_from"])


# --------------------------------------------------------------------------------------------- output

_SPARK_TYPES = {"string": StringType(), "double": DoubleType(), "bigint": LongType(), "int": IntegerType(),
                "boolean": BooleanType(), "date": DateType()}


def _cell(value: Any, kind: str) -> Any:
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):      # None, NaN, NaT and pandas' NA
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if kind == "double":
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if kind in ("bigint", "int"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind == "date":
        return value if isinstance(value, date) and not isinstance(value, datetime) else pd.Timestamp(value).date()
    return str(value)


def to_spark(spark: SparkSession, frame: pd.DataFrame, table: str) -> DataFrame:
    """A result frame -> Spark DataFrame in the table's schema order and types (NaN/inf -> null)."""
    from pyspark.sql.types import StructField, StructType

    schema = table_schema(table)
    missing = [c for c in schema.names if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: result frame lacks columns {missing}")
    kinds = [c.type for c in schema.columns]
    rows = [[_cell(v, k) for v, k in zip(rec, kinds)] for rec in frame[schema.names].itertuples(index=False, name=None)]
    struct = StructType([StructField(c.name, _SPARK_TYPES[c.type], True) for c in schema.columns])
    return spark.createDataFrame(rows, struct)


def _stamp(frame: pd.DataFrame, start: date, end: date, run_id: str, method: str | None = None) -> pd.DataFrame:
    out = frame.copy()
    out["window_start"], out["window_end"], out["analysis_run_id"] = start, end, run_id
    if method is not None:
        out["method"] = method
    return out


# --------------------------------------------------------------------------------------------- families

def _weeks(start: date, end: date) -> float:
    return ((end - start).days + 1) / 7.0


def baselines(zone_week: pd.DataFrame, dim: pd.DataFrame, resources: pd.DataFrame, how: pd.DataFrame,
              on_duty_minutes: float, start: date, end: date, threshold: int) -> pd.DataFrame:
    """Family 1: presence per zone, per group, per resource breakdown, per hour of week; location shares."""
    weeks = _weeks(start, end)
    km2 = dim.set_index("zone_id")["zone_m2"] / 1e6
    z = zone_week.groupby(["zone_id", "area_id", "zone_type", "area_status"], as_index=False)[["officer_minutes", "patrol_minutes"]].sum()
    z["zone_km2"] = z["zone_id"].map(km2)
    z["breakdown"], z["group_key"], z["officers"], z["suppressed"] = "zone", z["zone_id"], np.nan, False
    g = z.groupby(["area_status", "zone_type"], as_index=False)[["officer_minutes", "patrol_minutes", "zone_km2"]].sum()
    g["breakdown"], g["group_key"], g["area_id"], g["officers"], g["suppressed"] = "status", g["area_status"], None, np.nan, False
    rows = [z, g]
    res = resources.merge(dim[["zone_id", "area_status", "zone_type"]], on="zone_id", how="left")
    for column in ("department", "npu", "role"):
        # officers are distinct per zone row; a group's count is the largest zone's count (a lower bound)
        r = res.groupby(["area_status", "zone_type", column], as_index=False).agg(
            officer_minutes=("officer_minutes", "sum"), patrol_minutes=("patrolling_officer_minutes", "sum"),
            officers=("officers", "max"))
        r = suppress_small_cells(r, "officers", ["officer_minutes", "patrol_minutes"], threshold)
        r["breakdown"], r["group_key"], r["area_id"], r["zone_km2"] = column, r[column], None, np.nan
        rows.append(r)
    h = how.merge(dim[["zone_id", "area_status", "zone_type"]], on="zone_id", how="left")
    h = h.groupby(["area_status", "zone_type", "hour_of_week"], as_index=False)[["officer_minutes", "patrol_minutes"]].sum()
    h["breakdown"], h["group_key"], h["area_id"], h["officers"], h["suppressed"], h["zone_km2"] = (
        "hour_of_week", h["hour_of_week"].astype(str), None, np.nan, False, np.nan)
    rows.append(h)
    loc = z.groupby(["area_status", "zone_type"])["officer_minutes"].sum()
    in_zones = float(loc.sum())
    shares = [{"area_status": s, "zone_type": t, "officer_minutes": float(v)} for (s, t), v in loc.items()]
    shares.append({"area_status": "none", "zone_type": "elsewhere", "officer_minutes": max(on_duty_minutes - in_zones, 0.0)})
    s = pd.DataFrame(shares)
    s["share_of_presence"] = s["officer_minutes"] / max(on_duty_minutes, in_zones, 1e-9)
    s["breakdown"], s["group_key"], s["area_id"], s["officers"], s["suppressed"] = "location_share", s["zone_type"], None, np.nan, False
    s["patrol_minutes"], s["zone_km2"] = np.nan, np.nan
    rows.append(s)
    out = pd.concat(rows, ignore_index=True)
    out["weeks"] = weeks
    out["officer_minutes_per_week"] = out["officer_minutes"] / weeks
    out["patrol_minutes_per_week"] = out["patrol_minutes"] / weeks
    out["officer_minutes_per_km2_week"] = out["officer_minutes_per_week"] / out["zone_km2"]
    if "share_of_presence" not in out:
        out["share_of_presence"] = np.nan
    out["method"] = "sum of fact_presence_hour(_unit) officer-minutes; on-duty time from ping spans (location_share)"
    return out


def activity(resources: pd.DataFrame, dim: pd.DataFrame, role_groups: dict[str, list[str]], threshold: int) -> pd.DataFrame:
    """Family 2: what officers did in each zone type, by resource type and mode, with the mode's accuracy."""
    res = resources.merge(dim[["zone_id", "area_status", "zone_type"]], on="zone_id", how="left")
    lookup = {r: g for g, roles in role_groups.items() for r in roles}
    res["resource_type"] = res["role"].map(lambda r: lookup.get(r, "other"))
    sums = ["officer_minutes", "responding_officer_minutes", "patrolling_officer_minutes", "transit_officer_minutes",
            "visits", "incidents_attended", "searches_conducted", "crimes_recorded"]
    frames = []
    for mode_split in (False, True):
        keys = ["area_status", "zone_type", "resource_type"] + (["mode"] if mode_split else [])
        a = res.groupby(keys, as_index=False).agg(**{c: (c, "sum") for c in sums}, officers=("officers", "max"))
        if not mode_split:
            a["mode"] = "all"
        total = a.groupby(["area_status", "zone_type", "resource_type"])["officer_minutes"].transform("sum")
        a["mode_share"] = a["officer_minutes"] / total.where(total > 0)
        frames.append(a)
    out = pd.concat(frames, ignore_index=True)
    out = suppress_small_cells(out, "officers", sums + ["mode_share"], threshold)
    out["mode_accuracy"] = MODE_ACCURACY
    out["method"] = "sums of fact_presence_hour_unit minutes and fact_visit activity counts; officers distinct per zone (max)"
    return out


def events_family(ev: pd.DataFrame, crimes_type: pd.DataFrame, incidents: pd.DataFrame, searches: pd.DataFrame,
                  how: pd.DataFrame, dim: pd.DataFrame, designation: pd.DataFrame, alignment: Callable) -> pd.DataFrame:
    """Family 3: crimes by type and harm, incidents by priority and category, searches by legislation,
    object, outcome and find rate, per zone type and period; search-vs-crime alignment by hour of week."""
    zone = dim[["zone_id", "area_id", "area_status", "zone_type"]]
    rows = []

    def add(frame: pd.DataFrame, measure: str, group: str | None, value: str, event_type: str) -> None:
        f = frame.merge(zone, on="zone_id", how="left")
        keys = ["area_status", "zone_type", "period"] + ([group] if group else [])
        a = f.groupby(keys, as_index=False)[value].sum()
        a["group_key"] = a[group].astype(str) if group else "all"
        a["value"], a["n"], a["measure"], a["event_type"], a["area_id"] = a[value], a[value], measure, event_type, None
        rows.append(a[["area_status", "zone_type", "area_id", "period", "event_type", "measure", "group_key", "value", "n"]])

    for frame, measure, group, value, kind in (
            (crimes_type, "crimes_by_type", "crime_type", "crimes", "crime"),
            (ev, "crime_harm", None, "crime_harm", "crime"),
            (ev, "crimes", None, "crimes", "crime"),
            (incidents, "incidents_by_priority", "priority", "incidents", "incident"),
            (incidents, "incidents_by_category", "category", "incidents", "incident"),
            (searches, "searches_by_legislation", "legislation", "searches", "search"),
            (searches, "searches_by_object", "object", "searches", "search"),
            (searches, "searches_by_outcome", "outcome", "searches", "search")):
        add(frame, measure, group, value, kind)
    s = searches.merge(zone, on="zone_id", how="left").groupby(["area_status", "zone_type", "period"], as_index=False)[["searches", "finds"]].sum()
    s["value"] = s["finds"] / s["searches"].where(s["searches"] > 0)
    s["n"], s["measure"], s["event_type"], s["group_key"], s["area_id"] = s["searches"], "search_find_rate", "search", "all", None
    rows.append(s[["area_status", "zone_type", "area_id", "period", "event_type", "measure", "group_key", "value", "n"]])
    # searches vs crime by hour of week, per area
    for zone_id, g in how.merge(zone, on="zone_id").query("zone_type == 'area'").groupby("zone_id"):
        full = g.set_index("hour_of_week").reindex(range(168), fill_value=0)
        info = zone.set_index("zone_id").loc[zone_id]
        if full["searches"].sum() == 0 or full["crimes"].sum() == 0:
            continue
        res = alignment(full["searches"].astype(float), full["crimes"].astype(float))
        for measure, value in (("search_crime_hour_spearman", res["spearman_rho"]),
                               ("share_searches_in_top_half_crime_hours", res["share_presence_in_top_half_demand"])):
            rows.append(pd.DataFrame([{"area_status": info["area_status"], "zone_type": "area", "area_id": info["area_id"],
                                       "period": "window", "event_type": "search", "measure": measure, "group_key": "all",
                                       "value": value, "n": float(full["searches"].sum())}]))
    out = pd.concat(rows, ignore_index=True)
    out["method"] = "counts of fact_event (exact-time rows); alignment: impact.analysis.correlation.profile_alignment"
    return out


def alignment_family(how: pd.DataFrame, dim: pd.DataFrame, alignment: Callable, confidence: float) -> pd.DataFrame:
    """Family 4: per area, presence (officer-minutes) vs demand (harm-weighted crime + incidents) by hour
    of week; group rows give the mean over areas with a t interval."""
    from scipy import stats

    zone = dim[["zone_id", "area_id", "area_status", "zone_type"]]
    rows = []
    for zone_id, g in how.merge(zone, on="zone_id").query("zone_type == 'area'").groupby("zone_id"):
        full = g.set_index("hour_of_week").reindex(range(168), fill_value=0)
        demand = full["crime_harm"].astype(float) + full["incidents"].astype(float)
        if demand.sum() == 0:
            continue
        res = alignment(full["officer_minutes"].astype(float), demand)
        info = zone.set_index("zone_id").loc[zone_id]
        rows.append({"scope": "area", "area_id": info["area_id"], "area_status": info["area_status"], **res})
    per = pd.DataFrame(rows)
    groups = []
    for status, g in per.groupby("area_status"):
        for measure in ("spearman_rho", "share_presence_in_top_half_demand"):
            vals = g[measure].dropna()
            n = len(vals)
            half = stats.t.ppf(0.5 + confidence / 2, n - 1) * vals.std(ddof=1) / math.sqrt(n) if n > 1 else np.nan
            groups.append({"scope": f"group_mean:{measure}", "area_id": None, "area_status": status, "n_hours": n,
                           "spearman_rho" if measure == "spearman_rho" else "share_presence_in_top_half_demand": vals.mean(),
                           "spearman_ci_low" if measure == "spearman_rho" else "share_ci_low": vals.mean() - half,
                           "spearman_ci_high" if measure == "spearman_rho" else "share_ci_high": vals.mean() + half})
    out = pd.concat([per, pd.DataFrame(groups)], ignore_index=True)
    for c in ("share_ci_low", "share_ci_high", "share_hours_top_half"):
        if c not in out:
            out[c] = np.nan
    out["method"] = ("profile_alignment: Spearman rank correlation of officer-minutes with harm-weighted crime + incidents "
                     "over the 168 hours of the week; group rows: mean over areas, t interval (n = areas)")
    return out


def _model_rows(frame: pd.DataFrame, model: str, outcome: str, subset: str) -> pd.DataFrame:
    out = frame.copy()
    out["model"], out["outcome"], out["subset"] = model, outcome, subset
    for c in ("event_time", "ci_low", "ci_high", "n_units", "family", "note", "method"):
        if c not in out:
            out[c] = None
    return out


def _failed(model: str, outcome: str, subset: str, error: Exception) -> pd.DataFrame:
    log.warning("model %s / %s / %s failed: %s", model, outcome, subset, error)
    return pd.DataFrame([{"model": model, "outcome": outcome, "subset": subset, "term": None, "note": f"not estimated: {error}",
                          "method": model}])


def models_family(day: pd.DataFrame, week: pd.DataFrame, type_week: pd.DataFrame, role_week: pd.DataFrame,
                  conf: AnalysisConf) -> pd.DataFrame:
    """Family 5: Poisson / negative binomial with area and time fixed effects (clustered by area), crime on
    same-period and lagged patrol presence, by crime type and resource type; staggered DiD event study."""
    from impact.analysis.models import count_panel_model, staggered_did

    out = []

    def fit(name: str, outcome: str, subset: str, f: Callable[[], pd.DataFrame]) -> None:
        try:
            out.append(_model_rows(f(), name, outcome, subset))
        except Exception as error:  # a model that cannot be fitted is reported, not hidden
            out.append(_failed(name, outcome, subset, error))

    # presence = proactive patrolling officer-hours (roles outside `reactive_role_groups`): response time in
    # an area follows its crime (reverse causality), so it is left out of the presence regressor; the
    # all-roles model is shown beside it for comparison (docs/analysis.md)
    areas_day = day[day["zone_type"] == "area"].copy()
    areas_day["log_patrol_hours"] = np.log1p(areas_day["proactive_patrolling_minutes"] / 60.0)
    areas_day["log_patrol_hours_all_roles"] = np.log1p(areas_day["patrolling_officer_minutes"] / 60.0)
    areas_day["t"] = (pd.to_datetime(areas_day["local_date"]) - pd.to_datetime(areas_day["local_date"]).min()).dt.days
    wk = week[week["zone_type"] == "area"].copy().sort_values(["zone_id", "week_index"])
    wk["log_patrol_hours"] = np.log1p(wk["proactive_patrolling_minutes"] / 60.0 / wk["days"])
    wk["log_patrol_hours_lag1"] = wk.groupby("zone_id")["log_patrol_hours"].shift(1)
    for family in conf.families:
        for outcome in ("crimes", "crime_calls"):
            fit(f"presence_day_{family}", outcome, "all", lambda family=family, outcome=outcome: count_panel_model(
                areas_day, outcome, ["log_patrol_hours"], "zone_id", "t", family=family))
        fit(f"presence_week_{family}", "crimes", "all", lambda family=family: count_panel_model(
            wk.dropna(subset=["log_patrol_hours_lag1"]), "crimes", ["log_patrol_hours", "log_patrol_hours_lag1"],
            "zone_id", "week_index", family=family, exposure="days"))
    fit("presence_day_poisson_all_roles", "crimes", "all roles (response included: biased)", lambda: count_panel_model(
        areas_day, "crimes", ["log_patrol_hours_all_roles"], "zone_id", "t", family="poisson"))
    tw = type_week.merge(wk[["zone_id", "week_start", "week_index", "days", "log_patrol_hours"]], on=["zone_id", "week_start"], how="right")
    for crime_type in conf.key_crime_types:
        sub = wk[["zone_id", "week_start", "week_index", "days", "log_patrol_hours"]].merge(
            type_week[type_week["crime_type"] == crime_type][["zone_id", "week_start", "crimes"]],
            on=["zone_id", "week_start"], how="left").fillna({"crimes": 0})
        fit("presence_week_by_crime_type_poisson", "crimes", f"crime_type={crime_type}", lambda sub=sub: count_panel_model(
            sub, "crimes", ["log_patrol_hours"], "zone_id", "week_index", family="poisson", exposure="days"))
    del tw
    rw = role_week.pivot_table(index=["zone_id", "week_start"], columns="role_group", values="patrolling_officer_minutes",
                               aggfunc="sum", fill_value=0.0)
    rw.columns = [f"log_patrol_hours_{c}" for c in rw.columns]
    rsub = wk[["zone_id", "week_start", "week_index", "days", "crimes"]].merge(rw.reset_index(), on=["zone_id", "week_start"], how="left").fillna(0.0)
    regs = [c for c in rsub.columns if c.startswith("log_patrol_hours_")]
    for c in regs:
        rsub[c] = np.log1p(rsub[c] / 60.0 / rsub["days"])
    regs = [c for c in regs if rsub[c].std() > 0]
    fit("presence_week_by_resource_poisson", "crimes", "resource types", lambda: count_panel_model(
        rsub, "crimes", regs, "zone_id", "week_index", family="poisson", exposure="days"))
    pre, post = did_window(wk["first_treated_week"], int(wk["week_index"].max()) + 1, conf.did_pre, conf.did_post)
    for outcome in ("crimes", "patrolling_officer_minutes"):
        fit("staggered_did", outcome, "areas", lambda outcome=outcome: staggered_did(
            wk, outcome, "zone_id", "week_index", "first_treated_week", pre=pre, post=post, confidence=conf.confidence))
    frame = pd.concat(out, ignore_index=True)
    frame["method"] = frame["method"].fillna(frame["model"])
    return frame


def did_window(first_treated: pd.Series, n_weeks: int, pre: int, post: int) -> tuple[int, int]:
    """The event-study window the data allow: the imputation estimator needs, for a treated cohort,
    reference weeks before event time -pre, so pre is at most (earliest cohort's first week - 1) to keep every cohort; post is
    at most the weeks after the earliest cohort. Never below 1 / 0; logged when narrowed."""
    firsts = first_treated.dropna()
    if firsts.empty:
        return pre, post
    pre_eff = max(1, min(pre, int(firsts.min()) - 1))
    post_eff = max(0, min(post, n_weeks - 1 - int(firsts.min())))
    if (pre_eff, post_eff) != (pre, post):
        log.info("event study narrowed to %d week(s) before and %d after designation (window of %d weeks)", pre_eff, post_eff, n_weeks)
    return pre_eff, post_eff


def displacement_family(week: pd.DataFrame, designation: pd.DataFrame, outcome: str, confidence: float) -> pd.DataFrame:
    """Family 6: per IA and overall, WDQ and WDD with the 0-250 m and 250-500 m rings as buffers and the
    comparison areas (and their rings) as control, over each IA's own before / after weeks; the WDD is per
    week and per area (time weights: weeks; control area weight: number of comparison areas). Plus the
    ring x post regression."""
    from impact.analysis.displacement import wdd, wdq
    from impact.analysis.models import count_panel_model

    comp = week[week["area_status"] == "comparison"]
    n_comp = max(comp[comp["zone_type"] == "area"]["zone_id"].nunique(), 1)
    rows, totals = [], {}
    for _, ia in designation[designation["area_status"] == "impact"].dropna(subset=["designated_from"]).iterrows():
        d = pd.Timestamp(ia["designated_from"])
        starts = pd.to_datetime(week["week_start"])
        before_weeks = week.loc[starts + pd.Timedelta(days=6) < d, "week_start"].unique()
        after_weeks = week.loc[starts >= d, "week_start"].unique()
        if len(before_weeks) == 0 or len(after_weeks) == 0:
            log.warning("%s designated %s: no whole week before or after it in the window; no WDQ/WDD", ia["area_id"], d.date())
            continue

        def split(frame: pd.DataFrame, zone_type: str) -> tuple[float, float]:
            f = frame[frame["zone_type"] == zone_type]
            return float(f[f["week_start"].isin(before_weeks)][outcome].sum()), float(f[f["week_start"].isin(after_weeks)][outcome].sum())

        own = week[week["area_id"] == ia["area_id"]]
        a0, a1 = split(own, "area")
        c0, c1 = split(comp, "area")
        for ring in ("ring_0_250", "ring_250_500"):
            b0, b1 = split(own, ring)
            bc0, bc1 = split(comp, ring)
            vals = np.array([a0, a1, b0, b1, c0, c1, bc0, bc1, len(before_weeks), len(after_weeks)], float)
            totals[ring] = totals.get(ring, 0) + vals
            rows.append(_disp_row(ia["area_id"], ring, vals, n_comp, outcome, ia["designated_from"], wdq, wdd, confidence))
    for ring, tot in totals.items():
        rows.append(_disp_row("overall", ring, tot, n_comp, outcome, None, wdq, wdd, confidence))
    out = pd.DataFrame(rows)
    # regression: every zone x week, zone and week fixed effects; IA area / ring x post terms
    panel = week.copy()
    terms = []
    for zt in ("area", "ring_0_250", "ring_250_500"):
        name = f"post_x_{zt}"
        panel[name] = ((panel["area_status"] == "impact") & (panel["zone_type"] == zt) & (panel["post"] == 1)).astype(int)
        terms.append(name)
    try:
        fit = count_panel_model(panel, outcome, terms, "zone_id", "week_index", family="poisson", exposure="days",
                                cluster="area_id", confidence=confidence)
        reg = pd.DataFrame({"scope": "overall", "buffer_zone": fit["term"].str.removeprefix("post_x_"), "measure": "regression",
                            "outcome": outcome, "estimate": fit["estimate"], "std_error": fit["std_error"], "p_value": fit["p_value"],
                            "irr": fit["irr"], "irr_ci_low": fit["irr_ci_low"], "irr_ci_high": fit["irr_ci_high"],
                            "method": "count_panel_model (" + fit["method"] + "): zone + week fixed effects, post x zone type of Impact Areas"})
        out = pd.concat([out, reg], ignore_index=True)
    except Exception as error:  # reported in the table, not hidden
        log.warning("displacement regression failed: %s", error)
        out = pd.concat([out, pd.DataFrame([{"scope": "overall", "measure": "regression", "outcome": outcome,
                                             "method": f"not estimated: {error}"}])], ignore_index=True)
    return out


def _disp_row(scope, ring, vals, n_comp, outcome, designated_from, wdq, wdd, confidence) -> dict:
    a0, a1, b0, b1, c0, c1, bc0, bc1, w0, w1 = (float(v) for v in vals)
    row = {"scope": scope, "buffer_zone": ring, "measure": "wdq_wdd", "outcome": outcome, "designated_from": designated_from,
           "a0": a0, "a1": a1, "b0": b0, "b1": b1, "c0": c0, "c1": c1, "bc0": bc0, "bc1": bc1,
           "weeks_before": w0, "weeks_after": w1, "control_areas": float(n_comp)}
    if min(c0, c1) > 0:
        q = wdq(a0, a1, b0, b1, c0, c1)
        row.update(success_measure=q.success_measure, buffer_measure=q.buffer_measure, wdq=q.wdq, total_net_effect=q.total_net_effect)
    dd = wdd(a0, a1, c0, c1, b0=b0, b1=b1, bc0=bc0, bc1=bc1, confidence=confidence,
             time_weights=(w0, w1), area_weights=(n_comp, 1.0, n_comp, 1.0))
    row.update(wdd=dd.wdd, std_error=dd.std_error, ci_low=dd.ci_low, ci_high=dd.ci_high, p_value=dd.p_value)
    row["method"] = ("impact.analysis.displacement: WDQ (Bowers & Johnson 2003) on counts; WDD (Wheeler & Ratcliffe 2018, "
                     "Poisson variance) per week and per area (time weights weeks before/after, control weight = comparison areas)"
                     + ("; overall: sums over Impact Areas (IA-weeks), control periods overlap so its variance is understated"
                        if scope == "overall" else ""))
    return row


def calls_crime_family(week: pd.DataFrame, type_week: pd.DataFrame, call_week: pd.DataFrame, conf: AnalysisConf) -> pd.DataFrame:
    """Family 7: calls (incidents) vs crimes per area-week: Pearson and Spearman with CIs, cross-correlation
    at -lags..+lags weeks, crimes per call by area and call category."""
    from impact.analysis.correlation import correlation_with_ci, cross_correlation

    wk = week[week["zone_type"] == "area"]
    rows = []
    for status, g in [("all", wk)] + list(wk.groupby("area_status")):
        if len(g) >= 4:
            c = correlation_with_ci(g["incidents"].astype(float), g["crimes"].astype(float), confidence=conf.confidence)
            rows.append({"kind": "correlation", "area_status": status, **c, "method": "correlation_with_ci (Pearson: Fisher z; Spearman)"})
        try:
            cc = cross_correlation(g, "incidents", "crimes", "zone_id", "week_index", lags=range(-conf.lags, conf.lags + 1))
            for _, r in cc.iterrows():
                rows.append({"kind": "cross_correlation", "area_status": status, "lag": r["lag"], "n": r["n"], "pearson_r": r["r"],
                             "pearson_ci_low": r["ci_low"], "pearson_ci_high": r["ci_high"],
                             "method": "cross_correlation: calls at t vs crimes at t+lag, within-area demeaned, pooled"})
        except Exception as error:
            log.warning("cross-correlation %s failed: %s", status, error)
    areas = wk[["zone_id", "area_id", "area_status"]].drop_duplicates()
    calls = call_week.merge(areas, on="zone_id").groupby(["area_id", "area_status", "call_category"], as_index=False)["calls"].sum()
    crimes = type_week.merge(areas, on="zone_id").groupby(["area_id", "area_status", "crime_type"], as_index=False)["crimes"].sum()
    conv = calls.merge(crimes.rename(columns={"crime_type": "call_category"}), on=["area_id", "area_status", "call_category"], how="left").fillna({"crimes": 0})
    conv = conv[conv["call_category"].isin(conf.key_crime_types)]
    per_area = conv.assign(kind="conversion")
    by_cat = conv.groupby(["area_status", "call_category"], as_index=False)[["calls", "crimes"]].sum().assign(kind="conversion", area_id=None)
    alls = conv.groupby(["area_status"], as_index=False)[["calls", "crimes"]].sum().assign(kind="conversion", area_id=None, call_category="ALL_KEY_TYPES")
    allall = pd.DataFrame([{"area_status": "all", "calls": conv["calls"].sum(), "crimes": conv["crimes"].sum(),
                            "kind": "conversion", "area_id": None, "call_category": "ALL_KEY_TYPES"}])
    conv = pd.concat([per_area, by_cat, alls, allall], ignore_index=True)
    conv["crimes_per_call"] = conv["crimes"] / conv["calls"].where(conv["calls"] > 0)
    conv["n"] = conv["calls"]
    conv["method"] = "crimes of a key type (offence class) / calls of that type (opening category), same area and window"
    return pd.concat([pd.DataFrame(rows), conv], ignore_index=True)


def data_quality_family(shifts: pd.DataFrame, never_seen: int, active_officers: int, quarantine: pd.DataFrame,
                        visits_total: int, visits_wide: int, attendance: pd.DataFrame, conf: AnalysisConf) -> pd.DataFrame:
    """Family 8: ping coverage per shift, radios never seen, quarantine by source and reason, wide dwell
    bounds, incidents with no attending visit. Ordered as the report's caveats."""
    rows = []
    n = len(shifts)
    if n:
        for q, label in ((0.1, "p10"), (0.5, "median"), (0.9, "p90")):
            rows.append({"check": "fixes_per_hour_per_shift", "source": "pings", "group_key": label,
                         "value": float(shifts["fixes_per_hour"].quantile(q)), "n": n})
        rows.append({"check": f"shifts_with_gap_over_{conf.gap_minutes:g}_min", "source": "pings", "group_key": "all",
                     "value": float((shifts["gaps_over"] > 0).sum()), "n": n, "share": float((shifts["gaps_over"] > 0).mean())})
        rows.append({"check": "gap_minutes_per_shift", "source": "pings", "group_key": "mean",
                     "value": float(shifts["gap_minutes"].mean()), "n": n})
    rows.append({"check": "officers_never_seen", "source": "pings", "group_key": "all", "value": float(never_seen),
                 "n": active_officers, "share": never_seen / active_officers if active_officers else np.nan})
    for _, r in quarantine.iterrows():
        rows.append({"check": "quarantined_rows", "source": r["source"], "group_key": r["reason"], "value": float(r["rows"]), "n": int(r["rows"])})
    rows.append({"check": f"visits_with_dwell_bounds_wider_than_{conf.wide_dwell_minutes:g}_min", "source": "visits", "group_key": "all",
                 "value": float(visits_wide), "n": visits_total, "share": visits_wide / visits_total if visits_total else np.nan})
    for status, g in [("all", attendance)] + list(attendance.groupby("area_status")):
        k = len(g)
        rows.append({"check": "incidents_with_no_resource", "source": "incidents", "group_key": status,
                     "value": float((~g["has_resource"]).sum()), "n": k, "share": float((~g["has_resource"]).mean()) if k else np.nan})
        rows.append({"check": "incidents_with_no_attending_visit", "source": "incidents", "group_key": status,
                     "value": float((~g["attended"]).sum()), "n": k, "share": float((~g["attended"]).mean()) if k else np.nan})
    out = pd.DataFrame(rows)
    out["method"] = "counts and shares over the window's accepted rows (pings, visits, incidents in areas) and quarantine"
    return out


# --------------------------------------------------------------------------------------------- run

def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """`frame` as pandas in one fixed row order: ascending on every scalar column, nulls first. Spark hands
    an aggregate's rows back in the order its shuffle blocks arrived, and a model fit's last digits move
    with the order of its rows, so without this two runs over identical marts can write different figures
    (docs/decisions.md D26). Sorted in pandas: these frames are small, a Spark sort would add two jobs each."""
    keys = [f.name for f in frame.schema.fields if isinstance(f.dataType, AtomicType)]
    out = frame.toPandas()
    return out.sort_values(keys, na_position="first", kind="mergesort", ignore_index=True) if keys and len(out) else out


@logged_stage("analysis", "analysis_models")
def run_analysis(spark: SparkSession, settings: Settings, start: date, end: date, run_id: str | None = None,
                 designation_dates: str | None = None) -> dict:
    """Compute every result family for local dates start..end, write the tables and the report."""
    conf = load_analysis_conf(settings)
    run_id = run_id or f"analysis-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    load_key(settings.profile, settings.warehouse, conf.key_env, conf.key_file, Path(__file__).resolve().parents[3])
    source = designation_dates or conf.designation_dates
    overrides = None
    if source:
        path = Path(source) if Path(source).is_absolute() or designation_dates else conf.folder / source
        overrides = spark.createDataFrame(read_designation_csv(path)) if path else None

    dim_area = read_table(spark, settings, "dim_area")
    designation = P.designations(dim_area, overrides)
    area_day = P.in_window(read_table(spark, settings, "fact_area_day"), "local_date", start, end)
    if area_day.limit(1).count() == 0:
        raise ValueError(f"fact_area_day has no rows for {start}..{end}: run the presence job for the window first")
    events = P.exact_events(read_table(spark, settings, "fact_event"), start, end).cache()
    presence_hour = P.in_window(read_table(spark, settings, "fact_presence_hour"), "local_date", start, end)
    presence_unit = P.in_window(read_table(spark, settings, "fact_presence_hour_unit"), "local_date", start, end)
    visits = P.in_window(read_table(spark, settings, "fact_visit"), "entry_local_date", start, end)

    day = P.zone_day_panel(area_day, designation)
    reactive = [r for g in conf.reactive_role_groups for r in conf.role_groups[g]]
    proactive = to_pandas(P.proactive_day_presence(presence_unit, reactive))
    crime_calls = to_pandas(P.crime_calls_day(events, conf.call_categories))
    pd_day = (to_pandas(day).merge(proactive, on=["zone_id", "local_date"], how="left")
              .merge(crime_calls, on=["zone_id", "local_date"], how="left")
              .fillna({"proactive_patrolling_minutes": 0.0, "crime_calls": 0}))
    pd_week = to_pandas(P.zone_week_panel(day))
    pd_week = pd_week.merge(pd_day.groupby(["zone_id", "week_start"], as_index=False)["proactive_patrolling_minutes"].sum(),
                            on=["zone_id", "week_start"], how="left").fillna({"proactive_patrolling_minutes": 0.0})
    dim = to_pandas(dim_area.drop("geometry_wkt_wgs84"))
    des = to_pandas(designation)
    if des[des["area_status"] == "impact"]["designated_from"].isna().all():
        raise ValueError("no Impact Area has a designation date: set areas.designated_from or pass --designation-dates")
    weeks = sorted(pd_week["week_start"].unique())
    pd_week["week_index"] = pd_week["week_start"].map({w: i for i, w in enumerate(weeks)})
    first = des.set_index("area_id")["designated_from"].dropna().map(
        lambda d: sum(1 for w in weeks if pd.Timestamp(w) + pd.Timedelta(days=6) < pd.Timestamp(d)))
    first = first[first < len(weeks)]               # designated after the window: not treated within it
    pd_week["first_treated_week"] = pd_week["area_id"].map(first).where(pd_week["area_status"] == "impact")
    earliest = des["designated_from"].dropna().min()
    period_of = des.set_index("area_id")["designated_from"].fillna(earliest)

    type_week = to_pandas(P.crime_type_week(events, conf.offence_classes))
    call_week = to_pandas(P.incident_category_week(events, conf.call_categories))
    role_week = to_pandas(P.role_week_presence(presence_unit, conf.role_groups))
    how = to_pandas(P.hour_of_week_profile(presence_hour, events))
    resources = to_pandas(P.resource_presence(presence_unit, visits))

    def with_period(frame: DataFrame) -> pd.DataFrame:
        f = to_pandas(frame).merge(dim[["zone_id", "area_id"]], on="zone_id")
        f["period"] = np.where(pd.to_datetime(f["local_date"]) >= pd.to_datetime(f["area_id"].map(period_of)), "post", "pre")
        return pd.concat([f, f.assign(period="window")], ignore_index=True)

    per_day_events = events.withColumn("crime_harm", F.when(F.col("event_type") == "crime", F.coalesce("harm_weight", F.lit(1.0))).otherwise(0.0)) \
        .withColumn("crimes", F.when(F.col("event_type") == "crime", 1).otherwise(0))
    ev = with_period(per_day_events.groupBy("zone_id", "local_date").agg(F.sum("crimes").alias("crimes"), P.total("crime_harm")))
    ctype = with_period(events.where(F.col("event_type") == "crime").groupBy(
        "zone_id", "local_date", P.key_type(F.coalesce("offence_class", "category"), conf.offence_classes).alias("crime_type"))
        .agg(F.count(F.lit(1)).alias("crimes")))
    incs = with_period(events.where(F.col("event_type") == "incident").groupBy(
        "zone_id", "local_date", F.coalesce(F.col("priority_grade").cast("string"), F.lit("unknown")).alias("priority"),
        F.upper(F.coalesce("category", F.lit("UNKNOWN"))).alias("category")).agg(F.count(F.lit(1)).alias("incidents")))
    srch = with_period(events.where(F.col("event_type") == "search").groupBy(
        "zone_id", "local_date", F.coalesce("legislation", F.lit("unknown")).alias("legislation"),
        F.coalesce("category", F.lit("unknown")).alias("object"), F.coalesce("outcome", F.lit("unknown")).alias("outcome"))
        .agg(F.count(F.lit(1)).alias("searches"), F.sum(F.when(F.col("outcome_linked_to_object"), 1).otherwise(0)).alias("finds")))

    # data quality inputs
    from impact.analysis.correlation import profile_alignment

    pings = P.in_window(read_table(spark, settings, "pings"), "fix_date", start, end)
    shifts = to_pandas(P.shift_coverage(pings, conf.shift_break_minutes * 60, conf.gap_minutes * 60).drop("collar_number"))
    postings = read_table(spark, settings, "officer_postings")
    active = (postings.where((F.col("valid_from") <= F.lit(end)) & (F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(start))))
              .select("collar_number").distinct().count())
    never = P.officers_never_seen(postings, pings, start, end).count()
    quarantine = (read_table(spark, settings, "quarantine") if table_exists(spark, settings.table_path("quarantine"))
                  else spark.createDataFrame([], "source string, reason string"))
    q = to_pandas(quarantine.withColumn("reason", F.explode(F.split("reason", ";"))).groupBy("source", "reason")
                  .agg(F.count(F.lit(1)).alias("rows")))
    wide = conf.wide_dwell_minutes * 60
    vstats = visits.agg(F.count(F.lit(1)).alias("n"), F.sum(F.when(F.col("duration_upper_s") - F.col("duration_lower_s") > wide, 1).otherwise(0)).alias("wide")).collect()[0]
    resources_raw = read_table(spark, settings, "incident_resources")
    attendance = to_pandas(P.incident_attendance(events, resources_raw, visits))
    on_duty = float(shifts["span_hours"].sum() * 60.0) if len(shifts) else 0.0
    events.unpersist()

    threshold = conf.suppression_min_officers
    results = {
        "analysis_baselines": baselines(pd_week, dim, resources, how, on_duty, start, end, threshold),
        "analysis_activity": activity(resources, dim, conf.role_groups, threshold),
        "analysis_events": events_family(ev, ctype, incs, srch, how, dim, des, profile_alignment),
        "analysis_alignment": alignment_family(how, dim, profile_alignment, conf.confidence),
        "analysis_models": models_family(pd_day, pd_week, type_week, role_week, conf),
        "analysis_displacement": displacement_family(pd_week, des, conf.displacement_outcome, conf.confidence),
        "analysis_calls_crime": calls_crime_family(pd_week, type_week, call_week, conf),
        "analysis_data_quality": data_quality_family(shifts, never, active, q, int(vstats["n"] or 0), int(vstats["wide"] or 0),
                                                     attendance, conf),
    }
    counts = {}
    for table, frame in results.items():
        frame = _stamp(frame, start, end, run_id)
        for column in table_schema(table).names:
            if column not in frame:
                frame[column] = None
        results[table] = frame
        write_table(to_spark(spark, frame, table), settings, table,
                    replace_predicate({"window_start": start, "window_end": end}))
        counts[table] = len(frame)

    from impact.analysis.report import write_report

    report = write_report(settings.warehouse, conf.report_folder, start, end, run_id, results,
                          to_pandas(dim_area.select("zone_id", "area_id", "area_status", "zone_type", "designated_from", "geometry_wkt")),
                          pd_week, how, des)
    log.info("analysis %s..%s: %s; report %s", start, end, counts, report)
    return {"run_id": run_id, "rows": counts, "report": str(report)}


def main(argv: list[str] | None = None) -> int:
    from impact.cli import run_window_job

    return run_window_job("analysis", "Marts -> strategic analysis tables and the technical report.", argv,
                          load_analysis_conf, run_analysis,
                          extra_options=[("--designation-dates", "CSV area_id,designated_from overriding the areas' dates")])
