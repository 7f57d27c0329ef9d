"""Zones and assignment: ring geometry, overlaps, and the broadcast index join plan."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from impact.spatial.assign import assign_to_zones
from impact.spatial.zones import build_zones

SQUARE = "POLYGON((0 0, 100 0, 100 100, 0 100, 0 0))"
NEAR = "POLYGON((300 0, 400 0, 400 100, 300 100, 300 0))"   # 200 m east of SQUARE


@pytest.fixture(scope="module")
def zones(spark):
    areas = spark.createDataFrame([("A", "impact", SQUARE), ("B", "comparison", NEAR)],
                                  "area_id string, area_status string, geometry_wkt string")
    return build_zones(areas).cache()


def test_zone_areas_and_rings_exclude_every_area(zones):
    got = {r["zone_id"]: r["zone_m2"] for r in zones.collect()}
    assert got["A:area"] == pytest.approx(10_000)
    # ring 0-250 of A: buffered square minus A minus the 50 m x 100 m strip of B inside the buffer
    # (Sedona's buffer is a polygon, about 0.5% smaller than the true rounded square)
    import math
    buffered = 100 * 100 + 4 * 100 * 250 + math.pi * 250 ** 2
    assert got["A:ring_0_250"] == pytest.approx(buffered - 10_000 - 5_000, rel=0.01)
    assert set(got) == {f"{a}:{z}" for a in "AB" for z in ("area", "ring_0_250", "ring_250_500")}


def test_points_land_in_area_and_overlapping_rings(spark, zones):
    points = spark.createDataFrame([("in_a", 50.0, 50.0), ("between", 200.0, 50.0), ("far", 5000.0, 5000.0),
                                    ("ring2_a", 50.0, 400.0)], "pid string, easting double, northing double")
    got = {}
    for r in assign_to_zones(points, zones).collect():
        got.setdefault(r["pid"], set()).add(r["zone_id"])
    assert got["in_a"] == {"A:area"}
    assert got["between"] == {"A:ring_0_250", "B:ring_0_250"}      # rings of neighbours overlap
    assert got["ring2_a"] == {"A:ring_250_500", "B:ring_250_500"}
    assert "far" not in got


def test_assignment_is_a_broadcast_index_join(spark, zones):
    zones = spark.createDataFrame(zones.collect(), zones.schema)     # as the job reads them: from a table
    points = spark.range(1000).select(F.col("id").cast("string").alias("pid"),
                                      (F.col("id") % 500).cast("double").alias("easting"),
                                      F.lit(50.0).alias("northing"))
    plan = assign_to_zones(points, zones)._jdf.queryExecution().executedPlan().toString()
    assert "BroadcastIndexJoin" in plan
    assert "CartesianProduct" not in plan and "NestedLoop" not in plan
