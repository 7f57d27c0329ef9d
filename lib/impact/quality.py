"""The publication gate: critical Great Expectations checks on a stage's output before it is published.

A stage computes its outputs, stages them, and calls `check_outputs` on the staged frames; only when every
critical expectation holds does it write them to the tables readers (and Qlik) see. When one fails, nothing
of that run is published, `QualityGateFailed` is raised (the runner's exit code 4), and a readable HTML
validation report is written under `<warehouse>/_reports/quality/` beside the run log.
"""
from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import DataFrame

from impact.config import Settings
from impact.tables import hadoop_path

log = logging.getLogger(__name__)


class QualityGateFailed(RuntimeError):
    """A critical expectation failed on a stage's output: the run's outputs were not published."""

    def __init__(self, message: str, report: str | None = None):
        super().__init__(message)
        self.report = report


def _gx():
    from impact.ingest.validate import _gx as load

    return load()


def critical_expectations(table: str) -> list:
    """The expectations whose failure stops publication of a mart table (what a reader must be able to
    trust: keys present and unique, minutes never negative, an hour never holds more than 60 patrol-minutes,
    dwell bounds ordered)."""
    E = _gx().expectations
    minutes = ["officer_minutes", "patrol_minutes", "responding_officer_minutes", "patrolling_officer_minutes",
               "transit_officer_minutes"]
    if table in {"fact_presence_hour", "fact_presence_hour_unit"}:
        keys = ["zone_id", "hour_start_utc"] + (["department", "npu", "role", "mode"] if table.endswith("_unit") else [])
        return ([E.ExpectColumnValuesToNotBeNull(column=c) for c in ("zone_id", "hour_start_utc")]
                + [E.ExpectCompoundColumnsToBeUnique(column_list=keys)]
                + [E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in minutes]
                + [E.ExpectColumnValuesToBeBetween(column="patrol_minutes", min_value=0, max_value=60.000001)])
    if table == "fact_visit":
        return [E.ExpectColumnValuesToNotBeNull(column="visit_id"), E.ExpectColumnValuesToBeUnique(column="visit_id"),
                E.ExpectColumnValuesToBeBetween(column="duration_lower_s", min_value=0),
                E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="duration_best_s", column_B="duration_lower_s", or_equal=True),
                E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="duration_upper_s", column_B="duration_best_s", or_equal=True)]
    if table == "fact_event":
        # one row per zone containing the event (overlapping rings of two areas): (event_id, zone_id) is the key
        return [E.ExpectColumnValuesToNotBeNull(column="event_id"),
                E.ExpectCompoundColumnsToBeUnique(column_list=["event_id", "zone_id"]),
                E.ExpectColumnValuesToBeBetween(column="harm_weight", min_value=0)]
    if table == "fact_area_day":
        return ([E.ExpectCompoundColumnsToBeUnique(column_list=["zone_id", "local_date"]),
                 E.ExpectColumnValuesToBeInSet(column="hours_in_day", value_set=[23, 24, 25])]
                + [E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in minutes])
    return []


@dataclass(frozen=True)
class _Named:
    name: str


def check_frame(table: str, df: DataFrame, local_max_rows: int | None = None) -> list[dict]:
    """Results (expectation, kwargs, success, unexpected_count, engine) of the table's critical
    expectations on df: every row, with GX's pandas engine when df has at most `local_max_rows` rows
    (default `LOCAL_GX_MAX_ROWS`), else with its Spark engine (D22)."""
    from impact.ingest.validate import LOCAL_GX_MAX_ROWS, _batch, _context, _pandas_batch, collect_at_most

    gx = _gx()
    expectations = critical_expectations(table)
    if not expectations:
        return []
    context = _context()
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"gate_{table}"))
    for expectation in expectations:
        suite.add_expectation(expectation)
    local = collect_at_most(df, LOCAL_GX_MAX_ROWS if local_max_rows is None else local_max_rows)
    if local is not None:
        engine, batch = "pandas", _pandas_batch(context, f"gate_{table}", local)
    else:
        engine, batch = "spark", _batch(context, _Named(f"gate_{table}"), df)
    outcome = batch.validate(suite)
    return [{
        "table": table,
        "expectation": r.expectation_config.type,
        "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
        "success": bool(r.success),
        "unexpected_count": (r.result or {}).get("unexpected_count"),
        "engine": engine,
    } for r in outcome.results]


def write_report(settings: Settings, stage: str, run_id: str, results: list[dict]) -> str:
    """A self-contained HTML page of the gate's results; returns its location."""
    failed = [r for r in results if not r["success"]]
    rows = "".join(
        f"<tr class='{'ok' if r['success'] else 'bad'}'><td>{html.escape(r['table'])}</td>"
        f"<td>{html.escape(r['expectation'])}</td><td><code>{html.escape(json.dumps(r['kwargs'], default=str))}</code></td>"
        f"<td>{'pass' if r['success'] else 'FAIL'}</td><td>{'' if r['unexpected_count'] is None else r['unexpected_count']}</td>"
        f"<td>{html.escape(r.get('engine', ''))}</td></tr>"
        for r in results)
    verdict = (f"{len(failed)} of {len(results)} critical expectations failed: nothing of this run was published; "
               "the tables still show the previous version." if failed else
               f"All {len(results)} critical expectations passed: the outputs were published.")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Quality gate {html.escape(stage)} {html.escape(run_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}
tr.bad{{background:#fdd}}tr.ok{{background:#efe}}</style></head><body>
<h1>Quality gate: {html.escape(stage)}</h1><p>Run <b>{html.escape(run_id)}</b>, checked {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC.</p>
<p><b>{html.escape(verdict)}</b></p>
<table><tr><th>table</th><th>expectation</th><th>arguments</th><th>result</th><th>unexpected rows</th><th>GX engine</th></tr>{rows}</table>
</body></html>"""
    location = f"{settings.warehouse.rstrip('/')}/_reports/quality/{stage}_{run_id}.html"
    if "://" in location and not location.startswith("file:"):
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        fs, path = hadoop_path(spark, location)
        stream = fs.create(path, True)
        stream.write(bytearray(page.encode("utf-8")))
        stream.close()
    else:
        target = Path(location.removeprefix("file:"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page)
    return location


def check_outputs(settings: Settings, stage: str, run_id: str, frames: dict[str, DataFrame]) -> str:
    """Run every table's critical expectations; write the report; raise QualityGateFailed on a failure."""
    results = [r for table, df in frames.items() for r in check_frame(table, df)]
    report = write_report(settings, stage, run_id, results)
    failed = [f"{r['table']}: {r['expectation']}({', '.join(f'{k}={v}' for k, v in r['kwargs'].items() if k in ('column', 'column_list', 'column_A', 'column_B'))})"
              for r in results if not r["success"]]
    if failed:
        raise QualityGateFailed(f"{stage} run {run_id}: {len(failed)} critical expectation(s) failed, nothing published "
                                f"({'; '.join(failed[:5])}); report {report}", report)
    log.info("%s quality gate: %d critical expectations passed; report %s", stage, len(results), report)
    return report
