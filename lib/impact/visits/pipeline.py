"""Visits job: areas -> area_zones; pings (+ look-back/ahead) -> visits for the run's dates.

A run for dates D1..D2 reads pings from D1 00:00 - lookback to D2 24:00 + lookahead (UTC) and owns
exactly the visits whose visit_date (UTC date of estimated entry) is in D1..D2: a visit crossing
midnight is built whole from both days' fixes and written once, by the run that owns its entry day.
A visit still open at the end of the look-ahead is closed at its last fix; so a daily schedule runs
visits for D-1..D (re-writing yesterday once today's pings have landed).
"""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from impact.cli import run_window_job
from impact.config import Settings, load_yaml
from impact.spatial.zones import RingSpec, build_zones
from impact.runlog import logged_stage
from impact.tables import read_table, replace_predicate, write_table
from impact.visits.sessionise import VisitParams, build_visits

log = logging.getLogger(__name__)


RUN_KEYS = ("rings_m", "lookback_hours", "lookahead_hours")   # visits.yaml keys read by run_visits


def load_params(settings: Settings) -> tuple[VisitParams, dict]:
    """conf/visits.yaml (beside the environment config) -> thresholds and the raw dict. An unknown key
    (a typo would otherwise silently leave the default in force) stops with the file and the key."""
    path = settings.conf_path.parent / "visits.yaml"
    raw = load_yaml(path) or {}
    unknown = set(raw) - set(VisitParams.__dataclass_fields__) - set(RUN_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}; known: "
                         f"{sorted([*VisitParams.__dataclass_fields__, *RUN_KEYS])}")
    fields = {k: float(raw[k]) for k in VisitParams.__dataclass_fields__ if k in raw}
    return VisitParams(**fields), raw


class NoPingsError(RuntimeError):
    """The run's dates have no pings: replacing their visits with nothing would delete good rows."""


@logged_stage("visits", "visits")
def run_visits(spark: SparkSession, settings: Settings, start: date, end: date, run_id: str | None = None) -> dict:
    """Write area_zones, the run's visit partitions and cleaning quarantine; returns counts.

    A window with no pings at all stops with NoPingsError before anything is written: pings not yet
    ingested must not wipe the window's visits (a day with pings but no visits is written as such)."""
    params, raw = load_params(settings)
    run_id = run_id or f"visits-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    rings = tuple(RingSpec(float(a), float(b)) for a, b in raw.get("rings_m", [[0, 250], [250, 500]]))
    write_table(build_zones(read_table(spark, settings, "areas"), rings), settings, "area_zones", None)
    zones = read_table(spark, settings, "area_zones")

    lo = datetime(start.year, start.month, start.day) - timedelta(hours=float(raw.get("lookback_hours", 6)))
    hi = datetime(end.year, end.month, end.day) + timedelta(days=1, hours=float(raw.get("lookahead_hours", 6)))
    pings = (read_table(spark, settings, "pings")
             .where(F.col("fix_date").between(F.lit(lo.date()), F.lit(hi.date())))
             .where((F.col("fix_at_utc") >= F.lit(lo)) & (F.col("fix_at_utc") < F.lit(hi))))
    if not pings.where(F.to_date("fix_at_utc").between(F.lit(start), F.lit(end))).limit(1).count():
        raise NoPingsError(f"no pings between {start} and {end} (UTC) in {settings.table_path('pings')}: ingest "
                           "those dates first; the visits of that window were left unchanged")
    postings = read_table(spark, settings, "officer_postings")
    visits, removed = build_visits(pings, zones, postings, params)
    window = (start, end)
    owned = visits.where(F.col("visit_date").between(F.lit(start), F.lit(end))).withColumn("visits_run_id", F.lit(run_id))
    version = write_table(owned, settings, "visits", replace_predicate(None, "visit_date", window))
    removed_rows = removed.where(F.col("fix_date").between(F.lit(start), F.lit(end))).select(
        F.lit(run_id).alias("run_id"), F.lit("table:pings").alias("source_file"), F.col("fix_date").alias("extract_date"),
        F.col("reason"), F.to_json(F.struct("issi", "collar_number", "fix_at_utc", "easting", "northing")).alias("raw_record"),
        F.lit(started).alias("quarantined_at_utc"), F.lit("visits_cleaning").alias("source"))
    write_table(removed_rows, settings, "quarantine", replace_predicate({"source": "visits_cleaning"}, "extract_date", window))
    written = read_table(spark, settings, "visits").where(F.col("visit_date").between(F.lit(start), F.lit(end)))
    counts = {r["zone_type"]: r["n"] for r in written.groupBy("zone_type").agg(F.count("*").alias("n")).collect()}
    unknown = written.where(F.col("role") == "unknown").count()
    log.info("visits %s..%s: %s; %d without a posting; table version %d", start, end, counts, unknown, version)
    return {"run_id": run_id, "visits": counts, "unknown_posting": unknown, "version": version}


def main(argv: list[str] | None = None) -> int:
    return run_window_job("visits", "Pings -> officer visits to areas and rings.", argv, load_params, run_visits)
