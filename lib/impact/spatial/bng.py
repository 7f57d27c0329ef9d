"""WGS84 <-> British National Grid (EPSG:27700) to Ordnance Survey's definitive OSTN15 accuracy.

Why not plain ``ST_Transform(g, 'EPSG:4326', 'EPSG:27700')``: GeoTools (inside Sedona) has no OSTN15 grid,
so it falls back to the 7-parameter Helmert transformation, which OS rates at "up to 3.5 m (95%)". Against
OS's 40 published test points it is 1.9 m off on average and 4.9 m at worst (1.65 m at TP12, the point
nearest the West Midlands; tests/test_bng.py measures it). OSTN15 *is* the definition of the National Grid,
so the pipeline uses it, in two exact steps (docs/decisions.md, D9):

1. Project WGS84 / ETRS89 longitude-latitude with the National Grid's Transverse Mercator on the GRS80
   ellipsoid (pyproj; a projection within one datum, exact to the formula).
2. Add the OSTN15 shift (a 1 km grid of easting / northing offsets, bilinearly interpolated) to get OSGB36
   National Grid coordinates. The grid is Ordnance Survey's data as packed in the ``osgb`` package (MIT;
   OS data under OS's OSTN15 licence).

The reverse removes the shift by fixed-point iteration (converges to < 0.1 mm in four rounds) and then
unprojects. ETRS89 and WGS84 are taken as one, as OS's guide does at this accuracy. Outside the OSTN15 grid
(0 < E < 700 km, 0 < N < 1,250 km) the result is null: such a point is nowhere in Great Britain.

In Spark, WGS84 -> BNG (every ping: the hot path) can run as plain Spark SQL, no Python: the transverse
Mercator in closed form (Krueger's series to sixth order in n, as in Karney 2011 and PROJ's default tmerc:
within 4 nm of pyproj; the OS guide's Redfearn series is only good to about a millimetre) and the OSTN15
bilinear shift read from two array literals holding the grid nodes of a region (:data:`FORCE_REGION_KM`,
the West Midlands force area with a margin: 67 x 49 nodes). A point outside the region (rare: it is then
outside the force area) goes through the pandas UDF with the whole grid, so the result is the same
everywhere; Spark still hands every row to that UDF, but the SQL rows are masked to null, which Python
skips. :func:`with_bng` (a DataFrame step) is the fast form; :func:`wgs84_to_bng` (a Column) stays on
the UDF by default, for the reason in its docstring. BNG -> WGS84 (small sources and geometries) stays
in pandas UDFs.
"""
from __future__ import annotations

import pkgutil
from functools import lru_cache

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

# The National Grid's Transverse Mercator on GRS80 (ETRS89), before the OSTN15 shift.
NATIONAL_GRID_TM_PROJ = (
    "+proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 +ellps=GRS80 +units=m +no_defs"
)

_GRID_COLS, _GRID_ROWS = 701, 1251          # 1 km nodes, E 0..700 km, N 0..1250 km
_EAST_BASE_MM, _NORTH_BASE_MM = 82140, -84180
_INVERSE_ROUNDS = 4
SUPPORTED_CRS = ("EPSG:4326", "EPSG:27700")

# The National Grid projection's parameters (OS guide, table A.1) on GRS80, for the Spark SQL version.
_A, _F = 6378137.0, 1 / 298.257222101
_K0, _LAT0, _LON0, _FE, _FN = 0.9996012717, 49.0, -2.0, 400_000.0, -100_000.0
# Grid nodes (km, inclusive) the SQL shift covers: the force-area box of conf/sources.yaml (E 386-440 km,
# N 272-308 km, already 2 km wide of the boundary) widened by 6 km; the projected (pre-shift) position
# differs from the National Grid one by under 150 m, so every accepted ping is well inside.
FORCE_REGION_KM = (380, 266, 446, 314)


@lru_cache(maxsize=1)
def _grids() -> tuple[np.ndarray, np.ndarray]:
    def load(name: str, base_mm: int) -> np.ndarray:
        data = pkgutil.get_data("osgb", name)
        if data is None:
            raise RuntimeError(f"OSTN15 shift table {name} missing from the osgb package")
        raw = np.frombuffer(data, dtype="<u2").astype(np.float64)
        if raw.size != _GRID_COLS * _GRID_ROWS:
            raise RuntimeError(f"OSTN15 shift table {name}: {raw.size} values, expected {_GRID_COLS * _GRID_ROWS}")
        return ((raw + base_mm) / 1000.0).reshape(_GRID_ROWS, _GRID_COLS)

    return load("ostn_east_shift_82140", _EAST_BASE_MM), load("ostn_north_shift_-84180", _NORTH_BASE_MM)


