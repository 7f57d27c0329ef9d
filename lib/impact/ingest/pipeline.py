"""Ingest orchestration: for each source, read -> conform -> account -> validate -> write -> log.

This is the I/O edge; the row logic is in `conform`. A source's step either writes its accepted rows,
its quarantined rows and an `ok` run-log row, or writes nothing to the tables and a `failed` run-log row.
"""
from __future__ import annotations

import argparse
import getpass
import json
import logging
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from impact.config import Settings, load_settings
from impact.ingest.conform import REASONS, ConformParams, accepted, conform, quarantined
from impact.ingest.contract import Contracts, SourceContract, load_contracts
from impact.ingest.read import list_input_files, read_raw
from impact.ingest.validate import ValidationFailed, validate_accepted
from impact.schemas import table_schema
from impact.tables import Staged, append_table, replace_predicate, write_table

log = logging.getLogger(__name__)

PUBLIC_PREFIX = "police_uk_"


class AccountingError(RuntimeError):
    """Rows read != rows accepted + rows quarantined: a transform lost or invented rows."""


@dataclass
class StepResult:
    """What one source's ingest did; becomes a run-log row."""

    source: str
    table: str
    status: str = "ok"
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    validation_success: bool | None = None
    validation_summary: str | None = None
    output_version: int | None = None
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished_at: datetime | None = None


def resolve_sources(contracts: Contracts, selection: str) -> list[SourceContract]:
    """`force` = every force extract; `public` = the data.police.uk adapters; or a comma list of names."""
    if selection == "force":
        return [c for n, c in contracts.sources.items() if not n.startswith(PUBLIC_PREFIX)]
    if selection == "public":
        return [c for n, c in contracts.sources.items() if n.startswith(PUBLIC_PREFIX)]
    return [contracts.get(name.strip()) for name in selection.split(",") if name.strip()]


def _replace_scope(contract: SourceContract, window: tuple[date, date] | None,
                   accepted_dates: tuple[date, date] | None) -> str | None:
    """The slice of the table this step owns: its source system, and its dates where partitioned."""
    schema = table_schema(contract.table)
    equals = {"source_system": contract.source_system} if contract.source_system and "source_system" in schema.names else {}
    if not contract.partition_by:
        return replace_predicate(equals)
    dates = window if contract.daily else accepted_dates
    if dates is None:
        return replace_predicate(equals) if equals else None
    return replace_predicate(equals, contract.partition_by, dates)


def ingest_source(spark: SparkSession, settings: Settings, contracts: Contracts, contract: SourceContract,
                  run_id: str, window: tuple[date, date] | None, validate: bool = True) -> StepResult:
    """Ingest one source for the run window. Raises on failure (the caller logs it)."""
    result = StepResult(source=contract.name, table=contract.table)
    start, end = window if window else (None, None)
    result.files = list_input_files(spark, contract, settings.raw_root, start, end)
    if not result.files:
        result.status = "no_input"
        log.warning("%s: no files match %s/%s for %s..%s; nothing written", contract.name,
                    settings.raw_root, contract.path, start, end)
        return result
    log.info("%s: reading %d file(s)", contract.name, len(result.files))
    raw = read_raw(spark, contract, result.files)
    params = ConformParams(
        run_id=run_id,
        run_started_at=result.started_at.replace(tzinfo=None),
        force_area_bng=contracts.force_area_bng,
        earliest=date.fromisoformat(str(contracts.time_rules.get("earliest", "2000-01-01"))),
        max_future_hours=float(contracts.time_rules.get("max_future_hours", 24)),
        window=window,
    )
    with Staged(spark, settings, f"{run_id}-{contract.name}") as staged:
        checked = staged.write(conform(raw.df, contract, params))      # conformed once; each step reads it
        result.rows_read = raw.df.count()
        first_reason = F.coalesce(F.element_at(F.col(REASONS), 1), F.lit("accepted"))
        counts = {r["k"]: r["n"] for r in checked.groupBy(first_reason.alias("k")).agg(F.count("*").alias("n")).collect()}
        result.rows_accepted = counts.pop("accepted", 0)
        result.reasons = dict(sorted(counts.items()))
        result.rows_quarantined = sum(counts.values())
        if result.rows_read != result.rows_accepted + result.rows_quarantined:
            raise AccountingError(
                f"{contract.name}: read {result.rows_read} rows but accepted {result.rows_accepted} + "
                f"quarantined {result.rows_quarantined}"
            )
        good = accepted(checked, contract.table)
        if validate:
            validation = validate_accepted(good, contract, contracts.force_area_bng)
            result.validation_success = validation.success
            result.validation_summary = validation.summary_json()
            if not validation.success:
                raise ValidationFailed(f"{contract.name}: accepted rows failed {validation.failures()}")
        dates = None
        if contract.partition_by and not contract.daily and result.rows_accepted:
            bounds = good.agg(F.min(contract.partition_by).alias("lo"), F.max(contract.partition_by).alias("hi")).first()
            dates = (bounds["lo"], bounds["hi"])
        result.output_version = write_table(good, settings, contract.table, _replace_scope(contract, window, dates))
        bad = quarantined(checked, contract.name, run_id, result.started_at.replace(tzinfo=None))
        q_scope = replace_predicate({"source": contract.name}, "extract_date" if contract.daily else None, window)
        write_table(bad, settings, "quarantine", q_scope)
    return result


