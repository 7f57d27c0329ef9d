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


def test_the_stored_fingerprint_is_remembered_and_not_trusted_after_another_write(spark, settings):
    """The stored side is fingerprinted once per Delta version (kept in _ops/dimensions/): a later run
    compares against the note; a table written by something else (a new version) is scanned again."""
    from impact.ops.checkpoint import read_json
    from impact.tables import write_table

    settings = settings.with_overrides(warehouse=settings.warehouse + "-dims-note")
    path = settings.table_path("dim_date")
    note = f"{settings.warehouse}/_ops/dimensions/dim_date.json"
    march = date_dim(spark, date(2026, 3, 1), date(2026, 3, 31))
    write_dimension(march, settings, "dim_date")
    remembered = read_json(spark, note)
    assert remembered["version"] == 0 and remembered["fingerprint"]["rows"] == 31

    # written behind the job's back (another version, other content): not skipped on the stale note
    write_table(date_dim(spark, date(2026, 4, 1), date(2026, 4, 30)), settings, "dim_date", None)
    assert table_version(spark, path) == 1
    assert write_dimension(march, settings, "dim_date") == 31
    assert table_version(spark, path) == 2 and read_json(spark, note)["version"] == 2

    # the next run with the same content trusts the note of version 2: no scan of the stored table, no write
    assert write_dimension(march, settings, "dim_date") == 31 and table_version(spark, path) == 2
    assert spark.read.format("delta").load(path).count() == 31