def ostn15_shifts(x, y) -> tuple[np.ndarray, np.ndarray]:
    """OSTN15 (easting, northing) shifts in metres at ETRS89 Transverse Mercator coordinates; NaN off the grid."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    east, north = _grids()
    ok = (x > 0) & (x < 700_000) & (y > 0) & (y < 1_250_000)
    xs, ys = np.where(ok, x, 1.0) / 1000.0, np.where(ok, y, 1.0) / 1000.0
    ek, nk = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    t, u = xs - ek, ys - nk

    def interpolate(grid: np.ndarray) -> np.ndarray:
        value = ((1 - t) * (1 - u) * grid[nk, ek] + t * (1 - u) * grid[nk, ek + 1]
                 + (1 - t) * u * grid[nk + 1, ek] + t * u * grid[nk + 1, ek + 1])
        return np.where(ok, value, np.nan)

    return interpolate(east), interpolate(north)


def tm_to_bng(x, y) -> tuple[np.ndarray, np.ndarray]:
    """ETRS89 Transverse Mercator -> OSGB36 National Grid (add the OSTN15 shift)."""
    se, sn = ostn15_shifts(x, y)
    return np.asarray(x, dtype=np.float64) + se, np.asarray(y, dtype=np.float64) + sn


def bng_to_tm(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """OSGB36 National Grid -> ETRS89 Transverse Mercator (remove the OSTN15 shift by iteration)."""
    e = np.asarray(easting, dtype=np.float64)
    n = np.asarray(northing, dtype=np.float64)
    x, y = e, n
    for _ in range(_INVERSE_ROUNDS):
        se, sn = ostn15_shifts(x, y)
        x, y = e - se, n - sn
    return x, y


@lru_cache(maxsize=1)
def _pyproj_tm():
    from pyproj import Transformer

    return (Transformer.from_crs("EPSG:4326", NATIONAL_GRID_TM_PROJ, always_xy=True),
            Transformer.from_crs(NATIONAL_GRID_TM_PROJ, "EPSG:4326", always_xy=True))


def wgs84_to_bng_np(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`wgs84_to_bng` (pyproj projects, OSTN15 shifts): for the demo generator."""
    x, y = _pyproj_tm()[0].transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return tm_to_bng(x, y)


