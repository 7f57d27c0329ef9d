"""Metastore registration of warehouse Delta folders, and the Hive catalog conf the profiles ask for."""
from __future__ import annotations

import pytest

from impact.config import ConfigError
from impact.serve.metastore import (check_identifier, derby_dir_of, find_delta_tables, hive_conf,
                                    register_tables, register_warehouse)


def write_delta(spark, path, rows):
    spark.createDataFrame(rows, "zone_id string, minutes double").write.format("delta").mode("overwrite").save(str(path))


@pytest.fixture()
def warehouse(spark, tmp_path):
    wh = tmp_path / "wh"
    write_delta(spark, wh / "fact_a", [("IA01", 10.0), ("IA02", 5.0)])
    write_delta(spark, wh / "dim_b", [("IA01", 0.0)])
    (wh / "not_delta").mkdir()                               # a folder without _delta_log is not a table
    write_delta(spark, wh / "_scratch", [("x", 1.0)])        # `_` folders are the pipeline's own, skipped
    return wh


def test_the_session_has_a_hive_catalog_in_the_warehouse(spark, settings):
    assert spark.conf.get("spark.sql.catalogImplementation") == "hive"
    derby = derby_dir_of({k: v for k, v in spark.sparkContext.getConf().getAll()})
    assert derby == f"{settings.warehouse}/_metastore/metastore_db"


def test_find_delta_tables_lists_only_table_folders(spark, warehouse):
    found = find_delta_tables(spark, str(warehouse))
    assert sorted(found) == ["dim_b", "fact_a"]
    with pytest.raises(FileNotFoundError, match="not found"):
        find_delta_tables(spark, str(warehouse / "missing"))


def test_registration_reads_through_by_name_and_is_idempotent(spark, warehouse):
    names = register_warehouse(spark, str(warehouse), "serve_t1")
    assert names == ["serve_t1.dim_b", "serve_t1.fact_a"]
    total = spark.sql("SELECT sum(minutes) AS m FROM serve_t1.fact_a").first()["m"]
    assert total == 15.0
    assert register_warehouse(spark, str(warehouse), "serve_t1") == names        # second run: no change
    tables = {r.tableName for r in spark.sql("SHOW TABLES IN serve_t1").collect()}
    assert tables == {"dim_b", "fact_a"}
    detail = spark.sql("DESCRIBE TABLE EXTENDED serve_t1.fact_a").collect()
    kinds = {r.col_name: r.data_type for r in detail}
    assert kinds["Type"] == "EXTERNAL" and kinds["Provider"].lower() == "delta"


def test_a_moved_warehouse_is_re_pointed_and_files_are_never_deleted(spark, warehouse, tmp_path):
    register_tables(spark, "serve_t2", {"fact_a": str(warehouse / "fact_a")})
    moved = tmp_path / "moved" / "fact_a"
    write_delta(spark, moved, [("IA09", 1.0)])
    register_tables(spark, "serve_t2", {"fact_a": str(moved)})
    assert spark.sql("SELECT zone_id FROM serve_t2.fact_a").first()["zone_id"] == "IA09"
    # the old folder is intact: dropping an external registration never deletes data
    assert spark.read.format("delta").load(str(warehouse / "fact_a")).count() == 2


def test_a_managed_table_of_the_same_name_is_not_replaced(spark, warehouse):
    spark.sql("CREATE DATABASE IF NOT EXISTS serve_t3")
    spark.sql("CREATE TABLE IF NOT EXISTS serve_t3.fact_a (zone_id string) USING delta")
    with pytest.raises(ValueError, match="MANAGED"):
        register_tables(spark, "serve_t3", {"fact_a": str(warehouse / "fact_a")})


def test_bad_names_and_missing_tables_are_clear_errors(spark, warehouse):
    with pytest.raises(ValueError, match="invalid database name"):
        register_tables(spark, "impact-db", {"fact_a": str(warehouse / "fact_a")})
    with pytest.raises(ValueError, match="invalid table name"):
        register_tables(spark, "serve_t4", {"1fact": str(warehouse / "fact_a")})
    with pytest.raises(FileNotFoundError, match="no Delta table"):
        register_tables(spark, "serve_t4", {"fact_c": str(warehouse / "not_delta")})
    with pytest.raises(FileNotFoundError, match="fact_zz"):
        register_warehouse(spark, str(warehouse), "serve_t4", names=["fact_a", "fact_zz"])
    assert check_identifier("Fact_A") == "fact_a"


def test_hive_conf_embedded_remote_and_cluster_default(tmp_path):
    local = hive_conf(str(tmp_path / "wh"))
    assert local["spark.sql.catalogImplementation"] == "hive"
    assert derby_dir_of(local) == f"{tmp_path}/wh/_metastore/metastore_db"
    remote = hive_conf("hdfs:///warehouse/impact", uris="thrift://meta:9083")
    assert remote["spark.hadoop.hive.metastore.uris"] == "thrift://meta:9083"
    assert derby_dir_of(remote) is None
    cluster = hive_conf("hdfs:///warehouse/impact")                 # left to the cluster's hive-site.xml
    assert "spark.hadoop.javax.jdo.option.ConnectionURL" not in cluster
    with pytest.raises(ConfigError, match="local folder"):
        hive_conf("hdfs:///warehouse/impact", derby_dir="hdfs:///metastore")
