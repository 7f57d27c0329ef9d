"""Serving the warehouse by name: Hive metastore registration and the Spark Thrift Server (docs/serving.md).

`main` is the `jobs/serve.py` entry point: register every Delta table under the warehouse as
`<database>.<table>`, then (unless --register-only) serve them over HiveServer2 until Ctrl-C.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from impact.serve.metastore import hive_conf, metastore_conf, register_settings_warehouse, register_tables, register_warehouse
from impact.serve.thrift import ThriftServer, start_thrift_server

__all__ = ["hive_conf", "metastore_conf", "register_tables", "register_warehouse", "start_thrift_server",
           "ThriftServer", "main"]

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="serve", description="Register the warehouse's Delta tables in the metastore and serve them over HiveServer2."
    )
    parser.add_argument("--conf", help="environment config (default: $IMPACT_CONF or conf/local.yaml)")
    parser.add_argument("--warehouse", help="override paths.warehouse")
    parser.add_argument("--database", help="override database (where the tables are registered)")
    parser.add_argument("--master", help="override spark.master (under spark-submit its own --master decides)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=10000, help="HiveServer2 port (default: 10000)")
    parser.add_argument("--auth", default="NONE", choices=["NONE", "NOSASL"],
                        help="hive.server2.authentication: NONE = ODBC 'User Name', NOSASL = 'No Authentication'")
    parser.add_argument("--register-only", action="store_true", help="register the tables, then exit")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from impact.config import load_settings

    settings = load_settings(args.conf).with_overrides(
        warehouse=args.warehouse, database=args.database, spark_master=args.master
    )
    if not settings.metastore_enabled:
        log.info("metastore.enabled is false in %s: enabling it for serving", settings.conf_path)
        settings = settings.with_overrides(metastore_enabled=True)
    from impact.session import build_session

    spark = build_session(settings, "impact-serve")
    server = None
    try:
        from impact.runlog import new_run_id

        names = register_settings_warehouse(spark, settings, new_run_id("register"))
        log.info("registered %d table(s) in %s: %s", len(names), settings.database, ", ".join(names) or "none")
        if args.register_only:
            return 0
        server = start_thrift_server(spark, port=args.port, host=args.host, auth=args.auth)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        log.info("serving %s on %s:%d (HiveServer2, binary transport, auth %s); Ctrl-C to stop",
                 settings.database, args.host, args.port, args.auth)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        if server is not None:
            server.stop()
        spark.stop()
