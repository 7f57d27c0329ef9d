"""Ingest orchestration: for each source, read -> conform -> account -> validate -> write -> log.

This is the I/O edge; the row logic is in `conform`. A source's step either writes its accepted rows,
its quarantined rows and an `ok` run-log row, or writes nothing to the tables and a `failed` run-log row.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from impact.config import ConfigError, Settings, load_settings
from impact.ingest.conform import REASONS, ConformParams, accepted, conform, quarantined
from impact.ingest.contract import Contracts, SourceContract, load_contracts
from impact.ingest.read import IngestInputError, csv_header, header_matches, list_input_files, read_raw
from impact.ingest.validate import ValidationFailed, validate_accepted
from impact.schemas import table_schema
from impact.runlog import StepResult, append_run_log, one_line_error, utc_now
from impact.tables import Staged, replace_predicate, sql_literal, write_table

log = logging.getLogger(__name__)

PUBLIC_PREFIX = "police_uk_"


class AccountingError(RuntimeError):
    """Rows read != rows accepted + rows quarantined: a transform lost or invented rows."""


def resolve_sources(contracts: Contracts, selection: str) -> list[SourceContract]:
    """`force` = every force extract; `public` = the data.police.uk adapters; or a comma list of names."""
    if selection == "force":
        return [c for n, c in contracts.sources.items() if not n.startswith(PUBLIC_PREFIX)]
    if selection == "public":
        return [c for n, c in contracts.sources.items() if n.startswith(PUBLIC_PREFIX)]
    return [contracts.get(name.strip()) for name in selection.split(",") if name.strip()]


def declared_months(contract: SourceContract, files: list[str]) -> list[date]:
    """The months the files' names declare (contract `slice`); a file that declares none stops the run."""
    months = set()
    for file in files:
        found = re.search(contract.file_slice.pattern, file)
        try:
            months.add(date.fromisoformat(found.group(1) + "-01") if found else None)
        except ValueError:
            months.add(None)
        if None in months:
            raise IngestInputError(
                f"source {contract.name}: {file} does not declare its month in its name (pattern "
                f"{contract.file_slice.pattern!r}), so the rows it may replace are unknown: rename it YYYY-MM-...")
    return sorted(months)


