"""WGS84 <-> British National Grid against Ordnance Survey's 40 published OSTN15 test points.

The requirement is 1 m; OSTN15 is the definition of the grid, so the pipeline's transform is held to 1 cm.
Sedona's built-in EPSG:27700 (GeoTools' Helmert) is measured too, so docs/decisions.md D9 stays honest.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from impact.spatial.bng import bng_to_wgs84, bng_to_wgs84_np, geometry_wkt_to_bng, wgs84_to_bng, wgs84_to_bng_np

POINTS = Path(__file__).parent / "data" / "os_ostn15_test_points.csv"
TOLERANCE_M = 0.01
METRES_PER_DEG_LAT = 111_200.0


@pytest.fixture(scope="module")
def os_points() -> pd.DataFrame:
    return pd.read_csv(POINTS, comment="#")


def _lonlat_error_m(lon, lat, ref_lon, ref_lat) -> np.ndarray:
    dy = (np.asarray(lat) - ref_lat) * METRES_PER_DEG_LAT
    dx = (np.asarray(lon) - ref_lon) * METRES_PER_DEG_LAT * np.cos(np.radians(ref_lat))
    return np.hypot(dx, dy)


def test_reference_file_is_the_full_os_set(os_points):
    assert list(os_points.point_id) == [f"TP{i:02d}" for i in range(1, 41)]


def test_spark_wgs84_to_bng_matches_os_points(spark, os_points):
    df = spark.createDataFrame(os_points).select("point_id", "easting", "northing",
                                                 wgs84_to_bng(F.col("lon"), F.col("lat")).alias("bng"))
    got = df.select("point_id", "easting", "northing", "bng.*").toPandas()
    # "bng.*" gives easting/northing twice: the computed pair comes last
    got.columns = ["point_id", "ref_e", "ref_n", "easting", "northing"]
    error = np.hypot(got.easting - got.ref_e, got.northing - got.ref_n)
    assert error.max() < TOLERANCE_M, got.assign(error=error).sort_values("error").tail(3).to_string()


def test_spark_bng_to_wgs84_matches_os_points(spark, os_points):
    got = (spark.createDataFrame(os_points)
           .select("point_id", "lon", "lat", bng_to_wgs84(F.col("easting"), F.col("northing")).alias("wgs"))
           .select("point_id", F.col("lon").alias("ref_lon"), F.col("lat").alias("ref_lat"), "wgs.lon", "wgs.lat")
           .toPandas())
    error = _lonlat_error_m(got.lon, got.lat, got.ref_lon, got.ref_lat)
    assert error.max() < TOLERANCE_M


def test_numpy_twins_match_os_points(os_points):
    e, n = wgs84_to_bng_np(os_points.lon, os_points.lat)
    assert np.hypot(e - os_points.easting, n - os_points.northing).max() < TOLERANCE_M
    lon, lat = bng_to_wgs84_np(os_points.easting, os_points.northing)
    assert _lonlat_error_m(lon, lat, os_points.lon, os_points.lat).max() < TOLERANCE_M


def test_polygon_vertices_go_through_ostn15(spark, os_points):
    tri = os_points[os_points.point_id.isin(["TP12", "TP13", "TP15"])]
    ring = list(zip(tri.lon, tri.lat)) + [(tri.lon.iloc[0], tri.lat.iloc[0])]
    wkt = "POLYGON ((" + ", ".join(f"{x:.11f} {y:.11f}" for x, y in ring) + "))"
    out = (spark.createDataFrame([(wkt,)], "w string")
           .select(geometry_wkt_to_bng(F.col("w"), "EPSG:4326").alias("bng")).first().bng)
    import shapely

    coords = np.asarray(shapely.from_wkt(out).exterior.coords)[:3]
    expected = tri[["easting", "northing"]].to_numpy()
    assert np.abs(coords - expected).max() < TOLERANCE_M


def test_off_grid_is_null_and_unsupported_crs_is_an_error(spark):
    row = (spark.createDataFrame([(-40.0, 10.0)], "lon double, lat double")
           .select(wgs84_to_bng(F.col("lon"), F.col("lat")).alias("b")).first().b)
    assert row.easting is None and row.northing is None
    with pytest.raises(ValueError, match="not supported"):
        geometry_wkt_to_bng(F.col("w"), "EPSG:3857")


def test_sedona_builtin_helmert_is_measured_not_used(spark, os_points):
    """GeoTools has no OSTN15 grid: its EPSG:27700 is the Helmert fit, metres off. Kept as the reason for D9."""
    df = spark.createDataFrame(os_points).selectExpr(
        "easting", "northing", "ST_Transform(ST_Point(lon, lat), 'EPSG:4326', 'EPSG:27700') AS g")
    got = df.selectExpr("easting", "northing", "ST_X(g) AS e", "ST_Y(g) AS n").toPandas()
    error = np.hypot(got.e - got.easting, got.n - got.northing)
    # OS rates the Helmert fit at up to 3.5 m (95%) and about 5 m at worst: sane, but not the 1 m we need
    assert 0.5 < error.mean() < 3.5 and error.max() < 6.0
    assert error.max() > 1.0
    assert math.isfinite(error.sum())