def bng_to_wgs84_np(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`bng_to_wgs84`: (lon, lat) in degrees."""
    x, y = bng_to_tm(easting, northing)
    lon, lat = _pyproj_tm()[1].transform(x, y)
    return np.asarray(lon), np.asarray(lat)


# ---------------------------------------------------------------- Spark columns
# One vectorised pandas UDF per direction, running the numpy twins above. Not Sedona's ST_Transform: to the
# EPSG:27700 code it applies the Helmert fit (metres off), and a CRS given as WKT is parsed again for every
# row (measured: about 1,000x slower than this), so Sedona is kept for what it is good at, the spatial joins.

_XY = StructType([StructField("x", DoubleType()), StructField("y", DoubleType())])


def _floats(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


@pandas_udf(_XY)
def _to_bng(lon: pd.Series, lat: pd.Series) -> pd.DataFrame:
    lon_, lat_ = _floats(lon), _floats(lat)
    e, n = np.full(lon_.shape, np.nan), np.full(lon_.shape, np.nan)
    todo = np.isfinite(lon_) & np.isfinite(lat_)          # masked rows (the SQL path's) cost nothing here
    if todo.any():
        e[todo], n[todo] = wgs84_to_bng_np(lon_[todo], lat_[todo])
    return pd.DataFrame({"x": e, "y": n})


@pandas_udf(_XY)
def _to_wgs84(e: pd.Series, n: pd.Series) -> pd.DataFrame:
    lon, lat = bng_to_wgs84_np(_floats(e), _floats(n))
    return pd.DataFrame({"x": lon, "y": lat})


def _transform_wkt(wkt: pd.Series, fn) -> pd.Series:
    import shapely

    geoms = shapely.from_wkt(wkt.to_numpy(dtype=object), on_invalid="ignore")
    out = shapely.transform(geoms, lambda xy: np.column_stack(fn(xy[:, 0], xy[:, 1])))
    return pd.Series(shapely.to_wkt(out, rounding_precision=-1), index=wkt.index, dtype=object).where(wkt.notna(), None)


@pandas_udf(StringType())
def _wkt_to_bng(wkt: pd.Series) -> pd.Series:
    return _transform_wkt(wkt, wgs84_to_bng_np)


@pandas_udf(StringType())
def _wkt_to_wgs84(wkt: pd.Series) -> pd.Series:
    return _transform_wkt(wkt, bng_to_wgs84_np)


def _finite(c: Column) -> Column:
    return F.when(~F.isnan(c), c)


@lru_cache(maxsize=1)
def _kruger() -> tuple[float, float, tuple[float, ...], float]:
    """(e, k0 * A, alpha_1..6, xi of the true origin's latitude) of Krueger's series for GRS80."""
    n = _F / (2 - _F)
    e = (_F * (2 - _F)) ** 0.5
    big_a = _A / (1 + n) * (1 + n ** 2 / 4 + n ** 4 / 64 + n ** 6 / 256)
    alpha = (
        n / 2 - 2 * n ** 2 / 3 + 5 * n ** 3 / 16 + 41 * n ** 4 / 180 - 127 * n ** 5 / 288 + 7891 * n ** 6 / 37800,
        13 * n ** 2 / 48 - 3 * n ** 3 / 5 + 557 * n ** 4 / 1440 + 281 * n ** 5 / 630 - 1983433 * n ** 6 / 1935360,
        61 * n ** 3 / 240 - 103 * n ** 4 / 140 + 15061 * n ** 5 / 26880 + 167603 * n ** 6 / 181440,
        49561 * n ** 4 / 161280 - 179 * n ** 5 / 168 + 6601661 * n ** 6 / 7257600,
        34729 * n ** 5 / 80640 - 3418889 * n ** 6 / 1995840,
        212378941 * n ** 6 / 319334400,
    )
    tau = np.tan(np.radians(_LAT0))
    sigma = np.sinh(e * np.arctanh(e * tau / np.sqrt(1 + tau ** 2)))
    xi0p = np.arctan(tau * np.sqrt(1 + sigma ** 2) - sigma * np.sqrt(1 + tau ** 2))
    xi0 = xi0p + sum(a * np.sin(2 * j * xi0p) for j, a in enumerate(alpha, start=1))
    return e, _K0 * big_a, alpha, float(xi0)


def _tm_sql(lon: Column, lat: Column) -> tuple[Column, Column]:
    """The National Grid's transverse Mercator on GRS80 as Spark SQL: (x, y) metres, before OSTN15."""
    e, k0a, alpha, xi0 = _kruger()
    phi, lam = F.radians(lat), F.radians(lon - F.lit(_LON0))
    tau = F.tan(phi)
    sigma = F.sinh(F.lit(e) * F.atanh(F.lit(e) * tau / F.sqrt(1 + tau * tau)))
    taup = tau * F.sqrt(1 + sigma * sigma) - sigma * F.sqrt(1 + tau * tau)
    coslam = F.cos(lam)
    xip = F.atan2(taup, coslam)
    etap = F.asinh(F.sin(lam) / F.sqrt(taup * taup + coslam * coslam))
    xi, eta = xip, etap
    for j, a in enumerate(alpha, start=1):
        xi = xi + F.lit(a) * F.sin(2 * j * xip) * F.cosh(2 * j * etap)
        eta = eta + F.lit(a) * F.cos(2 * j * xip) * F.sinh(2 * j * etap)
    return F.lit(_FE) + F.lit(k0a) * eta, F.lit(_FN) + F.lit(k0a) * (xi - F.lit(xi0))


@lru_cache(maxsize=4)
def _region_nodes(region_km: tuple[int, int, int, int]) -> tuple[int, list[float], list[float]]:
    """(row width, east shifts, north shifts) of the OSTN15 nodes in `region_km`, row by row (metres)."""
    e0, n0, e1, n1 = region_km
    if not (0 <= e0 < e1 <= _GRID_COLS - 1 and 0 <= n0 < n1 <= _GRID_ROWS - 1):
        raise ValueError(f"region {region_km} is not inside the OSTN15 grid (0..700 km, 0..1250 km)")
    east, north = _grids()
    return e1 - e0 + 1, east[n0:n1 + 1, e0:e1 + 1].ravel().tolist(), north[n0:n1 + 1, e0:e1 + 1].ravel().tolist()


def _array_literal(values: list[float]) -> Column:
    """A double array as one Catalyst literal, handed to the JVM as bytes in a few py4j calls.

    `F.lit(list)` builds `array(lit(v1), lit(v2), ...)`: a py4j call and a child expression per element
    (3,283 per OSTN15 grid of the force region, both grids used four times each), which took 4-7 s of
    driver time every time a query converting positions was built (issue 11, tenth round). Same values,
    same results; without an active SparkContext (no JVM yet), `F.lit(list)` as before."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        return F.lit(values)
    jvm = sc._jvm
    doubles = sc._gateway.new_array(jvm.double, len(values))
    jvm.java.nio.ByteBuffer.wrap(bytearray(np.asarray(values, dtype=">f8").tobytes())).asDoubleBuffer().get(doubles)
    return Column(jvm.org.apache.spark.sql.functions.lit(doubles))


def _shift_sql(x: Column, y: Column, region_km: tuple[int, int, int, int]) -> tuple[Column, Column, Column]:
    """(inside the region, x + east shift, y + north shift): the bilinear OSTN15 shift, as numpy computes it."""
    e0, n0, e1, n1 = region_km
    width, east, north = _region_nodes(region_km)
    xs, ys = x / 1000.0, y / 1000.0
    ek, nk = F.floor(xs), F.floor(ys)
    t, u = xs - ek, ys - nk
    inside = (xs >= e0) & (xs < e1) & (ys >= n0) & (ys < n1)
    i00 = F.when(inside, ((nk - n0) * width + (ek - e0)).cast("int"))
    i10, i01, i11 = i00 + 1, i00 + width, i00 + width + 1

    def interpolate(values: list[float]) -> Column:
        g = _array_literal(values)                          # one array literal per grid: a few thousand doubles
        return ((1 - t) * (1 - u) * g[i00] + t * (1 - u) * g[i10] + (1 - t) * u * g[i01] + t * u * g[i11])

    return inside, x + interpolate(east), y + interpolate(north)


def wgs84_to_bng_sql(lon: Column, lat: Column, region_km: tuple[int, int, int, int] = FORCE_REGION_KM
                     ) -> tuple[Column, Column, Column]:
    """(inside `region_km`, easting, northing): the pure Spark SQL conversion, valid where `inside` is true."""
    x, y = _tm_sql(lon.cast("double"), lat.cast("double"))
    inside, east, north = _shift_sql(x, y, tuple(region_km))
    return F.coalesce(inside, F.lit(False)), east, north


@lru_cache(maxsize=4)
def _lonlat_box(region_km: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of a lon/lat box whose points all project inside `region_km`
    less 1 km: a cheap test that decides, before any trigonometry, which rows the SQL path takes."""
    inverse, forward = _pyproj_tm()[1], _pyproj_tm()[0]
    e0, n0, e1, n1 = (v * 1000.0 for v in region_km)
    s = np.linspace(0.0, 1.0, 201)
    (lon_left, _), (lon_right, _) = inverse.transform(np.full_like(s, e0 + 1000), n0 + 1000 + s * (n1 - n0 - 2000)), \
        inverse.transform(np.full_like(s, e1 - 1000), n0 + 1000 + s * (n1 - n0 - 2000))
    (_, lat_bottom), (_, lat_top) = inverse.transform(e0 + 1000 + s * (e1 - e0 - 2000), np.full_like(s, n0 + 1000)), \
        inverse.transform(e0 + 1000 + s * (e1 - e0 - 2000), np.full_like(s, n1 - 1000))
    box = (float(np.max(lon_left)), float(np.max(lat_bottom)), float(np.min(lon_right)), float(np.min(lat_top)))
    edge_lon = np.concatenate([np.full_like(s, box[0]), np.full_like(s, box[2]), box[0] + s * (box[2] - box[0]), box[0] + s * (box[2] - box[0])])
    edge_lat = np.concatenate([box[1] + s * (box[3] - box[1]), box[1] + s * (box[3] - box[1]), np.full_like(s, box[1]), np.full_like(s, box[3])])
    x, y = forward.transform(edge_lon, edge_lat)
    if not ((x > e0) & (x < e1) & (y > n0) & (y < n1)).all():
        raise RuntimeError(f"lon/lat box {box} does not project inside region {region_km}")
    return box


def wgs84_to_bng(lon: Column, lat: Column, region_km: tuple[int, int, int, int] | None = None) -> Column:
    """struct<easting, northing> (EPSG:27700 metres) from WGS84 lon/lat columns; null off the OSTN15 grid.

    By default the pandas UDF (every row through Python). With `region_km` (grid nodes in km: E0, N0, E1,
    N1, e.g. :data:`FORCE_REGION_KM`) Spark SQL inside it and the UDF elsewhere (the same result to a few
    nanometres); but only where the result is not consumed under a condition: Spark does not eliminate
    common subexpressions inside CASE WHEN branches, so ``F.when(usable, wgs84_to_bng(...))`` would
    recompute the trigonometry dozens of times per row. :func:`with_bng` is the fast form for that case."""
    lon, lat = lon.cast("double"), lat.cast("double")
    if region_km is None:
        xy = _to_bng(lon, lat)
        return F.struct(_finite(xy["x"]).alias("easting"), _finite(xy["y"]).alias("northing"))
    lo0, la0, lo1, la1 = _lonlat_box(tuple(region_km))
    inside = F.coalesce(lon.between(lo0, lo1) & lat.between(la0, la1), F.lit(False))
    _, east, north = wgs84_to_bng_sql(lon, lat, region_km)
    rest = _to_bng(F.when(~inside, lon), F.when(~inside, lat))
    return F.struct(F.when(inside, east).otherwise(_finite(rest["x"])).alias("easting"),
                    F.when(inside, north).otherwise(_finite(rest["y"])).alias("northing"))


def with_bng(df: DataFrame, lon: str, lat: str, name: str = "bng",
             region_km: tuple[int, int, int, int] = FORCE_REGION_KM, outside: str = "udf") -> DataFrame:
    """`df` plus a struct<easting, northing> column `name` (the same values as :func:`wgs84_to_bng`),
    computed in projections of their own: the transverse Mercator once per row (two plain double columns,
    which Spark does not inline into the consumer because they are expensive and used many times), then
    the OSTN15 shift. Use this instead of the Column function when the result is consumed under a
    condition (``F.when(usable, ...)``): Spark's common-subexpression elimination skips CASE WHEN
    branches, so the Column form would recompute the trigonometry for every use of an intermediate.

    `outside` says what a point outside the region gets: "udf" (default) the pandas UDF with the whole
    grid, exact everywhere, but Spark then hands every row to Python (the region's rows as nulls); "null"
    no value and no Python at all, for callers to whom such a point is out of bounds anyway (ingest: the
    region holds the force-area box with kilometres to spare, and a null position is quarantined as
    `outside_force_area` just as an out-of-box one is)."""
    if outside not in ("udf", "null"):
        raise ValueError(f"outside must be 'udf' or 'null', not {outside!r}")
    lon_c, lat_c = F.col(lon).cast("double"), F.col(lat).cast("double")
    lo0, la0, lo1, la1 = _lonlat_box(tuple(region_km))
    tx, ty, tin = f"__{name}_tm_x", f"__{name}_tm_y", f"__{name}_in"
    x, y = _tm_sql(lon_c, lat_c)
    inside = F.coalesce(lon_c.between(lo0, lo1) & lat_c.between(la0, la1), F.lit(False))
    # unconditional, so that x and y share their intermediates (CSE); outside the box the value is unused
    staged = df.withColumns({tin: inside, tx: x, ty: y})
    _, east, north = _shift_sql(F.col(tx), F.col(ty), tuple(region_km))
    if outside == "udf":
        rest = _to_bng(F.when(~F.col(tin), lon_c), F.when(~F.col(tin), lat_c))
        rest_e, rest_n = _finite(rest["x"]), _finite(rest["y"])
    else:
        rest_e = rest_n = F.lit(None).cast("double")
    out = F.struct(F.when(F.col(tin), east).otherwise(rest_e).alias("easting"),
                   F.when(F.col(tin), north).otherwise(rest_n).alias("northing"))
    return staged.withColumn(name, out).drop(tx, ty, tin)


def bng_to_wgs84(easting: Column, northing: Column) -> Column:
    """struct<lon, lat> (WGS84 degrees) from National Grid easting / northing columns."""
    xy = _to_wgs84(easting.cast("double"), northing.cast("double"))
    return F.struct(_finite(xy["x"]).alias("lon"), _finite(xy["y"]).alias("lat"))


def geometry_wkt_to_bng(wkt: Column, crs: str) -> Column:
    """A WKT geometry column in ``crs`` as National Grid WKT (every vertex through OSTN15)."""
    if crs == "EPSG:27700":
        return wkt
    if crs != "EPSG:4326":
        raise ValueError(f"geometry crs {crs!r} not supported: use one of {', '.join(SUPPORTED_CRS)}")
    return _wkt_to_bng(wkt)


def geometry_wkt_to_wgs84(wkt: Column) -> Column:
    """A National Grid WKT geometry column as WGS84 lon/lat WKT (for web maps such as Qlik's)."""
    return _wkt_to_wgs84(wkt)
