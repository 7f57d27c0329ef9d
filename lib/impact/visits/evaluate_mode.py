"""Check the foot / vehicle classifier on real labelled traces nobody here generated.

GeoLife (Microsoft Research; Beijing, 2008; walk / bus / taxi / car labels) and a Liverpool bus's AVL
trace (Bus Open Data Service, 2026; all vehicle). Both are outside the West Midlands, so they are
projected to their own UTM zone (metres), then run through the production `with_segments` with its
configured thresholds. Accuracy is time-weighted over segments with a known label.
"""
from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from pyproj import Transformer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from impact.visits.sessionise import VisitParams, with_segments

LABEL_TO_MODE = {"walk": "foot", "car": "vehicle", "taxi": "vehicle", "bus": "vehicle"}   # others excluded
SCHEMA = "collar_number string, fix_at_utc timestamp, easting double, northing double, terminal_type string, label string"


def _project(lon: list[float], lat: list[float], epsg: int) -> tuple[list[float], list[float]]:
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    return list(x), list(y)


def geolife_rows(folder: Path) -> list[tuple]:
    """Fixes of every .plt trajectory with the label whose interval contains them (None if none)."""
    labels = []
    with open(folder / "labels.txt") as handle:
        next(handle)
        for line in handle:
            start, end, mode = line.rstrip("\n").split("\t")
            labels.append((datetime.strptime(start, "%Y/%m/%d %H:%M:%S"), datetime.strptime(end, "%Y/%m/%d %H:%M:%S"), mode))
    rows = []
    for plt in sorted((folder / "Trajectory").glob("*.plt")):
        fixes = []
        for line in plt.read_text().splitlines()[6:]:
            lat, lon, _, _, _, day, time = line.split(",")
            fixes.append((float(lon), float(lat), datetime.strptime(f"{day} {time}", "%Y-%m-%d %H:%M:%S")))
        x, y = _project([f[0] for f in fixes], [f[1] for f in fixes], 32650)          # UTM 50N (Beijing)
        for (lon, lat, t), e, n in zip(fixes, x, y):
            label = next((m for s, en, m in labels if s <= t <= en), None)
            rows.append((f"geolife-{plt.stem}", t, e, n, "unknown", label))
    return rows


def bus_rows(path: Path) -> list[tuple]:
    with open(path, newline="") as handle:
        fixes = [(float(r["longitude"]), float(r["latitude"]), datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S"),
                  r["vehicle_id"]) for r in csv.DictReader(handle)]
    x, y = _project([f[0] for f in fixes], [f[1] for f in fixes], 32630)              # UTM 30N (Liverpool)
    return [(f"bus-{v}", t, e, n, "unknown", "bus") for (_, _, t, v), e, n in zip(fixes, x, y)]


def mode_accuracy(spark: SparkSession, rows: list[tuple], params: VisitParams) -> DataFrame:
    """Per true mode: labelled seconds, seconds classified foot / vehicle / uncertain, time-weighted
    `accuracy`, and `fix_accuracy` (share of labelled fixes classified right)."""
    pings = spark.createDataFrame(rows, SCHEMA)
    segs = with_segments(pings.drop("label"), params).join(pings.select("collar_number", "fix_at_utc", "label"),
                                                            on=["collar_number", "fix_at_utc"], how="inner")
    truth = F.create_map(*[F.lit(v) for kv in LABEL_TO_MODE.items() for v in kv])[F.col("label")]
    scored = segs.where(truth.isNotNull() & (F.col("seg_s") <= params.max_gap_s)).withColumn("true_mode", truth)
    right = F.col("seg_mode") == F.col("true_mode")
    return (scored.groupBy("true_mode").agg(
        F.sum("seg_s").alias("seconds"),
        *[F.sum(F.when(F.col("seg_mode") == m, F.col("seg_s")).otherwise(0)).alias(f"as_{m}") for m in ("foot", "vehicle", "uncertain")],
        F.count("*").alias("fixes"), F.avg(right.cast("double")).alias("fix_accuracy"))
        .withColumn("accuracy", F.when(F.col("true_mode") == "foot", F.col("as_foot")).otherwise(F.col("as_vehicle")) / F.col("seconds")))
