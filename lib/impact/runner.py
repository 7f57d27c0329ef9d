"""`impact`: the one command line for daily runs, ranges, backfills and maintenance.

    impact run --date 2026-03-20                      daily: ingest D, visits/presence D-1..D, register
    impact run --stages visits,presence --start-date 2026-03-01 --end-date 2026-03-07
    impact backfill --start-date 2026-01-01 --end-date 2026-03-31 [--chunk-days 7]
    impact maintain [--retain-hours 168]

Every stage runs in one Spark session, in the pipeline's order (ingest, visits, presence, analysis,
register), through the same job functions as jobs/*.py. Each stage tags its Delta commits with the run
id (commitInfo.userMetadata) and logs one progress line: rows in, rows out, seconds, versions written.
A summary of every run is written to <warehouse>/_ops/runs/<run id>.json.

Exit codes: 0 ok; 1 any other error; 2 bad arguments or configuration; 3 a source failed to ingest;
4 a quality gate failed. After a failed stage the later stages are not run.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date
from typing import Any

from impact.ops.plan import STAGE_ORDER, PlanError

log = logging.getLogger("impact.runner")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SOURCE, EXIT_GATE = 0, 1, 2, 3, 4

EPILOG = f"""stage order: {' -> '.join(STAGE_ORDER)} (analysis only where impact.analysis is installed;
register only where the profile enables the metastore)

