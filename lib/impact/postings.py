"""The posting valid at a date: one rule for visits (department / NPU / role) and the marts
(`officer_posting_key`). Pure transform."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def posting_at_date(rows: DataFrame, postings: DataFrame, columns: list[str], date_col: str = "visit_date",
                    row_key: str = "visit_id") -> DataFrame:
    """`rows` (with `collar_number`, `date_col`, unique `row_key`) left-joined to the `columns` of the
    officer's posting valid on `date_col`: valid_from <= date <= valid_to (both inclusive; no valid_to is
    open-ended). Where several are valid the one with the latest valid_from wins; null where none is."""
    p = postings.select(F.col("collar_number").alias("_c"), *columns,
                        F.col("valid_from").alias("_from"), F.col("valid_to").alias("_to"))
    valid = ((F.col("collar_number") == F.col("_c")) & (F.col(date_col) >= F.col("_from"))
             & (F.col(date_col) <= F.coalesce(F.col("_to"), F.lit("9999-12-31").cast("date"))))
    # partitioned by officer too: visits are already distributed by officer, so no shuffle
    latest = Window.partitionBy("collar_number", row_key).orderBy(F.col("_from").desc_nulls_last())
    return (rows.join(p, valid, how="left").withColumn("_r", F.row_number().over(latest))
            .where(F.col("_r") == 1).drop("_c", "_from", "_to", "_r"))
