"""Presence dimensions are rewritten only when their content changes; row counts come from Delta's commit metrics."""
from __future__ import annotations

from datetime import date

from pyspark.sql import functions as F

from impact.presence.calendar import date_dim
from impact.presence.pipeline import rows_written, write_dimension
from impact.tables import table_version


def test_a_dimension_is_written_once_and_again_only_when_it_changes(spark, settings):
    settings = settings.with_overrides(warehouse=settings.warehouse + "-dims")
    path = settings.table_path("dim_date")
    days = date_dim(spark, date(2026, 3, 1), date(2026, 3, 31))
    assert write_dimension(days, settings, "dim_date") == 31
    assert table_version(spark, path) == 0
    assert write_dimension(days.orderBy(F.col("local_date").desc()), settings, "dim_date") == 31   # same rows: no write
    assert table_version(spark, path) == 0
    assert rows_written(spark, settings, "dim_date") == 31
    longer = date_dim(spark, date(2026, 3, 1), date(2026, 4, 2))
    assert write_dimension(longer, settings, "dim_date") == 33
    assert table_version(spark, path) == 1
    assert rows_written(spark, settings, "dim_date") == 33
    changed = longer.withColumn("weekday", F.when(F.col("local_date") == date(2026, 3, 29), "Sun").otherwise(F.col("weekday")))
    write_dimension(changed, settings, "dim_date")                     # one value differs: rewritten
    assert table_version(spark, path) == 2
