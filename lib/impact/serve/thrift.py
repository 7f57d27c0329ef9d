"""The Spark Thrift Server (HiveServer2 protocol) inside this process, over an existing SparkSession.

HiveServer2 is what Qlik's Hive/Spark ODBC connectors (Simba/Cloudera drivers) speak. Each client
connection gets its own Spark session sharing this session's catalog, so tables registered with
impact.serve.metastore are visible as `<database>.<table>` and read through Delta.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

AUTH_MODES = ("NONE", "NOSASL")     # NONE: SASL PLAIN, any user name, no password check; NOSASL: raw Thrift


@dataclass
class ThriftServer:
    """A running Thrift server: where it listens and the JVM object that stops it."""

    host: str
    port: int
    auth: str
    _server: object

    def stop(self) -> None:
        """Stop listening (idempotent); the SparkSession stays up."""
        if self._server is not None:
            self._server.stop()
            self._server = None
            log.info("Thrift server on %s:%d stopped", self.host, self.port)

    def __enter__(self) -> "ThriftServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    """Block until host:port accepts connections; TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the Thrift server did not accept connections on {host}:{port} within {timeout_s:.0f} s "
                "(see the Spark log above: port in use, or the server failed to start)"
            )
        time.sleep(0.2)


def _start_in_fresh_thread(spark: SparkSession):
    """HiveThriftServer2.startWithContext, called from a new thread.

    The server takes its HiveConf from the calling JVM thread's Hive SessionState when that thread has one,
    and a py4j thread that has used the Hive metastore (registering tables) has one without the settings
    above, so the server would ignore them (and listen on 10000). A new Python thread gets a new JVM thread
    (PySpark's pinned threads) with no SessionState, so the server builds its conf from this session's.
    """
    outcome: dict[str, object] = {}

    def start() -> None:
        try:
            outcome["server"] = spark.sparkContext._jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
                .startWithContext(spark._jsparkSession.sqlContext())
        except BaseException as error:               # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=start, name="thrift-server-start", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]                       # type: ignore[misc]
    return outcome["server"]


def start_thrift_server(spark: SparkSession, port: int = 10000, host: str = "127.0.0.1", auth: str = "NONE",
                        timeout_s: float = 60.0) -> ThriftServer:
    """Start HiveServer2 (binary transport) on host:port for this session and wait until it accepts connections.

    auth NONE (the HiveServer2 default) takes SASL PLAIN with any user name: Qlik's "User Name" mechanism;
    NOSASL takes plain Thrift: "No Authentication". host 127.0.0.1 keeps it on this machine; only bind a
    wider address behind a network that already restricts who can reach it (there is no password check).
    """
    auth = auth.upper()
    if auth not in AUTH_MODES:
        raise ValueError(f"auth must be one of {AUTH_MODES}, got {auth!r}")
    if spark.conf.get("spark.sql.catalogImplementation", "in-memory") != "hive":
        log.warning("the session has no Hive catalog (metastore.enabled is false): clients see only this "
                    "session's temporary views")
    if port_open(host, port):
        raise OSError(f"{host}:{port} is already in use: choose another --port")
    # Read from the session's conf when the server starts (copied into its HiveConf)
    for key, value in {
        "hive.server2.thrift.port": str(port),
        "hive.server2.thrift.bind.host": host,
        "hive.server2.transport.mode": "binary",
        "hive.server2.authentication": auth,
        "hive.server2.enable.doAs": "false",
    }.items():
        spark.conf.set(key, value)
    jvm = spark.sparkContext._jvm
    # libthrift logs every client disconnect as an ERROR with a stack trace (TTransportException); query
    # errors still reach the client and the Spark log through SparkExecuteStatementOperation
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.thrift.server.TThreadPoolServer", jvm.org.apache.logging.log4j.Level.FATAL
    )
    running = ThriftServer(host=host, port=port, auth=auth, _server=_start_in_fresh_thread(spark))
    try:
        wait_for_port(host, port, timeout_s)
    except BaseException:
        running.stop()
        raise
    log.info("Thrift server (HiveServer2, binary, auth %s) listening on %s:%d", auth, host, port)
    return running
