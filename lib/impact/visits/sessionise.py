"""Pings -> visits. Pure transforms; thresholds in conf/visits.yaml (VisitParams).

1. `clean_pings`: per officer, one fix per instant (a resend or a second radio at the same second is a
   `duplicate_fix`), and fixes implying a speed above `max_speed_mps` from the officer's previous fix
   are `speed_spike`. Removed fixes come back with a reason: kept + removed = input.
2. `with_segments`: per officer in time order, the previous / next fix and a smoothed speed for the
   segment ending at each fix; the trace is cut into fast / slow runs, smoothed across runs (stops in
   traffic, GPS jumps, waits in the vehicle) and each fix takes its run's mode foot / vehicle /
   uncertain; vehicle-mounted terminal => vehicle.
3. `sessionise`: zone memberships (from spatial.assign) become visits. A fix continues the officer's
   visit to a zone when the officer's previous fix (overall, not just in this zone) was in the same zone
   and at most `max_gap_s` earlier. So a visit ends when the officer leaves, enters another zone of
   the same kind, or goes silent too long.

Dwell bounds (seconds): lower = last fix - first fix (observed span); best = estimated exit - estimated
entry, each estimate the midpoint to the neighbouring outside fix when that fix is within max_gap_s,
else the fix itself; upper = next outside fix - previous outside fix (each side only when within
max_gap_s, else the visit's own first / last fix).
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


@dataclass(frozen=True)
class VisitParams:
    max_gap_s: float = 600.0          # 2x the slowest regular cadence (300 s): one missed fix is tolerated
    max_speed_mps: float = 70.0       # ~155 mph: faster than any police vehicle in a city -> GPS error
    foot_max_mps: float = 2.5         # a slow segment whose mean speed is above this (cycling pace) is uncertain
    vehicle_min_mps: float = 3.0      # a fix moving at least this fast (smoothed) is in a motorised segment
    mode_majority: float = 0.5        # a visit's mode needs more than this share of its time
    speed_window_s: float = 120.0     # speed = displacement across fixes within +-this (cadence-independent)
    stop_max_s: float = 600.0         # a slow segment at most this long between motorised ones is a stop in traffic
    ride_min_s: float = 120.0         # a motorised segment shorter than this next to slow ones is a GPS jump or a sprint
    still_max_mps: float = 0.3        # a fix slower than this is standing still
    still_share: float = 0.7          # a slow segment standing still this share of its time between two rides ...
    park_max_s: float = 3600.0        # ... and at most this long is a wait in the vehicle (parked, queuing)
    track_tolerance_m: float = 10.0   # Douglas-Peucker tolerance of the simplified track drawn on the map


def _secs(a: Column, b: Column) -> Column:
    return b.cast("double") - a.cast("double")


def _by_officer_in_time() -> Window:
    """Per officer, in time order (`_t`, see clean_pings)."""
    return Window.partitionBy("collar_number").orderBy("_t")


def clean_pings(pings: DataFrame, params: VisitParams) -> tuple[DataFrame, DataFrame]:
    """(kept, removed): removed rows carry `reason` (duplicate_fix | speed_spike)."""
    # One shuffle (by officer) and one sort (by time) serve every window of cleaning and segmenting: the
    # duplicate check orders by (_t, issi, easting, northing), which also satisfies the (_t) order the
    # later windows need, so Spark neither re-shuffles nor re-sorts the pings (docs/performance.md).
    timed = pings.withColumn("_t", F.unix_micros("fix_at_utc"))
    per_officer = Window.partitionBy("collar_number").orderBy("_t", "issi", "easting", "northing")
    ranked = timed.withColumn("_dup", F.coalesce(F.lag("_t").over(per_officer) == F.col("_t"), F.lit(False)))
    unique = ranked.where(~F.col("_dup")).drop("_dup")
    dupes = ranked.where(F.col("_dup")).drop("_dup", "_t").withColumn("reason", F.lit("duplicate_fix"))
    order = _by_officer_in_time()

    def speed(step):  # m/s between this fix and its neighbour `step` fixes away (-1 previous, +1 next)
        nb = F.lag if step < 0 else F.lead
        dist = F.sqrt((F.col("easting") - nb("easting").over(order)) ** 2 + (F.col("northing") - nb("northing").over(order)) ** 2)
        return dist / F.abs(_secs(nb("fix_at_utc").over(order), F.col("fix_at_utc")))

    # an isolated outlier: the jump in AND the jump out are both impossible (the fix after it, whose
    # jump in is impossible but jump out normal, is kept). An outlier as an officer's very first fix is
    # not caught (documented in docs/visits.md).
    scored = unique.withColumns({"_in": speed(-1), "_out": speed(1)})
    spike = (F.col("_in") > params.max_speed_mps) & (F.col("_out").isNull() | (F.col("_out") > params.max_speed_mps))
    spike = F.coalesce(spike, F.lit(False))
    kept = scored.where(~spike).drop("_in", "_out")                       # keeps _t for with_segments
    spikes = scored.where(spike).drop("_in", "_out", "_t").withColumn("reason", F.lit("speed_spike"))
    return kept, dupes.unionByName(spikes)


def _runs(df: DataFrame, flag: str, prefix: str, order_by: list[str], extra: dict[str, Column] | None = None) -> DataFrame:
    """Maximal runs of equal boolean `flag` per officer, broken at silences (`_brk`). Adds `{prefix}_id`, and
    per run `{prefix}_s` (seconds, sum of `_w`), `{prefix}_in` / `{prefix}_out` (the run opens / closes a
    piece between silences, so it has no neighbour on that side) and any `extra` sums over the run.
    The run windows are partitioned by officer and run and ordered by `_t`, so the rows come out sorted
    by (officer, run, time): the next pass orders by `[run, _t]` and needs no re-sort."""
    order = Window.partitionBy("collar_number").orderBy(*order_by)
    starts = F.col("_brk") | F.coalesce(F.col(flag) != F.lag(flag).over(order), F.lit(True))
    df = df.withColumn("_rs", starts)
    df = df.withColumns({
        f"{prefix}_id": F.sum(F.col("_rs").cast("long")).over(order.rowsBetween(Window.unboundedPreceding, 0)),
        "_last": F.coalesce(F.lead("_rs").over(order), F.lit(True)),
        "_nb": F.coalesce(F.lead("_brk").over(order), F.lit(True))})
    run = Window.partitionBy("collar_number", f"{prefix}_id").orderBy("_t").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    cols = {f"{prefix}_s": F.sum("_w").over(run),
            f"{prefix}_in": F.max(F.when(F.col("_rs"), F.col("_brk"))).over(run),
            f"{prefix}_out": F.max(F.when(F.col("_last"), F.col("_nb"))).over(run)}
    cols.update({k: F.sum(v).over(run) for k, v in (extra or {}).items()})
    return df.withColumns(cols).drop("_rs", "_last", "_nb")


def with_segments(pings: DataFrame, params: VisitParams) -> DataFrame:
    """Add prev/next fix times, the segment (prev -> this fix) seconds (`seg_s`), smoothed speed (m/s)
    and the fix's mode `seg_mode` (foot / vehicle / uncertain), classified by segment, not by fix:

    1. speed: displacement across the fixes within +-speed_window_s (median of three segments when sparse);
    2. each fix is fast (>= vehicle_min_mps) or slow; the trace is cut into runs of equal kind, broken
       at silences over max_gap_s;
    3. smoothing: a slow run of at most stop_max_s between fast ones is a stop in traffic (fast); then a
       fast run shorter than ride_min_s beside slow ones is a GPS jump or a sprint (slow);
    4. fast runs are vehicle; a slow run between two rides that stands still (< still_max_mps) for at
       least still_share of its time and lasts at most park_max_s is a wait in the vehicle; a slow run
       averaging over foot_max_mps is uncertain (cycling pace); other slow runs are foot. A fix with no
       speed is uncertain; a vehicle-mounted terminal is always vehicle.

    Window functions only (per officer, in time order; the run windows add local sorts, no shuffle)."""
    if "_t" not in pings.columns:
        pings = pings.withColumn("_t", F.unix_micros("fix_at_utc"))
    order = _by_officer_in_time()
    prev_t = F.lag("fix_at_utc").over(order)
    dist = F.sqrt((F.col("easting") - F.lag("easting").over(order)) ** 2 + (F.col("northing") - F.lag("northing").over(order)) ** 2)
    seg = (pings.withColumn("prev_fix_at_utc", prev_t)
           .withColumn("next_fix_at_utc", F.lead("fix_at_utc").over(order))
           .withColumn("seg_s", _secs(F.col("prev_fix_at_utc"), F.col("fix_at_utc")))
           # no speed across a silence longer than max_gap_s: it says nothing about how the officer moved,
           # and would make results depend on whether the fix before the silence was read
           .withColumn("seg_speed", F.when((F.col("seg_s") > 0) & (F.col("seg_s") <= params.max_gap_s), dist / F.col("seg_s"))))
    b = F.col("seg_speed")
    a = F.coalesce(F.lag("seg_speed").over(order), b)
    c = F.coalesce(F.lead("seg_speed").over(order), b)
    median3 = F.when(b.isNull(), F.lead("seg_speed").over(order)).otherwise(a + b + c - F.greatest(a, b, c) - F.least(a, b, c))
    # displacement across every fix within +-speed_window_s: averages GPS jitter on dense traces (1-5 s);
    # on sparse ones (fewer than 3 fixes in the window) the median of three segments is used instead
    micros = int(params.speed_window_s * 1_000_000)
    near = Window.partitionBy("collar_number").orderBy("_t").rangeBetween(-micros, micros)
    span = (F.max("_t").over(near) - F.min("_t").over(near)) / 1_000_000
    moved = F.sqrt((F.last("easting").over(near) - F.first("easting").over(near)) ** 2
                   + (F.last("northing").over(near) - F.first("northing").over(near)) ** 2)
    windowed = F.when((F.count("*").over(near) >= 3) & (span > 0), moved / span)
    seg = seg.withColumn("speed_smooth", F.coalesce(windowed, median3))
    # time weight of a fix: its segment's seconds (none across a silence); a silence (or the first fix) cuts runs
    seg = seg.withColumns({
        "_w": F.when((F.col("seg_s") > 0) & (F.col("seg_s") <= params.max_gap_s), F.col("seg_s")).otherwise(F.lit(0.0)),
        "_brk": F.coalesce(F.col("seg_s") > params.max_gap_s, F.lit(True)),
        "_f0": F.coalesce(F.col("speed_smooth") >= params.vehicle_min_mps, F.lit(False))})
    # binary runs alternate, so a run not opening (closing) a piece has a neighbour of the other kind
    inner = lambda p: ~F.col(f"{p}_in") & ~F.col(f"{p}_out")  # noqa: E731
    seg = _runs(seg, "_f0", "_ra", ["_t"])
    seg = seg.withColumn("_f1", F.col("_f0") | (inner("_ra") & (F.col("_ra_s") <= params.stop_max_s)))
    seg = _runs(seg, "_f1", "_rb", ["_ra_id", "_t"])
    beside = ~F.col("_rb_in") | ~F.col("_rb_out")
    seg = seg.withColumn("_f2", F.col("_f1") & ~(beside & (F.col("_rb_s") < params.ride_min_s)))
    still = F.when(F.col("speed_smooth") < params.still_max_mps, F.col("_w")).otherwise(F.lit(0.0))
    seg = _runs(seg, "_f2", "_rc", ["_rb_id", "_t"],
                {"_rc_still": still, "_rc_dist": F.coalesce(F.col("speed_smooth"), F.lit(0.0)) * F.col("_w")})
    waiting = (inner("_rc") & (F.col("_rc_still") >= params.still_share * F.col("_rc_s"))
               & (F.col("_rc_s") <= params.park_max_s))
    mode = (F.when(F.col("terminal_type") == "vehicle", "vehicle")
            .when(F.col("speed_smooth").isNull(), "uncertain")
            .when(F.col("_f2") | waiting, "vehicle")
            .when(F.col("_rc_dist") > params.foot_max_mps * F.col("_rc_s"), "uncertain")
            .otherwise("foot"))
    temp = [c for c in seg.columns if c.startswith(("_ra", "_rb", "_rc", "_f", "_w", "_brk"))]
    return seg.withColumn("seg_mode", mode).drop("_t", *temp)


def track_wkt(fixes: Column, tolerance_m: float) -> Column:
    """The visit's fixes (time-ordered structs with easting / northing) as a simplified National Grid
    WKT LINESTRING (Douglas-Peucker, topology preserved, `tolerance_m`); a single fix is a POINT."""
    coords = F.transform(fixes, lambda p: F.format_string("%.1f %.1f", p["easting"], p["northing"]))
    line = F.concat(F.lit("LINESTRING ("), F.array_join(coords, ", "), F.lit(")"))
    simplified = F.call_function("ST_AsText", F.call_function(
        "ST_SimplifyPreserveTopology", F.call_function("ST_GeomFromWKT", line), F.lit(float(tolerance_m))))
    return F.when(F.size(fixes) > 1, simplified).otherwise(F.concat(F.lit("POINT ("), coords[0], F.lit(")")))


def sessionise(members: DataFrame, params: VisitParams) -> DataFrame:
    """Visits from zone memberships of segmented pings (one row per fix and zone containing it)."""
    in_zone = Window.partitionBy("collar_number", "zone_id").orderBy("fix_at_utc")
    prev_in_zone = F.lag("fix_at_utc").over(in_zone)
    gap = _secs(F.col("prev_fix_at_utc"), F.col("fix_at_utc"))
    starts = (prev_in_zone.isNull() | (prev_in_zone != F.col("prev_fix_at_utc")) | (gap > params.max_gap_s))
    numbered = (members.withColumn("_start", F.when(starts, 1).otherwise(0))
                .withColumn("_visit", F.sum("_start").over(in_zone.rowsBetween(Window.unboundedPreceding, 0))))
    # the segment ending at a fix belongs to the visit if it started inside (not the entering segment),
    # except that the entering segment's speed still tells how the officer arrived: used for mode only
    seg_s = F.when(F.col("seg_s") <= params.max_gap_s, F.col("seg_s")).otherwise(F.lit(0.0))
    weighted = numbered.withColumn("_w", F.when(F.col("_start") == 1, F.lit(0.0)).otherwise(seg_s))
    # single-fix visits still need a mode: weight the entering segment a little
    weighted = weighted.withColumn("_wm", F.col("_w") + F.when(F.col("_start") == 1, F.lit(1.0)).otherwise(F.lit(0.0)))
    keys = ["collar_number", "zone_id", "_visit"]
    agg = weighted.groupBy(*keys).agg(
        F.first("area_id").alias("area_id"), F.first("zone_type").alias("zone_type"),
        F.first("area_status").alias("area_status"),
        F.min("fix_at_utc").alias("first_fix_at_utc"), F.max("fix_at_utc").alias("last_fix_at_utc"),
        F.min_by("prev_fix_at_utc", "fix_at_utc").alias("_prev_out"), F.max_by("next_fix_at_utc", "fix_at_utc").alias("_next_out"),
        F.count("*").alias("fix_count"),
        F.sort_array(F.collect_set("terminal_type")).alias("terminal_types"),
        F.sum(F.when(F.col("seg_mode") == "foot", F.col("_wm")).otherwise(0.0)).alias("_foot"),
        F.sum(F.when(F.col("seg_mode") == "vehicle", F.col("_wm")).otherwise(0.0)).alias("_vehicle"),
        F.sum(F.col("_wm")).alias("_all"),
        F.sort_array(F.collect_list(F.struct("fix_at_utc", "easting", "northing"))).alias("_fixes"),
    )
    prev_ok = F.col("_prev_out").isNotNull() & (_secs(F.col("_prev_out"), F.col("first_fix_at_utc")) <= params.max_gap_s)
    next_ok = F.col("_next_out").isNotNull() & (_secs(F.col("last_fix_at_utc"), F.col("_next_out")) <= params.max_gap_s)
    half = lambda a, b: (a.cast("double") + (b.cast("double") - a.cast("double")) / 2).cast("timestamp")  # noqa: E731
    entry = F.when(prev_ok, half(F.col("_prev_out"), F.col("first_fix_at_utc"))).otherwise(F.col("first_fix_at_utc"))
    exit_ = F.when(next_ok, half(F.col("last_fix_at_utc"), F.col("_next_out"))).otherwise(F.col("last_fix_at_utc"))
    outer_start = F.when(prev_ok, F.col("_prev_out")).otherwise(F.col("first_fix_at_utc"))
    outer_end = F.when(next_ok, F.col("_next_out")).otherwise(F.col("last_fix_at_utc"))
    foot_share = F.when(F.col("_all") > 0, F.col("_foot") / F.col("_all")).otherwise(0.0)
    vehicle_share = F.when(F.col("_all") > 0, F.col("_vehicle") / F.col("_all")).otherwise(0.0)
    mode = (F.when(foot_share > params.mode_majority, "foot")
            .when(vehicle_share > params.mode_majority, "vehicle").otherwise("uncertain"))
    visits = agg.withColumns({
        "entry_est_at_utc": entry, "exit_est_at_utc": exit_,
        "duration_lower_s": _secs(F.col("first_fix_at_utc"), F.col("last_fix_at_utc")),
        "duration_upper_s": _secs(outer_start, outer_end),
        "foot_share": foot_share, "vehicle_share": vehicle_share, "mode": mode,
        "track_wkt": track_wkt(F.col("_fixes"), params.track_tolerance_m),
    }).withColumn("duration_best_s", _secs(F.col("entry_est_at_utc"), F.col("exit_est_at_utc")))
    return visits.select(
        F.substring(F.sha2(F.concat_ws("|", "collar_number", "zone_id", F.col("first_fix_at_utc").cast("string")), 256), 1, 24).alias("visit_id"),
        "collar_number", "zone_id", "area_id", "zone_type", "area_status",
        "first_fix_at_utc", "last_fix_at_utc", "entry_est_at_utc", "exit_est_at_utc",
        "duration_lower_s", "duration_best_s", "duration_upper_s", "fix_count", "terminal_types",
        "mode", "foot_share", "vehicle_share", "track_wkt",
        F.to_date("entry_est_at_utc").alias("visit_date"),
    )


def with_posting(visits: DataFrame, postings: DataFrame) -> DataFrame:
    """Department, NPU and role of the posting valid on the visit date; `unknown` where none is."""
    from impact.postings import posting_at_date

    picked = posting_at_date(visits, postings, ["department", "npu", "role"])
    return picked.select(*visits.columns, *[F.coalesce(F.col(c), F.lit("unknown")).alias(c) for c in ("department", "npu", "role")])


def build_visits(pings: DataFrame, zones: DataFrame, postings: DataFrame, params: VisitParams) -> tuple[DataFrame, DataFrame]:
    """Cleaned pings -> zone memberships (Sedona broadcast join) -> visits with posting.
    Returns (visits, removed fixes with reasons)."""
    from impact.spatial.assign import assign_to_zones

    kept, removed = clean_pings(pings, params)
    members = assign_to_zones(with_segments(kept, params), zones)
    return with_posting(sessionise(members, params), postings), removed
