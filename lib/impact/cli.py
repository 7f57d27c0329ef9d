"""The command line shared by the date-window jobs (visits, presence): one place for their flags and checks."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from typing import Callable, Sequence

from impact.config import ConfigError, Settings, load_settings
from impact.runlog import one_line_error

log = logging.getLogger(__name__)


def run_window_job(prog: str, description: str, argv: list[str] | None,
                   check_conf: Callable[[Settings], object],
                   run: Callable[..., object], extra_options: Sequence[tuple[str, str]] = ()) -> int:
    """Parse `--conf --start-date [--end-date] [--warehouse] [--master] [--run-id]` (plus a job's own
    string options `extra_options`: (flag, help)), check the job's config before Spark starts, then
    `run(spark, settings, start, end, run_id, **extras)` in a session stopped afterwards."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--conf", help="environment config (default: $IMPACT_CONF or conf/local.yaml)")
    parser.add_argument("--start-date", type=date.fromisoformat, required=True, help="first UTC date owned")
    parser.add_argument("--end-date", type=date.fromisoformat, help="last UTC date owned (default: start)")
    parser.add_argument("--warehouse", help="override paths.warehouse")
    parser.add_argument("--master", help="override spark.master (under spark-submit its own --master decides)")
    parser.add_argument("--run-id", help="run id (default: generated)")
    for flag, text in extra_options:
        parser.add_argument(flag, help=text)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    end = args.end_date or args.start_date
    if end < args.start_date:
        parser.error("--end-date is before --start-date")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.conf).with_overrides(warehouse=args.warehouse, spark_master=args.master)
        check_conf(settings)                                # fail fast on a bad job config, before Spark
    except (ConfigError, ValueError, TypeError) as error:
        log.error("%s: configuration: %s", prog, error)
        return 2
    from impact.session import build_session

    spark = build_session(settings, f"impact-{prog}")
    try:
        extras = {flag.lstrip("-").replace("-", "_"): None for flag, _ in extra_options}
        run(spark, settings, args.start_date, end, args.run_id, **{k: getattr(args, k) for k in extras})
    except Exception as error:  # noqa: BLE001 - one readable line for the operator; the run log has the row
        log.error("%s failed: %s", prog, one_line_error(error))
        log.debug("%s failure detail", prog, exc_info=error)
        return 1
    finally:
        spark.stop()
    return 0
