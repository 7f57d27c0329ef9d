"""Check the foot / vehicle mode on real labelled traces nobody here generated.

GeoLife (Microsoft Research; Beijing, 2007-2011; walk / bike / bus / car / taxi / train / subway labels)
and a Liverpool bus's AVL trace (Bus Open Data Service, 2026; all vehicle). Both are outside the West
Midlands, so they are projected to their own UTM zone (metres) and run through the production
`clean_pings` -> `with_segments` -> `sessionise` with the configured parameters.

**Split, fixed before any tuning** (docs/visits.md): the parameters were tuned on GeoLife users
TUNING_USERS only; the figures reported and asserted are those of EVALUATION_USERS and the bus.

Evaluation protocol (what `evaluate` does):
- Labels: a fix takes the label of the span containing it; a fix inside two spans with different modes
  is `label_conflict`, and a fix labelled walk whose speed on the full-cadence trace (displacement over
  +-`IMPOSSIBLE_WINDOW_S`) exceeds `IMPOSSIBLE_WALK_MPS` is `impossible_walk`. Both stay in the input (the
  classifier never sees labels) but are excluded from scoring, and counted.
- Radio cadence: each trace is thinned to one fix every 30 s (`30s`), and to a seeded random mix of
  60-120 s steps (`60-120s`).
- Per fix: the `seg_mode` of each labelled fix. Visit level: the shipped `sessionise` on a synthetic grid
  of square zones `CELL_M` on a side covering the trace (an Impact Area is a few hundred metres across);
  each labelled fix is scored with the `mode` of the visit it belongs to.
- By time: each fix weighs the seconds since the previous fix (segments over `max_gap_s` weigh nothing:
  no speed is measured across them); by fix: each fix weighs one.
"""
from __future__ import annotations

import bisect
import csv
import math
import random
from datetime import datetime
from pathlib import Path

from pyproj import Transformer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from impact.visits.sessionise import VisitParams, clean_pings, sessionise, with_segments

TUNING_USERS = ("010", "078")                    # parameters set on these only
EVALUATION_USERS = ("084", "128", "167")         # reported and asserted, with the Liverpool bus
SCORED = {"walk": "foot", "car": "vehicle", "taxi": "vehicle", "bus": "vehicle"}
REPORTED = ("bike", "train", "subway")           # reported (what they are called), not scored
CADENCES = ("30s", "60-120s")
CELL_M = 400.0                                   # side of the synthetic zones for the visit-level score
IMPOSSIBLE_WALK_MPS = 7.0                        # no one walks (or jogs for long) faster than this
IMPOSSIBLE_WINDOW_S = 30.0
SEED = 13
SCHEMA = ("collar_number string, fix_at_utc timestamp, easting double, northing double, terminal_type string, "
          "trace string, label string, excluded string, cadence string")


def _project(lon: list[float], lat: list[float], epsg: int) -> tuple[list[float], list[float]]:
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    return list(x), list(y)


def _read_labels(path: Path) -> list[tuple[datetime, datetime, str]]:
    spans = []
    with open(path) as handle:
        next(handle)
        for line in handle:
            if line.strip():
                start, end, mode = line.rstrip("\n").split("\t")
                spans.append((datetime.strptime(start, "%Y/%m/%d %H:%M:%S"), datetime.strptime(end, "%Y/%m/%d %H:%M:%S"), mode))
    return sorted(spans)


def _label_of(spans: list, starts: list, t: datetime) -> tuple[str | None, str | None]:
    """(label, exclusion): the mode of the span(s) containing t; `label_conflict` if they disagree."""
    i = bisect.bisect_right(starts, t)
    modes = {m for s, e, m in spans[max(0, i - 20):i] if s <= t <= e}
    if not modes:
        return None, None
    if len(modes) > 1:
        return None, "label_conflict"
    return modes.pop(), None


def _impossible(fixes: list[tuple[float, float, datetime]], labels: list[str | None]) -> list[bool]:
    """Walk-labelled fixes moving faster than IMPOSSIBLE_WALK_MPS over +-IMPOSSIBLE_WINDOW_S (full cadence)."""
    secs = [f[2].timestamp() for f in fixes]
    out = []
    for i, lab in enumerate(labels):
        if lab != "walk":
            out.append(False)
            continue
        lo = bisect.bisect_left(secs, secs[i] - IMPOSSIBLE_WINDOW_S)
        hi = bisect.bisect_right(secs, secs[i] + IMPOSSIBLE_WINDOW_S) - 1
        span = secs[hi] - secs[lo]
        dist = math.hypot(fixes[hi][0] - fixes[lo][0], fixes[hi][1] - fixes[lo][1])
        out.append(span > 0 and dist / span > IMPOSSIBLE_WALK_MPS)
    return out


