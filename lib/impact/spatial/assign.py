"""Assign points (pings, crimes, incidents, searches) to zones with a Sedona broadcast index join.

Few polygons (39 areas x 3 zones) and many points: the zones are broadcast and indexed, each point
probes the index, nothing is shuffled. `tests/test_spatial.py` asserts the physical plan is Sedona's
`BroadcastIndexJoin`, never a Cartesian product or nested-loop join.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ZONE_COLUMNS = ["zone_id", "area_id", "area_status", "zone_type"]


def assign_to_zones(points: DataFrame, zones: DataFrame, x: str = "easting", y: str = "northing") -> DataFrame:
    """Every (point, zone containing it) pair: the point's columns plus the zone's id, area, status and
    type. Points in no zone do not appear; a point in overlapping rings appears once per ring."""
    zone_geoms = zones.select(*ZONE_COLUMNS, F.expr("ST_GeomFromWKT(geometry_wkt)").alias("_zone_g"))
    located = points.withColumn("_pt", F.expr(f"ST_Point(`{x}`, `{y}`)"))
    joined = located.join(F.broadcast(zone_geoms), F.expr("ST_Contains(_zone_g, _pt)"), how="inner")
    return joined.drop("_pt", "_zone_g")
