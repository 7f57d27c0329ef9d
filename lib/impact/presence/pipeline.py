"""Presence job: visits + events -> activity, presence facts and the star schema the dashboard reads.

A run for UTC dates D1..D2 owns: fact_visit / fact_visit_track (visit_date), fact_presence_hour(_unit)
(hour_date), fact_event (event_date: the date the event entered the record) and fact_area_day (local
date) in D1..D2; the dimensions are rewritten whole. It reads visits from D1 - 1 (a visit that began
the day before still adds presence to D1) and incident assignments and events from two days either side
(assignments, searches and crimes recorded hours after the visit). Re-running a window gives the same
tables; a crime recorded late for an old date is counted when that date is re-run. See docs/presence.md.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import ExitStack
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from impact.cli import run_window_job
from impact.config import Settings, load_yaml
from impact.presence.activity import ActivityParams, activity_pieces, unmatched_assignments, with_activity
from impact.presence.calendar import date_dim, hour_dim
from impact.presence.events import HarmWeights, conformed_events, events_in_zones
from impact.presence.facts import intermittency_by_day, presence_by_hour
from impact.presence.marts import area_day, dim_area, dim_officer, fact_visit, fact_visit_track
from impact.fingerprint import fingerprint_frame
from impact.runlog import logged_stage
from impact.schemas import table_schema
from impact.quality import check_outputs
from impact.tables import (Staged, latest_version, read_events_table, read_table, replace_predicate, table_exists,
                           write_table)

log = logging.getLogger(__name__)

UNIT_KEYS = ["zone_id", "department", "npu", "role", "mode"]
MART_TABLES = ("dim_area", "dim_officer", "dim_date", "dim_hour", "fact_visit", "fact_visit_track",
               "fact_presence_hour", "fact_presence_hour_unit", "fact_event", "fact_area_day")


def load_marts_conf(settings: Settings) -> tuple[ActivityParams, HarmWeights, dict]:
    """conf/marts.yaml (beside the environment config) -> activity thresholds, harm weights, raw dict."""
    folder = Path(settings.conf_path).parent
    raw = load_yaml(folder / "marts.yaml")
    act = raw.get("activity") or {}
    unknown = set(act) - set(ActivityParams.__dataclass_fields__)
    if unknown:
        raise ValueError(f"marts.yaml activity: unknown setting(s) {sorted(unknown)}")
    params = ActivityParams(**{k: float(v) for k, v in act.items()})
    weights = HarmWeights.from_conf(folder, raw)
    return params, weights, raw


def _between(df: DataFrame, column: str, lo: date, hi: date) -> DataFrame:
    return df.where(F.col(column).between(F.lit(lo), F.lit(hi)))


def write_dimension(df: DataFrame, settings: Settings, name: str) -> int:
    """Rewrite a whole dimension table only when its content changed (same row count and column hashes
    as the stored table: the write, its Delta commit and housekeeping are skipped); returns its rows.

    The stored table's fingerprint is not recomputed on every run: after each write (or check) it is kept
    in `<warehouse>/_ops/dimensions/<name>.json` with the Delta version it describes, and used while the
    table is still at that version. A table changed by anything else (another version) is scanned again."""
    from impact.ops.checkpoint import read_json, write_json

    spark = df.sparkSession
    path = settings.table_path(name)
    note = f"{settings.warehouse.rstrip('/')}/_ops/dimensions/{name}.json"
    new = table_schema(name).conform(df).cache()
    try:
        fresh = fingerprint_frame(new, name, every_column=True)
        version = latest_version(spark, path)
        if version >= 0:
            known = read_json(spark, note)
            if known and known.get("version") == version:
                stored = known["fingerprint"]
            else:
                stored = fingerprint_frame(read_table(spark, settings, name), name, every_column=True)
                write_json(spark, note, {"version": version, "fingerprint": stored})
            if stored == fresh:
                log.info("%s unchanged (%d rows): not rewritten", name, fresh["rows"])
                return fresh["rows"]
        version = write_table(new, settings, name, None)
        write_json(spark, note, {"version": version, "fingerprint": fresh})
        return fresh["rows"]
    finally:
        new.unpersist()


def rows_written(spark: SparkSession, settings: Settings, name: str) -> int:
    """Rows the table's latest Delta commit wrote (its operation metrics, read from the commit file; a
    count if they are missing)."""
    from impact.ops.deltalog import read_commit

    path = settings.table_path(name)
    metrics = read_commit(spark, path, name, latest_version(spark, path)).metrics
    if "numOutputRows" in metrics:
        return int(metrics["numOutputRows"])
    return spark.read.format("delta").load(path).count()


@logged_stage("presence", "fact_visit")
def run_presence(spark: SparkSession, settings: Settings, start: date, end: date, run_id: str | None = None) -> dict:
    """Write every mart for the window; returns row counts per table."""
    params, weights, raw = load_marts_conf(settings)
    run_id = run_id or f"presence-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    window = (start, end)
    run = F.lit(run_id)

    zones = read_table(spark, settings, "area_zones")
    areas = read_table(spark, settings, "areas")
    postings = read_table(spark, settings, "officer_postings")
    visits = _between(read_table(spark, settings, "visits"), "visit_date", start - timedelta(days=1), end)
    wide = (start - timedelta(days=2), end + timedelta(days=2))
    crimes = _between(read_events_table(spark, settings, "crimes"), "recorded_date", *wide)
    incidents = _between(read_events_table(spark, settings, "incidents"), "opened_date", *wide)
    searches = _between(read_events_table(spark, settings, "stop_searches"), "searched_date", *wide)
    resources = _between(read_events_table(spark, settings, "incident_resources"), "assigned_date", *wide)

    # dimensions (small, rewritten whole)
    first = date.fromisoformat(str((raw.get("calendar") or {}).get("first_date", "2020-01-01")))
    last = max(end, date.today()) + timedelta(days=366)
    counts: dict[str, int] = {}
    areas_dim = dim_area(zones, areas)
    officers = dim_officer(postings)
    for name, df in (("dim_area", areas_dim), ("dim_officer", officers),
                     ("dim_date", date_dim(spark, first, last)), ("dim_hour", hour_dim(spark, first, last))):
        counts[name] = write_dimension(df, settings, name)
    officers = read_table(spark, settings, "dim_officer")
    dates = read_table(spark, settings, "dim_date")

    # Facts are computed and staged first, checked by the publication gate (impact.quality), and only
    # then written: a run whose outputs break a critical expectation publishes nothing.
    with ExitStack() as stack:
        def stage(name: str, df: DataFrame) -> DataFrame:
            staging = stack.enter_context(Staged(spark, settings, f"{run_id}-{name}"))
            return staging.write(table_schema(name).conform(df.withColumn("marts_run_id", run)))

        # events in zones; activity of every visit read (the window's own are written)
        zoned = events_in_zones(conformed_events(crimes, incidents, searches, weights), zones).cache()
        facts = {"fact_event": stage("fact_event", _between(zoned, "event_date", *window))}
        visits_act, responding = with_activity(visits, resources, zoned, params)
        # both feed several facts: the responding intervals (small) are computed once, not per fact
        visits_act, responding = visits_act.cache(), responding.cache()
        owned = _between(visits_act, "visit_date", *window)
        facts["fact_visit"] = stage("fact_visit", fact_visit(owned, officers))
        facts["fact_visit_track"] = stage("fact_visit_track", fact_visit_track(owned))

        # presence per hour (all officers; per resource group and mode) for the window's UTC hours
        pieces = activity_pieces(visits_act, responding).cache()
        for name, keys in (("fact_presence_hour", ["zone_id"]), ("fact_presence_hour_unit", UNIT_KEYS)):
            hourly = presence_by_hour(visits_act, keys, pieces).withColumn("hour_date", F.to_date("hour_start_utc"))
            facts[name] = stage(name, _between(hourly, "hour_date", *window))

        # area-day: every zone x local date of the window, from this run's hours and events plus the
        # stored ones just outside the window (a local day starts at 23:00 UTC the day before in summer)
        def around(name: str, column: str, lo: date) -> DataFrame:
            stored = read_table(spark, settings, name) if table_exists(spark, settings.table_path(name)) else None
            if stored is None:
                return facts[name]
            outside = stored.where((F.col(column) >= F.lit(lo)) & ~F.col(column).between(F.lit(start), F.lit(end)))
            return outside.unionByName(facts[name])

        summary = area_day(read_table(spark, settings, "dim_area"), dates,
                           around("fact_presence_hour", "hour_date", start - timedelta(days=2)),
                           intermittency_by_day(visits_act, ["zone_id"], pieces),
                           around("fact_event", "event_date", start - timedelta(days=1)), visits_act, start, end)
        facts["fact_area_day"] = stage("fact_area_day", summary)

        report = check_outputs(settings, "presence", run_id, facts)
        columns = {"fact_event": "event_date", "fact_visit": "visit_date", "fact_visit_track": "visit_date",
                   "fact_presence_hour": "hour_date", "fact_presence_hour_unit": "hour_date", "fact_area_day": "local_date"}
        for name, df in facts.items():
            write_table(df, settings, name, replace_predicate(None, columns[name], window))
    for name in MART_TABLES:
        if name not in counts:
            # the window's slice is exactly what the run wrote (replaceWhere refuses rows outside it)
            counts[name] = rows_written(spark, settings, name)
    for df in (zoned, visits_act, responding, pieces):
        df.unpersist()
    log.info("presence %s..%s: %s", start, end, counts)
    unmatched = {r["kind"]: r["assignments"] for r in
                 unmatched_assignments(_between(resources, "assigned_date", *window), postings).collect()}
    log.info("presence %s..%s: %d incident assignments name no known collar number and match no visit %s "
             "(call signs would need a call-sign table: docs/presence.md)", start, end, sum(unmatched.values()), unmatched)
    return {"run_id": run_id, "rows": counts, "unmatched_assignments": unmatched, "quality_report": report}


def main(argv: list[str] | None = None) -> int:
    return run_window_job("presence", "Visits + events -> presence facts and marts.", argv, load_marts_conf, run_presence)