exit codes: 0 ok, 1 any other error, 2 bad arguments or configuration, 3 a source failed to ingest,
4 a quality gate failed. A failed stage stops the run; the tables keep their last committed version.
"""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from error


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf", help="environment config (default: $IMPACT_CONF or conf/local.yaml)")
    parser.add_argument("--warehouse", help="override paths.warehouse")
    parser.add_argument("--raw-root", help="override paths.raw_root")
    parser.add_argument("--master", help="override spark.master (under spark-submit its own --master decides)")
    parser.add_argument("--run-id", help="run id written to every Delta commit and row (default: generated)")
    parser.add_argument("--no-validate", action="store_true", help="skip the Great Expectations checks of ingest")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="impact", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                     formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", metavar="{run,backfill,maintain}")
    sub.required = True

    run = sub.add_parser("run", help="run the stages for one day (--date) or a range", epilog=EPILOG, formatter_class=fmt,
                         description="Run the pipeline for one UTC day or an explicit date range, in one Spark session. "
                                     "--date D: ingest D, then visits and presence for D-1..D (yesterday is rebuilt "
                                     "with today's pings), the analysis over the trailing --analysis-days, then register. --start-date/--end-date: every "
                                     "stage over the same range.")
    _common(run)
    when = run.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", type=_date, help="the daily run for this UTC date (YYYY-MM-DD)")
    when.add_argument("--start-date", type=_date, help="first UTC date of an explicit range")
    run.add_argument("--end-date", type=_date, help="last UTC date of the range (default: --start-date)")
    run.add_argument("--stages", help=f"comma list of stages to run (default: all, in the order {','.join(STAGE_ORDER)})")
    run.add_argument("--source", default="force", help="ingest sources: force (default), public, or a comma list")
    run.add_argument("--lookback-days", type=int, default=1, help="daily run: days before D rebuilt by visits/presence (default 1)")
    run.add_argument("--analysis-days", type=int, default=84,
                     help="daily run: the analysis covers this many dates ending D (default 84, twelve weeks)")

    bf = sub.add_parser("backfill", help="process a long range in resumable date chunks", epilog=EPILOG, formatter_class=fmt,
                        description="Process start..end in chunks of --chunk-days dates: each chunk ingests its dates and "
                                    "rebuilds visits and presence from the previous chunk's last day; analysis and "
                                    "register run once at the end. A checkpoint under <warehouse>/_ops/backfill/ records "
                                    "finished chunks: started again with the same arguments, a killed backfill skips them.")
    _common(bf)
    bf.add_argument("--start-date", type=_date, required=True, help="first UTC date")
    bf.add_argument("--end-date", type=_date, required=True, help="last UTC date")
    bf.add_argument("--chunk-days", type=int, default=7, help="dates per chunk (default 7)")
    bf.add_argument("--stages", help="comma list of stages (default: all)")
    bf.add_argument("--source", default="force", help="ingest sources: force (default), public, or a comma list")
    bf.add_argument("--fresh", action="store_true", help="forget the checkpoint and process every chunk again")

    mt = sub.add_parser("maintain", help="expire old rows, compact small files, VACUUM old versions", formatter_class=fmt,
                        epilog=EPILOG,
                        description="Apply the `maintenance:` settings of the environment file to every table (or "
                                    "--tables): DELETE rows older than keep_days, OPTIMIZE, then VACUUM keeping "
                                    "vacuum_retain_hours of history.")
    _common(mt)
    mt.add_argument("--retain-hours", type=float, help="VACUUM retention in hours (default: maintenance.vacuum_retain_hours)")
    mt.add_argument("--unsafe-retention", action="store_true",
                    help="allow a retention below maintenance.min_vacuum_retain_hours (no reader or job may be running)")
    mt.add_argument("--tables", help="comma list of tables (default: every table under the warehouse)")
    mt.add_argument("--as-of", type=_date, help="date keep_days counts back from (default: today, UTC)")
    return parser


def exit_code_for(error: BaseException | None) -> int:
    """The process exit code for a run that raised `error` (None: success). See the module docstring."""
    from impact.config import ConfigError
    from impact.ops.maintain import UnsafeRetention
    from impact.ops.stages import QualityGateFailed, SourceFailed

    if error is None:
        return EXIT_OK
    if isinstance(error, QualityGateFailed):
        return EXIT_GATE
    if isinstance(error, SourceFailed):
        return EXIT_SOURCE
    if isinstance(error, (PlanError, ConfigError, UnsafeRetention)):
        return EXIT_USAGE
    return EXIT_ERROR


def new_run_id(command: str) -> str:
    from impact.runlog import new_run_id as run_id_for

    return run_id_for(f"impact-{command}")


def execute_stages(spark, settings, plan, run_id: str, source: str = "force", argv: list[str] | None = None,
                   results: list | None = None) -> list:
    """Run the planned stages in order in this session, appending each StageResult to `results`;
    stops at the first failure (re-raised, its result appended with status failed)."""
    from impact.ops.stages import run_stage

    results = [] if results is None else results
    for step in plan:
        try:
            results.append(run_stage(spark, settings, step, run_id, source, argv))
        except Exception as error:
            failed = getattr(error, "stage_result", None)
            if failed is not None:
                results.append(failed)
            raise
    return results


def backfill(spark, settings, start: date, end: date, chunk_days: int, stages: tuple[str, ...], run_id: str,
             source: str = "force", fresh: bool = False, argv: list[str] | None = None,
             results: list | None = None) -> dict[str, Any]:
    """Run a backfill chunk by chunk, skipping chunks the checkpoint records as done."""
    from impact.ops.checkpoint import Checkpoint, backfill_key
    from impact.ops.plan import backfill_chunks, chunk_plan, chunk_progress, final_plan
    from impact.ops.stages import now_utc

    chunks = backfill_chunks(start, end, chunk_days)
    checkpoint = Checkpoint(spark, settings.warehouse, backfill_key(start, end, chunk_days, stages, source))
    if fresh:
        checkpoint.clear()
    done = checkpoint.done()
    results = [] if results is None else results
    skipped = []
    finished = set(done)
    run_seconds, run_days = 0.0, 0
    for chunk in chunks:
        if chunk.key in done:
            log.info("chunk %d/%d %s..%s: done by run %s, skipping", chunk.index, len(chunks), chunk.first,
                     chunk.last, done[chunk.key].get("run_id"))
            skipped.append(chunk.key)
            continue
        log.info("chunk %d/%d %s..%s: started", chunk.index, len(chunks), chunk.first, chunk.last)
        started = now_utc()
        first = len(results)
        execute_stages(spark, settings, chunk_plan(chunk, stages), run_id, source, argv, results)
        steps = results[first:]
        ended = now_utc()
        checkpoint.mark_done(chunk, {"run_id": run_id, "started_at_utc": started.isoformat(),
                                     "finished_at_utc": ended.isoformat(),
                                     "stages": [s.as_json() for s in steps]})
        took = (ended - started).total_seconds()
        finished.add(chunk.key)
        run_seconds, run_days = run_seconds + took, run_days + chunk.days
        log.info("chunk %d/%d %s..%s: done in %.1f s; %s", chunk.index, len(chunks), chunk.first, chunk.last, took,
                 chunk_progress(chunks, finished, run_seconds, run_days))
    execute_stages(spark, settings, final_plan(start, end, stages), run_id, source, argv, results)
    return {"chunks": [c.key for c in chunks], "skipped": skipped, "checkpoint": checkpoint.folder}


def _settings(args: argparse.Namespace):
    from impact.config import load_settings

    settings = load_settings(args.conf).with_overrides(warehouse=args.warehouse, raw_root=args.raw_root,
                                                       spark_master=args.master)
    if args.no_validate:
        settings = settings.without_great_expectations()
    return settings


def _plan(args: argparse.Namespace):
    from impact.ops.plan import daily_plan, parse_stages, range_plan
    from impact.ops.stages import available_stages

    stages = parse_stages(args.stages, available_stages())
    if args.command == "backfill":
        from impact.ops.plan import backfill_chunks

        backfill_chunks(args.start_date, args.end_date, args.chunk_days)      # checks the arguments
        return stages, None
    if args.date:
        if args.end_date:
            raise PlanError("--end-date goes with --start-date, not --date")
        if args.lookback_days < 0 or args.analysis_days < 1:
            raise PlanError("--lookback-days must be >= 0 and --analysis-days >= 1")
        return stages, daily_plan(args.date, stages, args.lookback_days, args.analysis_days)
    return stages, range_plan(args.start_date, args.end_date or args.start_date, stages)


def console_main() -> int:
    """The `impact` console script: `main` in a process with a fixed string-hash seed (D30)."""
    from impact.determinism import pin_hash_seed

    pin_hash_seed()
    return main()


def main(argv: list[str] | None = None) -> int:
    """The runner's command line; returns the process exit code (see module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)                   # exits 2 on bad arguments, 0 on --help
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from impact.config import ConfigError

    try:
        settings = _settings(args)
        if args.command == "maintain":
            from impact.ops.maintain import check_retention, load_maintenance

            mconf = load_maintenance(settings)
            retain = mconf.vacuum_retain_hours if args.retain_hours is None else args.retain_hours
            check_retention(retain, mconf, args.unsafe_retention)
        else:
            stages, plan = _plan(args)
    except (PlanError, ConfigError, ValueError) as error:   # UnsafeRetention is a ValueError
        log.error("%s", error)
        return EXIT_USAGE
    run_id = args.run_id or new_run_id(args.command)
    from impact.ops.stages import QualityGateFailed, SourceFailed, now_utc
    from impact.runlog import code_version, principal
    from impact.session import build_session

    started = now_utc()
    summary: dict[str, Any] = {"run_id": run_id, "command": args.command, "argv": argv, "principal": principal(),
                               "code_version": code_version(), "started_at_utc": started.isoformat(),
                               "warehouse": settings.warehouse}
    code, steps = EXIT_OK, []
    spark = build_session(settings, f"impact-{args.command}")
    try:
        try:
            if args.command == "maintain":
                from impact.ops.maintain import maintain

                from impact.runlog import logged_step

                tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
                with logged_step(spark, settings, "maintain", run_id) as step:
                    summary["maintain"] = maintain(spark, settings, mconf, retain, args.as_of or started.date(), tables,
                                                   args.unsafe_retention)
                    step.rows_read = len(summary["maintain"])
                    step.rows_accepted = sum(int(e.get("rows_deleted", 0)) for e in summary["maintain"].values())
                    step.validation_summary = json.dumps({"retain_hours": retain, "tables": summary["maintain"]}, default=str)
            elif args.command == "backfill":
                summary["backfill"] = backfill(spark, settings, args.start_date, args.end_date, args.chunk_days,
                                               stages, run_id, args.source, args.fresh, argv, steps)
            else:
                execute_stages(spark, settings, plan, run_id, args.source, argv, steps)
        except (SourceFailed, QualityGateFailed) as error:
            log.error("%s", error)
            code = exit_code_for(error)
        except Exception as error:  # noqa: BLE001 - reported with its traceback, then exit 1
            log.exception("run %s failed: %s", run_id, error)
            code = exit_code_for(error)
        summary.update(status="ok" if code == EXIT_OK else "failed", exit_code=code,
                       finished_at_utc=now_utc().isoformat(), stages=[s.as_json() for s in steps])
        try:
            from impact.ops.checkpoint import write_json

            write_json(spark, f"{settings.warehouse.rstrip('/')}/_ops/runs/{run_id}.json", summary)
        except Exception as error:  # noqa: BLE001 - the summary must not hide the run's own result
            log.warning("could not write the run summary: %s", error)
    finally:
        spark.stop()
    log.info("run %s finished: %s (exit %d) in %.1f s", run_id, "ok" if code == EXIT_OK else "FAILED", code,
             (now_utc() - started).total_seconds())
    return code


if __name__ == "__main__":
    sys.exit(console_main())