def _thin(rows: list[tuple], cadence: str, rng: random.Random) -> list[tuple]:
    """Keep the first fix, then the first fix at least one step later (30 s, or 60-120 s drawn per step)."""
    kept, due = [], None
    for row in rows:
        t = row[1].timestamp()
        if due is None or t >= due:
            kept.append(row)
            due = t + (30.0 if cadence == "30s" else rng.uniform(60.0, 120.0))
    return kept


def geolife_rows(folder: Path, cadence: str | None = None) -> list[tuple]:
    """Fixes of every .plt trajectory (one pseudo-officer per trajectory) with label and exclusion,
    thinned to `cadence` (None: full cadence). Rows follow SCHEMA."""
    spans = _read_labels(folder / "labels.txt")
    starts = [s for s, _, _ in spans]
    rng = random.Random(f"{SEED}-{folder.name}-{cadence}")
    rows = []
    for plt in sorted((folder / "Trajectory").glob("*.plt")):
        raw = []
        for line in plt.read_text().splitlines()[6:]:
            lat, lon, _, _, _, day, time = line.split(",")
            raw.append((float(lon), float(lat), datetime.strptime(f"{day} {time}", "%Y-%m-%d %H:%M:%S")))
        x, y = _project([f[0] for f in raw], [f[1] for f in raw], 32650)          # UTM 50N (Beijing)
        fixes = sorted({f[2]: (e, n, f[2]) for f, e, n in zip(raw, x, y)}.values(), key=lambda f: f[2])  # one per second
        labelled = [_label_of(spans, starts, f[2]) for f in fixes]
        impossible = _impossible(fixes, [lab for lab, _ in labelled])
        trajectory = [(f"{folder.name}-{plt.stem}", t, e, n, "unknown", folder.name,
                       None if (bad or ex) else lab, "impossible_walk" if bad else ex)
                      for (e, n, t), (lab, ex), bad in zip(fixes, labelled, impossible)]
        rows.extend(_thin(trajectory, cadence, rng) if cadence else trajectory)
    return rows


def bus_rows(path: Path, cadence: str | None = None) -> list[tuple]:
    """The Liverpool bus's AVL fixes (all labelled bus), thinned to `cadence` (None: as published)."""
    with open(path, newline="") as handle:
        fixes = [(float(r["longitude"]), float(r["latitude"]), datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S"),
                  r["vehicle_id"]) for r in csv.DictReader(handle)]
    x, y = _project([f[0] for f in fixes], [f[1] for f in fixes], 32630)              # UTM 30N (Liverpool)
    rows = sorted({(v, t): (f"bus-{v}", t, e, n, "unknown", "bus", "bus", None)
                   for (_, _, t, v), e, n in zip(fixes, x, y)}.values(), key=lambda r: (r[0], r[1]))
    if not cadence:
        return rows
    rng = random.Random(f"{SEED}-bus-{cadence}")
    vehicles = sorted({r[0] for r in rows})
    return [kept for v in vehicles for kept in _thin([r for r in rows if r[0] == v], cadence, rng)]   # per vehicle


def scored_fixes(spark: SparkSession, rows: list[tuple], params: VisitParams) -> DataFrame:
    """One row per kept fix: trace, label, exclusion, weight `seconds`, per-fix `fix_mode` and the
    `visit_mode` of its visit on the synthetic CELL_M grid (the shipped clean -> segment -> sessionise)."""
    pings = spark.createDataFrame(rows, SCHEMA).withColumn("issi", F.col("collar_number"))
    kept, _ = clean_pings(pings, params)
    segs = with_segments(kept, params)
    members = segs.withColumns({
        "zone_id": F.concat_ws("_", F.floor(F.col("easting") / CELL_M), F.floor(F.col("northing") / CELL_M)),
        "area_id": F.lit("grid"), "zone_type": F.lit("area"), "area_status": F.lit("impact")}).localCheckpoint()
    visits = sessionise(members, params).select(
        "collar_number", "zone_id", "first_fix_at_utc", "last_fix_at_utc", F.col("mode").alias("visit_mode"))
    m, v = members.alias("m"), visits.alias("v")
    joined = m.join(v, (F.col("m.collar_number") == F.col("v.collar_number")) & (F.col("m.zone_id") == F.col("v.zone_id"))
                    & F.col("m.fix_at_utc").between(F.col("v.first_fix_at_utc"), F.col("v.last_fix_at_utc")), how="left")
    seconds = F.when(F.col("m.seg_s") <= params.max_gap_s, F.col("m.seg_s")).otherwise(F.lit(0.0))
    return joined.select("m.trace", "m.cadence", "m.label", "m.excluded", F.coalesce(seconds, F.lit(0.0)).alias("seconds"),
                         F.col("m.seg_mode").alias("fix_mode"), "visit_mode")


