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
unprojects. In Spark both run in vectorised pandas UDFs (below). ETRS89 and WGS84 are taken as one, as OS's guide does at this accuracy. Outside the
OSTN15 grid (0 < E < 700 km, 0 < N < 1,250 km) the result is null: such a point is nowhere in Great Britain.
"""
from __future__ import annotations

import pkgutil
from functools import lru_cache

import numpy as np
import pandas as pd
from pyspark.sql import Column
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
    e, n = wgs84_to_bng_np(_floats(lon), _floats(lat))
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


def wgs84_to_bng(lon: Column, lat: Column) -> Column:
    """struct<easting, northing> (EPSG:27700 metres) from WGS84 lon/lat columns; null off the OSTN15 grid."""
    xy = _to_bng(lon.cast("double"), lat.cast("double"))
    return F.struct(_finite(xy["x"]).alias("easting"), _finite(xy["y"]).alias("northing"))


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
