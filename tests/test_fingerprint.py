"""Output fingerprints: order-independent, and one changed value anywhere is caught."""
from __future__ import annotations

import json
from datetime import date, datetime

from pyspark.sql import functions as F

from impact.fingerprint import compare, delta_tables, excluded, fingerprint_frame, fingerprint_warehouse, main

ROWS = [(f"c{i:03d}", date(2026, 3, 16 + i % 2), datetime(2026, 3, 16, i % 24, i % 60), 400_000.0 + i * 0.125,
         None if i % 7 == 0 else f"POINT ({i} {i + 1})", {"bad": i % 3, "late": i % 5}, f"run-{i % 2}")
        for i in range(60)]
SCHEMA = ("collar_number string, fix_date date, fix_at_utc timestamp, easting double, track_wkt string, "
          "reasons map<string,bigint>, ingest_run_id string")


def _frame(spark, rows=ROWS):
    return spark.createDataFrame(rows, SCHEMA)


def test_same_rows_in_any_order_and_partitioning_give_the_same_fingerprint(spark):
    a = fingerprint_frame(_frame(spark), "pings")
    b = fingerprint_frame(_frame(spark, list(reversed(ROWS))).repartition(5, "easting"), "pings")
    assert a == b
    assert a["rows"] == len(ROWS)
    assert a["excluded"] == ["ingest_run_id"]


def test_one_changed_value_is_caught_in_its_column(spark):
    base = fingerprint_frame(_frame(spark), "pings")
    changed = _frame(spark).withColumn("easting", F.when(F.col("collar_number") == "c017", F.col("easting") + 1e-9)
                                       .otherwise(F.col("easting")))
    other = fingerprint_frame(changed, "pings")
    assert other["rows"] == base["rows"]
    assert [c for c in base["columns"] if base["columns"][c] != other["columns"][c]] == ["easting"]
    assert other["all"] != base["all"]


def test_values_swapped_between_rows_are_caught_by_the_combined_hash(spark):
    rows = [list(r) for r in ROWS]
    rows[3][3], rows[4][3] = rows[4][3], rows[3][3]       # every column keeps its values, two rows differ
    base = fingerprint_frame(_frame(spark), "pings")
    swapped = fingerprint_frame(_frame(spark, [tuple(r) for r in rows]), "pings")
    assert swapped["columns"] == base["columns"]
    assert swapped["all"] != base["all"]
    a = {"tables": {"pings": base}}
    assert compare(a, {"tables": {"pings": swapped}}) == ["pings: same column values, but combined differently across rows"]


def test_run_columns_are_excluded_and_rounding_absorbs_last_bit_changes(spark):
    assert excluded("quarantine", "quarantined_at_utc") and excluded("visits", "visits_run_id")
    assert excluded("run_log", "finished_at_utc") and not excluded("pings", "fix_at_utc")
    other_run = _frame(spark).withColumn("ingest_run_id", F.lit("another-run"))
    assert fingerprint_frame(other_run, "pings") == fingerprint_frame(_frame(spark), "pings")
    nudged = (_frame(spark).withColumn("easting", F.col("easting") + 1e-9)
              .withColumn("track_wkt", F.regexp_replace("track_wkt", r"\)$", ".0000000001)")))
    exact = fingerprint_frame(nudged, "pings"), fingerprint_frame(_frame(spark), "pings")
    assert exact[0]["columns"]["easting"] != exact[1]["columns"]["easting"]
    assert exact[0]["columns"]["track_wkt"] != exact[1]["columns"]["track_wkt"]
    rounded = fingerprint_frame(nudged, "pings", round_digits=3), fingerprint_frame(_frame(spark), "pings", round_digits=3)
    assert rounded[0] == rounded[1]


def test_warehouse_fingerprint_and_compare_cli(spark, tmp_path):
    wh = tmp_path / "wh"
    _frame(spark).write.format("delta").partitionBy("fix_date").save(str(wh / "pings"))
    _frame(spark).select("collar_number").distinct().write.format("delta").save(str(wh / "dim_officer"))
    _frame(spark).write.format("delta").save(str(wh / "_staging" / "run-x"))         # skipped
    assert sorted(delta_tables(wh)) == ["dim_officer", "pings"]
    before = fingerprint_warehouse(spark, wh)
    # same rows, rewritten in another order and file layout: identical
    _frame(spark, list(reversed(ROWS))).repartition(3).write.format("delta").mode("overwrite").partitionBy("fix_date").save(str(wh / "pings"))
    again = fingerprint_warehouse(spark, wh)
    assert compare(before, again) == []
    spark.sql(f"UPDATE delta.`{wh / 'pings'}` SET fix_at_utc = fix_at_utc + INTERVAL 1 SECOND WHERE collar_number = 'c042'")
    after = fingerprint_warehouse(spark, wh)
    assert compare(before, after) == ["pings: columns differ: fix_at_utc"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(before))
    b.write_text(json.dumps(after))
    assert main(["--compare", str(a), str(a)]) == 0
    assert main(["--compare", str(a), str(b)]) == 1