def _run_log_rows(spark: SparkSession, results: list[StepResult], run_id: str, args: list[str],
                  window: tuple[date, date] | None):
    rows = [(
        run_id, "ingest", r.source, r.status, r.started_at.replace(tzinfo=None), (r.finished_at or r.started_at).replace(tzinfo=None),
        getpass.getuser(), socket.gethostname(), json.dumps(args), window[0] if window else None, window[1] if window else None,
        r.files, r.table, r.output_version, r.rows_read, r.rows_accepted, r.rows_quarantined, r.reasons,
        r.validation_success, r.validation_summary, r.error,
    ) for r in results]
    return spark.createDataFrame(rows, table_schema("run_log").struct())


def run_ingest(spark: SparkSession, settings: Settings, sources: str, window: tuple[date, date] | None,
               run_id: str | None = None, args: list[str] | None = None,
               contracts: Contracts | None = None) -> list[StepResult]:
    """Ingest the selected sources; every step gets a run-log row, failed or not."""
    contracts = contracts or load_contracts(settings.sources_path)
    run_id = run_id or f"ingest-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    validate = bool(settings.ingest.get("great_expectations", True))
    results = []
    for contract in resolve_sources(contracts, sources):
        if contract.daily and window is None:
            raise ValueError(f"source {contract.name} is a daily extract: give --start-date (and --end-date)")
        t0 = time.monotonic()
        try:
            result = ingest_source(spark, settings, contracts, contract, run_id, window, validate)
        except Exception as error:  # noqa: BLE001 - every failure is logged and reported, then re-raised at the end
            log.error("%s: FAILED: %s", contract.name, error)
            result = StepResult(source=contract.name, table=contract.table, status="failed", error=str(error)[:4000])
        result.finished_at = datetime.now(timezone.utc)
        results.append(result)
        if result.status == "ok":
            top = ", ".join(f"{k}={v}" for k, v in sorted(result.reasons.items(), key=lambda kv: -kv[1])[:4])
            log.info("%s -> %s: read %d, accepted %d, quarantined %d%s (%.1fs)", contract.name, contract.table,
                     result.rows_read, result.rows_accepted, result.rows_quarantined, f" [{top}]" if top else "",
                     time.monotonic() - t0)
    append_table(_run_log_rows(spark, results, run_id, args or [], window), settings, "run_log")
    return results


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ingest", description="Raw extracts -> conformed Delta tables (+ quarantine, run log).")
    parser.add_argument("--conf", help="environment config (default: $IMPACT_CONF or conf/local.yaml)")
    parser.add_argument("--source", default="force",
                        help="'force' (every force extract), 'public' (data.police.uk adapters) or a comma list of source names")
    parser.add_argument("--start-date", type=date.fromisoformat, help="first UTC date of the run window (YYYY-MM-DD)")
    parser.add_argument("--end-date", type=date.fromisoformat, help="last UTC date of the run window (default: start date)")
    parser.add_argument("--raw-root", help="override paths.raw_root")
    parser.add_argument("--warehouse", help="override paths.warehouse")
    parser.add_argument("--master", help="override spark.master")
    parser.add_argument("--run-id", help="run id (default: generated)")
    parser.add_argument("--no-validate", action="store_true", help="skip the Great Expectations gate")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.conf).with_overrides(raw_root=args.raw_root, warehouse=args.warehouse,
                                                       spark_master=args.master)
    if args.no_validate:
        settings = settings.with_overrides(ingest={**settings.ingest, "great_expectations": False})
    window = None
    if args.start_date:
        window = (args.start_date, args.end_date or args.start_date)
        if window[1] < window[0]:
            log.error("--end-date %s is before --start-date %s", window[1], window[0])
            return 2
    contracts = load_contracts(settings.sources_path)     # fail fast on a bad contract, before Spark starts
    selected = resolve_sources(contracts, args.source)
    if window is None and any(c.daily for c in selected):
        log.error("daily extracts (%s) need --start-date", ", ".join(c.name for c in selected if c.daily))
        return 2
    from impact.session import build_session

    spark = build_session(settings, "impact-ingest")
    try:
        results = run_ingest(spark, settings, args.source, window, args.run_id, argv, contracts)
    finally:
        spark.stop()
    failed = [r for r in results if r.status == "failed"]
    log.info("ingest finished: %d ok, %d no input, %d failed; tables under %s",
             sum(r.status == "ok" for r in results), sum(r.status == "no_input" for r in results), len(failed),
             settings.warehouse)
    for r in failed:
        log.error("%s failed: %s", r.source, r.error)
    return 1 if failed else 0
