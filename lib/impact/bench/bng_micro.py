"""Micro-benchmark: WGS84 -> BNG as the pandas UDF (`wgs84_to_bng`) against Spark SQL (`with_bng(...,
outside="null")`), both consumed as `conform._position` consumes them (under `F.when(usable, ...)`, plus
the outside-the-force-area test on both coordinates), in one warm session, CPU seconds of the process tree.

    .venv/bin/python -m impact.bench.bng_micro --rows 1000000 --repeats 2 [--out result.json]

The points (uniform over the force area's lon/lat box, 0.1% without a position) are written once as
Parquet; each variant reads them, converts and sums, so the figures include the scan (the `base` variant
measures the scan and the sums without any conversion).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from impact.bench.run import CpuMeter
from impact.config import load_settings
from impact.session import build_session
from impact.spatial.bng import with_bng, wgs84_to_bng

ROOT = Path(__file__).resolve().parents[3]


def write_points(folder: Path, rows: int, files: int = 4, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    for i in range(files):
        n = rows // files
        lon, lat = rng.uniform(-2.2, -1.4, n), rng.uniform(52.33, 52.66, n)
        missing = rng.random(n) < 0.001
        lon = pa.array(lon, mask=missing)
        pq.write_table(pa.table({"lon": lon, "lat": pa.array(lat)}), folder / f"part-{i}.parquet")


def consume(df: DataFrame, variant: str, box: dict[str, float]) -> DataFrame:
    """The conversion consumed as `conform._position` consumes it, then summed."""
    x, y = F.col("lon"), F.col("lat")
    zero = (F.abs(x) < 1e-6) & (F.abs(y) < 1e-6)
    usable = x.isNotNull() & y.isNotNull() & x.between(-180, 180) & y.between(-90, 90) & ~zero
    if variant == "base":
        east, north = F.when(usable, x), F.when(usable, y)
    elif variant == "udf":
        bng = wgs84_to_bng(x, y)
        east, north = F.when(usable, bng["easting"]), F.when(usable, bng["northing"])
    elif variant == "sql":
        df = with_bng(df, "lon", "lat", "_bng", outside="null")
        bng = F.col("_bng")
        east, north = F.when(usable, bng["easting"]), F.when(usable, bng["northing"])
    else:
        raise ValueError(variant)
    outside = (east < box["min_easting"]) | (east > box["max_easting"]) | (north < box["min_northing"]) | (north > box["max_northing"])
    flagged = usable & F.coalesce(outside, F.lit(True))
    return df.select(east.alias("e"), north.alias("n"), flagged.alias("f")).agg(
        F.sum("e").alias("e"), F.sum("n").alias("n"), F.count(F.when(F.col("f"), 1)).alias("outside"), F.count(F.lit(1)).alias("rows"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from impact.ingest.contract import load_contracts

    box = load_contracts(ROOT / "conf" / "sources.yaml").force_area_bng
    work = Path(tempfile.mkdtemp(prefix="bng-micro-"))
    write_points(work, args.rows)
    settings = load_settings(ROOT / "conf" / "local.yaml").with_overrides(warehouse=str(work / "wh"))
    t0 = time.monotonic()
    spark = build_session(settings, "bng-micro")
    print(f"session {time.monotonic() - t0:.1f}s, master {spark.sparkContext.master}, "
          f"partitions {spark.read.parquet(str(work)).rdd.getNumPartitions()}", flush=True)
    meter = CpuMeter(os.getpid())
    out: dict[str, list[dict]] = {"base": [], "udf": [], "sql": []}
    values = {}
    order = ["base", "udf", "sql"]
    for rep in range(args.repeats + 1):                 # repeat 0 warms up (code generation, Python workers)
        for variant in order:
            meter.mark()
            t = time.monotonic()
            row = consume(spark.read.parquet(str(work)), variant, box).first()
            figures = {"wall_s": round(time.monotonic() - t, 2), **meter.since()}
            values[variant] = row.asDict()
            if rep:
                out[variant].append(figures)
            print(f"{'warm-up' if rep == 0 else f'repeat {rep}'} {variant}: {figures} {row.asDict()}", flush=True)
    report = {"rows": args.rows, "repeats": out, "values": values,
              "cpu_s_median": {k: float(np.median([r["tree_cpu_s"] for r in v])) for k, v in out.items()}}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