def _month_interval(month: date, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a local month, as naive UTC datetimes."""
    tz = ZoneInfo(zone)
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    def utc(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(timezone.utc).replace(tzinfo=None)
    return utc(month), utc(nxt)


def replace_scope(contract: SourceContract, window: tuple[date, date] | None,
                  months: list[date] | None = None) -> str | None:
    """The slice of the table this step owns, declared by its input and never by what was accepted:
    its source system, and the run's dates (daily extracts) or the months its files' names declare
    (e.g. a data.police.uk month file). None only for a snapshot, which owns its whole table."""
    schema = table_schema(contract.table)
    equals = {"source_system": contract.source_system} if contract.source_system and "source_system" in schema.names else {}
    if not contract.partition_by:
        return replace_predicate(equals)
    if contract.daily:
        if window is None:
            raise ValueError(f"source {contract.name} is a daily extract: its run needs a window")
        return replace_predicate(equals, contract.partition_by, window)
    if not months:
        raise ValueError(f"source {contract.name}: no declared months, so no slice to replace")
    instant = contract.partition_from[0] if len(contract.partition_from) == 1 else f"coalesce({', '.join(contract.partition_from)})"
    pieces = []
    for month in months:
        lo, hi = _month_interval(month, contract.file_slice.timezone)
        pieces.append(f"({contract.partition_by} >= {sql_literal(lo.date())} AND {contract.partition_by} <= "
                      f"{sql_literal((hi - timedelta(microseconds=1)).date())} AND {instant} >= TIMESTAMP '{lo}' "
                      f"AND {instant} < TIMESTAMP '{hi}')")
    owned = "(" + " OR ".join(pieces) + ")"
    base = replace_predicate(equals)
    return f"{base} AND {owned}" if base else owned


def quarantine_scope(contract: SourceContract, window: tuple[date, date] | None,
                     months: list[date] | None = None) -> str:
    """The quarantine rows this step owns: its source's, for the dates or months its input declares."""
    if contract.daily:
        return replace_predicate({"source": contract.name}, "extract_date", window)
    base = replace_predicate({"source": contract.name})
    if contract.file_slice is not None:
        return f"{base} AND extract_date IN ({', '.join(sql_literal(m) for m in months or [])})"
    return base


def claimed_files(spark: SparkSession, contracts: Contracts, contract: SourceContract, files: list[str]) -> list[str]:
    """Where several sources share a file pattern (the old and current police.uk street layouts), the
    files whose header carries this source's columns. A file that matches none of them is an error,
    reported by the first source of the group."""
    if contract.format != "csv":
        return files
    group = [c for c in contracts.sources.values() if c.path == contract.path and c.format == "csv"]
    if len(group) < 2:
        return files
    mine = []
    for file in files:
        header = csv_header(spark, contract, file)
        if header_matches(contract, header):
            mine.append(file)
        elif not any(header_matches(other, header) for other in group) and contract is group[0]:
            layouts = "; ".join(f"{c.name}: {c.raw_columns}" for c in group)
            raise IngestInputError(
                f"source {contract.name}: {file} matches no layout of pattern {contract.path!r} "
                f"(header {header}; layouts {layouts})")
    return mine


def ingest_source(spark: SparkSession, settings: Settings, contracts: Contracts, contract: SourceContract,
                  run_id: str, window: tuple[date, date] | None, validate: bool = True,
                  result: StepResult | None = None) -> StepResult:
    """Ingest one source for the run window. Raises on failure (the caller logs it); what was counted
    before the failure stays in `result`, which the caller passes in to keep it."""
    result = result or StepResult(source=contract.name, table=contract.table)
    start, end = window if window else (None, None)
    result.files = claimed_files(spark, contracts, contract,
                                 list_input_files(spark, contract, settings.raw_root, start, end))
    if not result.files:
        result.status = "no_input"
        log.warning("%s: no files match %s/%s for %s..%s; nothing written", contract.name,
                    settings.raw_root, contract.path, start, end)
        return result
    months = declared_months(contract, result.files) if contract.file_slice is not None else None
    log.info("%s: reading %d file(s)%s", contract.name, len(result.files),
             f" declaring {', '.join(m.strftime('%Y-%m') for m in months)}" if months else "")
    raw = read_raw(spark, contract, result.files)
    params = ConformParams(
        run_id=run_id,
        run_started_at=result.started_at.replace(tzinfo=None),
        force_area_bng=contracts.force_area_bng,
        earliest=date.fromisoformat(str(contracts.time_rules.get("earliest", "2000-01-01"))),
        max_future_hours=float(contracts.time_rules.get("max_future_hours", 24)),
        window=window,
        null_markers=contracts.null_markers,
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
        if result.rows_read == 0 and not contract.partition_by:
            raise IngestInputError(
                f"source {contract.name}: the snapshot {', '.join(result.files)} has no rows; refusing to replace "
                f"the whole {contract.table} table with nothing (re-extract it)")
        good = accepted(checked, contract.table)
        if validate:
            validation = validate_accepted(good, contract, contracts.force_area_bng)
            result.validation_success = validation.success
            result.validation_summary = validation.summary_json()
            if not validation.success:
                raise ValidationFailed(f"{contract.name}: accepted rows failed {validation.failures()}")
        bad = quarantined(checked, contract.name, run_id, result.started_at.replace(tzinfo=None))
        if result.rows_read and not result.rows_accepted:
            write_table(bad, settings, "quarantine", quarantine_scope(contract, window, months))
            # Every row was refused (another force's file, a wrong layout): the rows already in the table
            # for this slice stay as they were. The quarantine above says why.
            result.status = "all_quarantined"
            top = ", ".join(f"{k}={v}" for k, v in sorted(result.reasons.items(), key=lambda kv: -kv[1])[:3])
            result.error = (f"all {result.rows_read} rows quarantined ({top}); {contract.table} left unchanged")
            log.error("%s: %s", contract.name, result.error)
            return result
        result.output_version = write_table(good, settings, contract.table, replace_scope(contract, window, months))
        write_table(bad, settings, "quarantine", quarantine_scope(contract, window, months))   # after the table:
    return result                                                     # a failed table write leaves both as they were


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
        result = StepResult(source=contract.name, table=contract.table)
        try:
            ingest_source(spark, settings, contracts, contract, run_id, window, validate, result)
        except Exception as error:  # noqa: BLE001 - every failure is logged and reported, then re-raised at the end
            result.status = "validation_failed" if isinstance(error, ValidationFailed) else "failed"
            result.error = one_line_error(error)
            log.error("%s: FAILED: %s", contract.name, result.error)
            log.debug("%s: failure detail", contract.name, exc_info=error)
        result.finished_at = utc_now()
        results.append(result)
        if result.status == "ok":
            top = ", ".join(f"{k}={v}" for k, v in sorted(result.reasons.items(), key=lambda kv: -kv[1])[:4])
            log.info("%s -> %s: read %d, accepted %d, quarantined %d%s (%.1fs)", contract.name, contract.table,
                     result.rows_read, result.rows_accepted, result.rows_quarantined, f" [{top}]" if top else "",
                     time.monotonic() - t0)
    append_run_log(spark, settings, "ingest", run_id, results, args, window)
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
    parser.add_argument("--master", help="override spark.master (under spark-submit its own --master decides)")
    parser.add_argument("--run-id", help="run id (default: generated)")
    parser.add_argument("--no-validate", action="store_true", help="skip the Great Expectations gate")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.conf).with_overrides(raw_root=args.raw_root, warehouse=args.warehouse,
                                                           spark_master=args.master)
        contracts = load_contracts(settings.sources_path)     # fail fast on a bad contract, before Spark starts
        selected = resolve_sources(contracts, args.source)
    except ConfigError as error:
        log.error("%s", error)
        return 2
    if args.no_validate:
        settings = settings.without_great_expectations()
    window = None
    if args.start_date:
        window = (args.start_date, args.end_date or args.start_date)
        if window[1] < window[0]:
            log.error("--end-date %s is before --start-date %s", window[1], window[0])
            return 2
    if window is None and any(c.daily for c in selected):
        log.error("daily extracts (%s) need --start-date", ", ".join(c.name for c in selected if c.daily))
        return 2
    from impact.session import build_session

    spark = build_session(settings, "impact-ingest")
    try:
        results = run_ingest(spark, settings, args.source, window, args.run_id, argv, contracts)
    finally:
        spark.stop()
    failed = [r for r in results if r.status in {"failed", "validation_failed", "all_quarantined"}]
    log.info("ingest finished: %d ok, %d no input, %d failed (%d of them every row quarantined); tables under %s",
             sum(r.status == "ok" for r in results), sum(r.status == "no_input" for r in results), len(failed),
             sum(r.status == "all_quarantined" for r in results), settings.warehouse)
    for r in failed:
        log.error("%s failed: %s", r.source, r.error)
    return 1 if failed else 0
