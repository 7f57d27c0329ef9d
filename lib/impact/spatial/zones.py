"""Zones: each area's polygon plus buffer rings around it for displacement analysis (BNG metres).

A ring is buffer(outer) minus buffer(inner) (minus the area itself for the first ring) minus every
area polygon, so crime or presence in a ring is never also inside an area. Rings of neighbouring areas
may overlap each other; a point can therefore be in several rings (assignment keeps them all).
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class RingSpec:
    inner_m: float
    outer_m: float

    @property
    def zone_type(self) -> str:
        return f"ring_{self.inner_m:g}_{self.outer_m:g}"


DEFAULT_RINGS = (RingSpec(0, 250), RingSpec(250, 500))


def build_zones(areas: DataFrame, rings: tuple[RingSpec, ...] = DEFAULT_RINGS) -> DataFrame:
    """Area polygons and rings as `area_zones` rows (geometry as BNG WKT)."""
    geoms = areas.select("area_id", "area_status", F.expr("ST_GeomFromWKT(geometry_wkt)").alias("g"))
    all_areas = geoms.agg(F.expr("ST_Union_Aggr(g)").alias("all_g"))
    parts = [geoms.select("area_id", "area_status", F.lit("area").alias("zone_type"), F.lit(0.0).alias("inner_m"),
                          F.lit(0.0).alias("outer_m"), F.col("g").alias("zone_g"))]
    with_all = geoms.crossJoin(all_areas)          # one row: the union of every area
    for ring in rings:
        inner = "g" if ring.inner_m == 0 else f"ST_Buffer(g, {ring.inner_m})"
        ring_g = F.expr(f"ST_Difference(ST_Difference(ST_Buffer(g, {ring.outer_m}), {inner}), all_g)")
        parts.append(with_all.select("area_id", "area_status", F.lit(ring.zone_type).alias("zone_type"),
                                     F.lit(float(ring.inner_m)).alias("inner_m"), F.lit(float(ring.outer_m)).alias("outer_m"),
                                     ring_g.alias("zone_g")))
    zones = parts[0]
    for part in parts[1:]:
        zones = zones.unionByName(part)
    return zones.select(
        F.concat_ws(":", "area_id", "zone_type").alias("zone_id"), "area_id", "area_status", "zone_type",
        "inner_m", "outer_m", F.expr("ST_AsText(zone_g)").alias("geometry_wkt"), F.expr("ST_Area(zone_g)").alias("zone_m2"))
