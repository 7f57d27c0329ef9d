"""Hive-compatible metastore: the Spark conf that turns it on, and registering warehouse Delta folders in it.

The pipeline writes Delta tables by path (`<warehouse>/<table>`, see impact.tables). Registering them as
EXTERNAL tables `<database>.<table>` in a Hive metastore lets anything that speaks HiveServer2 (the Spark
Thrift Server, and through it Qlik's Hive/Spark ODBC connector) find them by name; the data stays where
it is and dropping a registration never deletes files.

Locally the metastore is embedded Derby in `<warehouse>/_metastore/metastore_db` (never the current
directory); on a cluster `metastore.uris` points at the shared metastore service instead. Delta's
`spark_catalog = DeltaCatalog` sits on top of the Hive catalog unchanged.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable, Mapping

from pyspark.sql import SparkSession

from impact.config import ConfigError, Settings
from impact.tables import hadoop_path

log = logging.getLogger(__name__)

METASTORE_DIR = "_metastore"          # under the warehouse; `_` so table discovery skips it
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def default_derby_dir(warehouse: str) -> str | None:
    """`<warehouse>/_metastore/metastore_db` for a local warehouse; None for a remote one (hdfs://...)."""
    local = _local_path(warehouse)
    return None if local is None else f"{local.rstrip('/')}/{METASTORE_DIR}/metastore_db"


def hive_conf(warehouse: str, derby_dir: str | None = None, uris: str | None = None) -> dict[str, str]:
    """Spark conf for the Hive catalog: a metastore service when `uris` is given, else embedded Derby.

    Derby lives in `derby_dir`, else `<warehouse>/_metastore/metastore_db`. A remote warehouse (hdfs://)
    with neither set leaves the metastore to the cluster's hive-site.xml (Spark's conf dir), with a warning.
    Static settings: they must be in the builder before the SparkContext starts (impact.session does that).
    """
    conf = {
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": warehouse,
    }
    if uris:
        conf["spark.hadoop.hive.metastore.uris"] = uris
        return conf
    if derby_dir:
        folder = _local_path(derby_dir)
        if folder is None:
            raise ConfigError(f"metastore.derby_dir {derby_dir} must be a local folder (embedded Derby)")
    else:
        folder = default_derby_dir(warehouse)
        if folder is None:
            log.warning("warehouse %s is remote and metastore.uris is not set: using the metastore of the "
                        "cluster's hive-site.xml", warehouse)
            return conf
    conf.update({
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder};create=true",
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.apache.derby.jdbc.EmbeddedDriver",
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.hive.metastore.schema.verification": "false",
    })
    # Hive's per-session scratch folders beside the metastore, not /tmp/<user> and /tmp/<uuid>_resources
    scratch = f"{folder.rstrip('/').rsplit('/', 1)[0]}/scratch"
    conf.update({
        "spark.hadoop.hive.exec.scratchdir": f"{scratch}/hive",
        "spark.hadoop.hive.exec.local.scratchdir": f"{scratch}/local",
        "spark.hadoop.hive.downloaded.resources.dir": f"{scratch}/resources/${{hive.session.id}}_resources",
        "spark.hadoop.hive.server2.logging.operation.log.location": f"{scratch}/operation_logs",
    })
    return conf


def metastore_conf(settings: Settings) -> dict[str, str]:
    """The Hive catalog conf the settings ask for ({} when `metastore.enabled` is false)."""
    if not settings.metastore_enabled:
        return {}
    return hive_conf(settings.warehouse, settings.metastore_derby_dir, settings.metastore_uris)


def derby_dir_of(conf: Mapping[str, str]) -> str | None:
    """The embedded Derby folder named in a Spark conf, or None (remote or no metastore)."""
    url = conf.get("spark.hadoop.javax.jdo.option.ConnectionURL", "")
    match = re.search(r"databaseName=([^;]+)", url) if url.startswith("jdbc:derby:") else None
    return match.group(1) if match else None


def prepare_jvm(spark: SparkSession, conf: Mapping[str, str]) -> None:
    """Embedded Derby: its log beside the database instead of ./derby.log, and Hive's local scratch folder.

    Runs before the metastore first opens (it opens lazily, on the first catalog use).
    """
    folder = derby_dir_of(conf)
    if folder is None:
        return
    jvm = spark.sparkContext._jvm
    parent = folder.rstrip("/").rsplit("/", 1)[0]
    jvm.java.io.File(parent).mkdirs()
    local_scratch = conf.get("spark.hadoop.hive.exec.local.scratchdir")
    if local_scratch:                       # Thrift sessions list it when they close; Hive does not create it
        jvm.java.io.File(local_scratch).mkdirs()
    if jvm.java.lang.System.getProperty("derby.stream.error.file") is None:
        jvm.java.lang.System.setProperty("derby.stream.error.file", f"{parent}/derby.log")