def accuracy_table(fixes: DataFrame) -> list[dict]:
    """Per trace, cadence and label: labelled seconds and fixes, and the share of each called foot /
    vehicle / uncertain, by time (`{level}_{mode}_time`) and by fix (`{level}_{mode}_fixes`), at fix and
    visit level; `excluded` counts the fixes left out of scoring, by reason. One Spark action."""
    sums = []
    for level in ("fix", "visit"):
        col = F.col(f"{level}_mode")
        for m in ("foot", "vehicle", "uncertain"):
            sums.append(F.sum(F.when(col == m, F.col("seconds")).otherwise(0.0)).alias(f"{level}_{m}_s"))
            sums.append(F.sum(F.when(col == m, 1).otherwise(0)).alias(f"{level}_{m}_n"))
    label = F.coalesce(F.col("label"), F.concat(F.lit("excluded:"), F.col("excluded")))
    grouped = (fixes.where(F.col("label").isNotNull() | F.col("excluded").isNotNull())
               .groupBy("trace", "cadence", label.alias("label"))
               .agg(F.sum("seconds").alias("seconds"), F.count("*").alias("fixes"), *sums).collect())
    excluded: dict[tuple, dict] = {}
    out = []
    for r in grouped:
        d = r.asDict()
        if d["label"].startswith("excluded:"):
            excluded.setdefault((d["trace"], d["cadence"]), {})[d["label"][9:]] = d["fixes"]
            continue
        for level in ("fix", "visit"):
            for m in ("foot", "vehicle", "uncertain"):
                d[f"{level}_{m}_time"] = d[f"{level}_{m}_s"] / d["seconds"] if d["seconds"] else float("nan")
                d[f"{level}_{m}_fixes"] = d[f"{level}_{m}_n"] / d["fixes"]
        out.append(d)
    for d in out:
        d["excluded"] = excluded.get((d["trace"], d["cadence"]), {})
    return sorted(out, key=lambda d: (d["trace"], d["cadence"], d["label"]))


def pooled(table: list[dict], traces: tuple[str, ...], cadence: str, mode: str, level: str) -> dict[str, float]:
    """Share of the scored labels of `mode` (foot or vehicle) pooled over `traces` at `cadence` called
    foot / vehicle / uncertain at `level`, by time (`*_time`) and by fix (`*_fixes`)."""
    rows = [r for r in table if r["trace"] in traces and r["cadence"] == cadence and SCORED.get(r["label"]) == mode]
    secs, n = sum(r["seconds"] for r in rows), sum(r["fixes"] for r in rows)
    return {**{f"{m}_time": sum(r[f"{level}_{m}_s"] for r in rows) / secs for m in ("foot", "vehicle", "uncertain")},
            **{f"{m}_fixes": sum(r[f"{level}_{m}_n"] for r in rows) / n for m in ("foot", "vehicle", "uncertain")},
            "seconds": secs, "fixes": n}


def load_rows(shared: Path, trace: str, cadence: str) -> list[tuple]:
    """Rows (SCHEMA) of one trace (a GeoLife user id or `bus`) at one cadence, from the shared data
    folder; the pseudo-officer carries the cadence so several cadences can run in one DataFrame."""
    if trace == "bus":
        rows = bus_rows(shared / "gps" / "bods_liverpool_route14_outbound.csv", cadence)
    else:
        rows = geolife_rows(shared / "gps" / "geolife_labelled" / trace, cadence)
    return [(f"{r[0]}@{cadence}", *r[1:], cadence) for r in rows]


def evaluate(spark: SparkSession, shared: Path, traces: tuple[str, ...], params: VisitParams,
             cadences: tuple[str, ...] = CADENCES) -> list[dict]:
    """The accuracy table of `traces` at every cadence, computed in one Spark job."""
    rows = [r for t in traces for c in cadences for r in load_rows(shared, t, c)]
    return accuracy_table(scored_fixes(spark, rows, params))
