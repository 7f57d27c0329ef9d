"""The one SparkSession factory: Delta, Sedona, UTC session time zone, jars, profile settings.

Jobs and tests both build their session here, so what is tested is what runs. On the local profile the
jars come from the verified cache (`make jars`); on the cluster profile from the HDFS paths in config.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Mapping

from pyspark.sql import SparkSession

from impact.config import Settings
from impact.jars import local_jars
from impact.serve.metastore import metastore_conf, prepare_jvm

log = logging.getLogger(__name__)

# Settings every profile needs; profile files may add to but not change these.
CORE_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension,org.apache.sedona.sql.SedonaSqlExtensions",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
    "spark.kryo.registrator": "org.apache.sedona.core.serde.SedonaKryoRegistrator",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # A CSV line with more or fewer fields than its header must reach ingest as a malformed row; with
    # column pruning the parser tokenises only the selected columns and cannot tell (issue 9).
    "spark.sql.csv.parser.columnPruning.enabled": "false",
}


def shuffle_partitions_for(input_bytes: int, configured: int = 8, bytes_per_partition: int = 128 * 1024 ** 2,
                           maximum: int = 512) -> int:
    """`spark.sql.shuffle.partitions` for a run reading `input_bytes` of raw input: the configured value,
    raised so that no partition holds more than about `bytes_per_partition` of raw input (128 MiB of ping
    CSV is about 1.9M pings; at 50M, 8 partitions of 6M pings each spilled in a 4g local driver), rounded
    up to a multiple of the configured value. AQE coalesces small shuffles again, so small runs lose nothing."""
    wanted = -(-max(int(input_bytes), 0) // bytes_per_partition)
    if wanted <= configured:
        return configured
    return min(maximum, -(-wanted // configured) * configured)


def jar_list(settings: Settings) -> list[str]:
    """Jar locations for spark.jars: explicit list (cluster) or the verified local cache."""
    if settings.jars:
        return list(settings.jars)
    if settings.jars_lock is None or settings.jars_dir is None:
        raise ValueError("configuration names neither paths.jars nor paths.jars_lock + paths.jars_dir")
    return [str(p) for p in local_jars(settings.jars_lock, settings.jars_dir)]


def under_spark_submit() -> bool:
    """True when this Python driver was started by spark-submit (the JVM is already up: pyspark connects to
    it through PYSPARK_GATEWAY_PORT, java_gateway.launch_gateway) rather than by `python jobs/x.py`."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def _submitted_conf() -> dict[str, str]:
    """The configuration spark-submit gave the already running JVM (its --master, --name, --conf): its system
    properties, which SparkConf reads only once the gateway to that JVM is open."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    return dict(SparkConf().getAll())


def _master_and_name(settings: Settings, app_name: str) -> tuple[str | None, str | None, str]:
    """What to set on the builder (master, name: None for "leave as it is") and the master the session
    will run on. Under spark-submit its --master wins over the config's `spark.master` (conf/local.yaml's
    local[*] would otherwise run a YARN or standalone submission inside the driver), and its --name wins
    over the job's name unless it is spark-submit's default (the application file's name)."""
    if not under_spark_submit():
        return settings.spark_master, app_name, settings.spark_master
    submitted = _submitted_conf()
    master = submitted.get("spark.master")
    if master and master != settings.spark_master:
        log.info("running under spark-submit: master %s from its --master, not %s from %s",
                 master, settings.spark_master, settings.conf_path)
    default_name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else None
    name = submitted.get("spark.app.name")
    return ((None if master else settings.spark_master), (app_name if name in (None, "", default_name) else None),
            master or settings.spark_master)


def build_session(settings: Settings, app_name: str, overrides: Mapping[str, str] | None = None) -> SparkSession:
    """Create (or reuse) the SparkSession for a job, with Sedona registered. Started by spark-submit, the
    session keeps spark-submit's master and --name (see `_master_and_name`)."""
    master, name, effective = _master_and_name(settings, app_name)
    builder = SparkSession.builder
    if master is not None:
        builder = builder.master(master)
    if name is not None:
        builder = builder.appName(name)
    # Hive catalog (metastore.enabled) first, so profile conf and overrides can still change it
    conf = {**metastore_conf(settings), **settings.spark_conf, **(overrides or {}), **CORE_CONF}
    conf["spark.jars"] = ",".join(jar_list(settings))
    conf.setdefault("spark.sql.warehouse.dir", settings.warehouse)
    if str((overrides or {}).get("spark.master", effective)).startswith("local"):
        # Python workers (pandas UDFs) must run the interpreter that has this package installed; pyspark
        # reads PYSPARK_PYTHON when the context starts (spark.pyspark.python only works via spark-submit)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    prepare_jvm(spark, conf)                                # derby.log beside the metastore, not in the cwd
    # Sedona's registration logs one WARN per function it (re)registers: hundreds of lines of noise.
    jvm = spark.sparkContext._jvm
    for noisy in ("org.apache.spark.sql.catalyst.analysis.SimpleFunctionRegistry", "org.apache.spark.sql.types.UDTRegistration"):
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(noisy, jvm.org.apache.logging.log4j.Level.ERROR)
    from sedona.spark import SedonaContext  # imported late: needs the JVM up

    SedonaContext.create(spark)
    log.info("Spark %s session '%s' on %s", spark.version, spark.sparkContext.appName, spark.sparkContext.master)
    return spark