def check_identifier(name: str, what: str = "table") -> str:
    """A Hive identifier (letters, digits, underscore; not starting with a digit), lower-cased as Hive stores it."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use letters, digits and underscores, starting with a letter or "
            "underscore (at most 128 characters)"
        )
    return name.lower()


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _local_path(location: str | None) -> str | None:
    if location is None:
        return None
    if location.startswith("file://"):
        return location[len("file://"):]
    if location.startswith("file:"):
        return location[len("file:"):]
    return location if "://" not in location else None


def _qualified(spark: SparkSession, location: str) -> str:
    """A location as the metastore stores it (scheme included, no trailing slash), for comparisons."""
    fs, path = hadoop_path(spark, location)
    return fs.makeQualified(path).toUri().toString().rstrip("/")


def _catalog_entry(spark: SparkSession, database: str, name: str):
    """The raw metastore entry of database.name (a Java CatalogTable), or None."""
    jvm = spark.sparkContext._jvm
    catalog = spark._jsparkSession.sessionState().catalog()
    ident = jvm.org.apache.spark.sql.catalyst.TableIdentifier(name, jvm.scala.Some(database))
    if not catalog.tableExists(ident):
        return None
    return catalog.getTableRawMetadata(ident)


def register_tables(spark: SparkSession, database: str, tables: Mapping[str, str]) -> list[str]:
    """Register each `name -> Delta folder` as the external Delta table `database.name`; idempotent.

    Creates the database if needed. A name already registered at the same folder is left alone; one
    registered elsewhere (the warehouse moved) is re-pointed. A name held by a MANAGED table is refused,
    since dropping it would delete its data. Returns the qualified names (lower case, as Hive stores them).
    """
    from delta.tables import DeltaTable

    db = check_identifier(database, "database")
    wanted: dict[str, str] = {}
    for name, location in tables.items():
        table = check_identifier(name)
        if table in wanted:
            raise ValueError(f"table name {name!r} given twice (Hive names are case-insensitive)")
        if not location or not DeltaTable.isDeltaTable(spark, location):
            raise FileNotFoundError(f"no Delta table at {location!r} (for {db}.{table}): write it before registering")
        wanted[table] = location
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    registered = []
    for table, location in sorted(wanted.items()):
        qualified = f"{db}.{table}"
        target = _qualified(spark, location)
        entry = _catalog_entry(spark, db, table)
        if entry is not None:
            current = entry.location().toString().rstrip("/") if entry.storage().locationUri().isDefined() else ""
            provider = entry.provider().get() if entry.provider().isDefined() else ""
            if current == target and provider.lower() == "delta":
                log.info("%s already registered at %s", qualified, target)
                registered.append(qualified)
                continue
            if entry.tableType().name() != "EXTERNAL":
                raise ValueError(
                    f"{qualified} exists as a {entry.tableType().name()} table at {current}: not replacing it "
                    f"(dropping it would delete its data); drop it yourself or choose another database"
                )
            log.info("re-pointing %s: %s -> %s", qualified, current or "(no location)", target)
            spark.sql(f"DROP TABLE `{db}`.`{table}`")           # external: metadata only, files untouched
        spark.sql(f"CREATE TABLE IF NOT EXISTS `{db}`.`{table}` USING DELTA LOCATION {_sql_string(target)}")
        log.info("registered %s -> %s", qualified, target)
        registered.append(qualified)
    return registered


def find_delta_tables(spark: SparkSession, warehouse: str) -> dict[str, str]:
    """`name -> location` for each folder directly under the warehouse holding a `_delta_log` (`_*` skipped)."""
    fs, root = hadoop_path(spark, warehouse)
    if not fs.exists(root):
        raise FileNotFoundError(f"warehouse {warehouse} not found")
    found = {}
    for status in fs.listStatus(root):
        child = status.getPath()
        name = child.getName()
        if not status.isDirectory() or name.startswith(("_", ".")):
            continue
        if fs.exists(spark.sparkContext._jvm.org.apache.hadoop.fs.Path(child, "_delta_log")):
            found[name] = child.toString()
    return dict(sorted(found.items()))


def register_warehouse(spark: SparkSession, warehouse: str, database: str,
                       names: Iterable[str] | None = None) -> list[str]:
    """Register every Delta table folder under the warehouse (or only `names`) in `database`."""
    found = find_delta_tables(spark, warehouse)
    if names is not None:
        names = list(names)
        missing = sorted(set(names) - set(found))
        if missing:
            raise FileNotFoundError(f"no Delta table folder under {warehouse} for: {', '.join(missing)}")
        found = {n: found[n] for n in names}
    if not found:
        log.warning("no Delta tables under %s: nothing to register", warehouse)
    return register_tables(spark, database, found)


def register_settings_warehouse(spark: SparkSession, settings: Settings, run_id: str) -> list[str]:
    """`register_warehouse` for the settings' warehouse and database, leaving a `register` run_log row
    (rows = tables registered; validation_summary names them)."""
    import json

    from impact.runlog import logged_step

    with logged_step(spark, settings, "register", run_id) as step:
        names = register_warehouse(spark, settings.warehouse, settings.database)
        step.rows_read = step.rows_accepted = len(names)
        step.validation_summary = json.dumps({"database": settings.database, "registered": names})
    return names
