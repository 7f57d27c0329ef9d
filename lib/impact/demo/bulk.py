"""A force-sized demo world for benchmarks: 7,000 officers, tens of millions of pings, written in chunks.

    python -m impact.demo.bulk --out .cache/bench/raw-50M --pings 50000000

Same raw layouts as `impact.demo.generate` (the formats in conf/sources.yaml, so `jobs/ingest.py --source
force` reads the output unchanged) and the same world: the 39 areas and the officers of `demo.world`,
early / late / night shifts with two rest days in seven, foot patrols around a beat area (directed visits
to Impact Areas after designation), response cars driving to calls city-wide. What is different is the
scale and the machinery, not the meaning:

- **Vectorised.** All shifts of a block of officers are simulated at once in numpy: every shift is a
  piecewise-linear track of legs (travel, then dwell), pings are drawn along it by one `np.interp` over
  all shifts (each shift's times offset by `shift index x 1e6` s so one increasing axis holds them all).
  No planted presence -> crime effect (that is `generate`'s job); events follow the tracks instead:
  incidents are calls a response car drove to, with matching resource rows; crimes are recorded at some
  of them; searches happen at some stops.
- **Chunked.** One UTC day at a time, in blocks of 1,000 officers, appended to that day's file with
  pyarrow's CSV writer; memory stays at a few hundred MB whatever the size. Days are independent (a day
  re-simulates the previous day's shifts that spill into it, from the same seed), so they run in
  parallel worker processes and the output does not depend on the number of workers.
- **Deterministic.** Each (shift day, officer block) draws from `np.random.default_rng([seed, day, block])`.
- **Sized by pings.** `--pings N` chooses the days and the cadence: a force-day is about 4M pings
  (7,000 officers, 10-hour shifts, a fix every 30-300 s, mostly every 30-40 s); N at or above that keeps
  7,000 officers and adds days; below it, fewer officers on one day at the same density.

Also written: areas, HR postings (with the names ingest must drop), Oasis / ControlWorks incidents
(cut-over mid-window), incident resources, CONNECT crimes, stop-searches, a small share of dirty rows of
the same classes as `generate`, and `_truth/bulk.json` (plan and row counts).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely

from impact.demo.generate import (GRADES, OFFENCES, OUTCOMES, SEARCH_OBJECTS, _dirty, _iso_offset, _local, _utc, _wgs,
                                  _write_csv)
from impact.demo.simulate import CRIME_CATEGORIES, FOOT_MPS, LONDON, OTHER_CATEGORIES, VEHICLE_MPS
from impact.demo.world import BIRMINGHAM_BNG, build_areas, build_officers, postings_rows

log = logging.getLogger(__name__)

FORCE_OFFICERS = 7_000
FORCE_DAY_PINGS = 4_000_000            # about one force-day of Airwave fixes
SHIFT_STARTS = (7, 14, 22)             # local early / late / night starts (10-hour shifts overlap at hand-over)
SHIFT_S = 10 * 3600
MIN_CADENCE_S, MAX_CADENCE_S = 30.0, 300.0
DEFAULT_CADENCE_S = 45.0               # mean seconds between fixes at force-day density
ON_DUTY = 5 / 7
BLOCK = 1_000                          # officers simulated together
LEGS = 64                              # legs (travel + dwell) drawn per shift; enough to outlast any shift
PING_COLUMNS = ["ISSI", "Affiliation", "FixTimeUTC", "Latitude", "Longitude", "SpeedKmh", "Heading", "TerminalType"]
FORMAT_VERSION = 1                     # bump when the output for given arguments changes


@dataclass(frozen=True)
class Plan:
    """What to generate: chosen from the requested ping count (see `plan`)."""

    pings: int                  # requested total (the result is within a few per cent)
    officers: int
    days: int
    start: str                  # first UTC / local day (ISO)
    cadence_mean_s: float       # mean seconds between an on-duty officer's fixes
    seed: int
    designation: str
    cutover: str
    dirty_rate: float

    @property
    def end(self) -> str:
        return (date.fromisoformat(self.start) + timedelta(days=self.days - 1)).isoformat()


def plan(pings: int, seed: int = 42, start: date = date(2026, 3, 16), officers: int | None = None,
         days: int | None = None, dirty_rate: float = 0.001, designation: date | None = None,
         cutover: date | None = None) -> Plan:
    """Days, officers and cadence for about `pings` fixes at force-day density (~4M a day)."""
    if pings < 1_000:
        raise ValueError("--pings must be at least 1,000")
    per_officer_day = ON_DUTY * SHIFT_S / DEFAULT_CADENCE_S            # ~571 fixes
    if days is None:
        days = max(1, round(pings / FORCE_DAY_PINGS))
    per_day = pings / days
    if officers is None:
        officers = int(min(FORCE_OFFICERS, max(10, math.ceil(per_day / per_officer_day))))
    cadence = ON_DUTY * officers * SHIFT_S / per_day
    if not MIN_CADENCE_S < cadence < MAX_CADENCE_S:
        raise ValueError(f"{pings:,} pings from {officers:,} officers over {days} day(s) needs a fix every {cadence:.0f} s; "
                         f"choose --days / --officers for a cadence between {MIN_CADENCE_S:.0f} and {MAX_CADENCE_S:.0f} s")
    designation = designation or start + timedelta(days=min(7, days // 3))
    cutover = cutover or start + timedelta(days=days // 2)
    return Plan(pings, officers, days, start.isoformat(), round(cadence, 4), seed, designation.isoformat(),
                cutover.isoformat(), dirty_rate)


@dataclass(frozen=True)
class World:
    """The fixed parts, as arrays (picklable for the worker processes)."""

    collars: np.ndarray         # str per officer
    issi: np.ndarray            # int64
    responder: np.ndarray       # bool: response / roads policing (drives to calls)
    vehicle_terminal: np.ndarray
    beat_x: np.ndarray          # centroid of the officer's beat area (BNG m)
    beat_y: np.ndarray
    impact_x: np.ndarray        # centroids of the Impact Areas
    impact_y: np.ndarray


def _utc_offset_s(day: date, hour: int) -> float:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON).utcoffset().total_seconds()


def _epoch(day: date) -> float:
    return float((day - date(1970, 1, 1)).days * 86400)


def _interval_power(cadence_mean: float) -> float:
    """k such that 30 + 270 * u**k (u uniform) has the requested mean: mostly 30-40 s, a tail to 300 s."""
    return (MAX_CADENCE_S - MIN_CADENCE_S) / (cadence_mean - MIN_CADENCE_S) - 1.0


def simulate_block(world: World, p: Plan, shift_day: date, block: int) -> dict[str, np.ndarray] | None:
    """Every shift worked on local `shift_day` by officers [block*BLOCK, (block+1)*BLOCK): legs and pings."""
    rng = np.random.default_rng([p.seed, shift_day.toordinal(), block])
    lo, hi = block * BLOCK, min(len(world.collars), (block + 1) * BLOCK)
    idx = np.arange(lo, hi)
    idx = idx[~np.isin((shift_day.toordinal() + idx) % 7, (0, 1))]           # two rest days in seven
    n = len(idx)
    if n == 0:
        return None
    hours = np.array(SHIFT_STARTS)[idx % 3]
    offsets = np.array([_utc_offset_s(shift_day, h) for h in SHIFT_STARTS])[idx % 3]
    t0 = _epoch(shift_day) + hours * 3600.0 - offsets + rng.uniform(-600, 600, n)
    length = SHIFT_S + rng.uniform(0, 1800, n)                                # some overtime
    resp = world.responder[idx]
    designated = shift_day >= date.fromisoformat(p.designation)

    # legs: go to a waypoint, stay there
    u = rng.random((n, LEGS))
    kind = np.where(resp[:, None], np.where(u < 0.5, 2, 3), np.where(u < (0.067 if designated else 0.0), 1, np.where(u < 0.55, 0, 4)))
    # 0 beat stop, 1 directed Impact Area visit, 2 call (response), 3 response patrol, 4 foot wander
    bx, by = world.beat_x[idx][:, None], world.beat_y[idx][:, None]
    pick = rng.integers(0, len(world.impact_x), (n, LEGS))
    gx, gy = rng.normal(0, 1, (n, LEGS)), rng.normal(0, 1, (n, LEGS))
    wx = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                   [bx + 200 * gx, world.impact_x[pick] + 120 * gx, BIRMINGHAM_BNG[0] + 3500 * gx, bx + 1500 * gx], bx + 700 * gx)
    wy = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                   [by + 200 * gy, world.impact_y[pick] + 120 * gy, BIRMINGHAM_BNG[1] + 3500 * gy, by + 1500 * gy], by + 700 * gy)
    dwell = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                      [rng.uniform(120, 900, (n, LEGS)), rng.uniform(600, 960, (n, LEGS)), rng.uniform(900, 2700, (n, LEGS)),
                       rng.uniform(0, 300, (n, LEGS))], rng.uniform(0, 300, (n, LEGS)))
    sx = np.where(resp, BIRMINGHAM_BNG[0] + rng.normal(0, 2000, n), world.beat_x[idx] + rng.normal(0, 400, n))
    sy = np.where(resp, BIRMINGHAM_BNG[1] + rng.normal(0, 2000, n), world.beat_y[idx] + rng.normal(0, 400, n))
    px, py = np.column_stack([sx, wx[:, :-1]]), np.column_stack([sy, wy[:, :-1]])
    dist = np.hypot(wx - px, wy - py)
    drive = resp[:, None] | ((kind == 1) & (dist > 1500))
    travel = dist / np.where(drive, VEHICLE_MPS, FOOT_MPS)
    depart = np.cumsum(travel + dwell, axis=1)
    arrive = depart - dwell
    depart[:, -1] = np.maximum(depart[:, -1], length + 1.0)                   # the last stay outlasts the shift

    # knots: start, then (arrive, depart) per leg; the flag is for the segment ENDING at the knot
    kt = np.column_stack([np.zeros(n), np.stack([arrive, depart], axis=2).reshape(n, -1)])
    kx = np.column_stack([sx, np.repeat(wx, 2, axis=1)])
    ky = np.column_stack([sy, np.repeat(wy, 2, axis=1)])
    kd = np.column_stack([np.zeros(n, bool), np.stack([drive, np.zeros_like(drive)], axis=2).reshape(n, -1)])

    # fixes: gaps of 30-300 s, mostly short; 8% of shifts have the radio off for 20-60 minutes
    m = int(length.max() / MIN_CADENCE_S) + 2
    gaps = MIN_CADENCE_S + (MAX_CADENCE_S - MIN_CADENCE_S) * rng.random((n, m)) ** _interval_power(p.cadence_mean_s)
    t = rng.uniform(0, MIN_CADENCE_S, (n, 1)) + np.cumsum(gaps, axis=1)
    keep = t < length[:, None]
    off = rng.random(n) < 0.08
    off_at = rng.uniform(0, length)
    off_len = rng.uniform(1200, 3600, n)
    keep &= ~(off[:, None] & (t > off_at[:, None]) & (t < (off_at + off_len)[:, None]))
    shift_of, col = np.nonzero(keep)
    t_rel = t[shift_of, col]
    key = shift_of * 1e6 + t_rel
    knot_key = (np.arange(n)[:, None] * 1e6 + kt).ravel()
    x = np.interp(key, knot_key, kx.ravel()) + rng.normal(0, 8, len(key))
    y = np.interp(key, knot_key, ky.ravel()) + rng.normal(0, 8, len(key))
    seg = np.clip(np.searchsorted(knot_key, key, side="right"), 1, len(knot_key) - 1)
    dx, dy = kx.ravel()[seg] - kx.ravel()[seg - 1], ky.ravel()[seg] - ky.ravel()[seg - 1]
    dt = np.maximum(knot_key[seg] - knot_key[seg - 1], 1e-9)
    return {
        "officer": idx, "t0": t0, "kind": kind, "wx": wx, "wy": wy, "arrive": arrive, "depart": depart,
        "travel": travel,
        "p_officer": idx[shift_of], "p_t": np.floor(t0[shift_of] + t_rel), "p_x": x, "p_y": y,
        "p_speed": np.hypot(dx, dy) / dt, "p_heading": (np.degrees(np.arctan2(dx, dy)) + 360) % 360,
        "p_driving": kd.ravel()[seg],
    }


def _ping_table(world: World, sim: dict[str, np.ndarray], mask: np.ndarray, rng: np.random.Generator,
                dirty_rate: float, counts: dict[str, int]):
    import pyarrow as pa
    import pyarrow.compute as pc

    officer, t = sim["p_officer"][mask], sim["p_t"][mask]
    n = len(t)
    vm = sim["p_driving"][mask] & world.vehicle_terminal[officer]
    lon, lat = _wgs(sim["p_x"][mask], sim["p_y"][mask])
    zero = rng.random(n) < 0.0005                                           # (0,0) fixes
    lon, lat = np.where(zero, 0.0, lon), np.where(zero, 0.0, lat)
    speed = np.round(sim["p_speed"][mask] * 3.6, 1)
    heading = np.round(sim["p_heading"][mask])
    terminal = np.where(rng.random(n) < 0.05, 2, np.where(vm, 1, 0))
    table = pa.table({
        "ISSI": pa.array(np.where(vm, world.issi[officer] * 10 + 9, world.issi[officer])),
        "Affiliation": pc.take(pa.array(world.collars), pa.array(officer)),
        "FixTimeUTC": pc.strftime(pa.array(t.astype("int64"), pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S"),
        "Latitude": pc.cast(pa.array(lat), pa.string()),
        "Longitude": pa.array(lon),
        "SpeedKmh": pa.array(speed, mask=rng.random(n) < 0.2),
        "Heading": pa.array(heading, mask=rng.random(n) < 0.2),
        "TerminalType": pc.take(pa.array(["HH", "VM", ""]), pa.array(terminal)),
    })
    # dirty rows, the classes of `generate` (one column set to a bad value each)
    corruptions = {"bad_time": ("FixTimeUTC", "31/02/2026 25:61"), "bad_number": ("Latitude", "52,48N"),
                   "missing_key": ("Affiliation", ""), "impossible_coordinate": ("Latitude", "95.0")}
    n_dirty = int(rng.binomial(n, dirty_rate)) if n else 0
    rows = rng.choice(n, size=n_dirty, replace=False) if n_dirty else np.array([], int)
    kinds = rng.integers(0, len(corruptions), n_dirty)
    for k, name in enumerate(sorted(corruptions)):
        column, value = corruptions[name]
        hit = np.zeros(n, bool)
        hit[rows[kinds == k]] = True
        counts[name] = counts.get(name, 0) + int(hit.sum())
        position = table.schema.get_field_index(column)
        table = table.set_column(position, column, pc.if_else(pa.array(hit), pa.scalar(value), table[column]))
    # radio resends (exact duplicates), then out of order as a real extract is
    resend = rng.choice(n, size=int(n * 0.003), replace=False) if n else np.array([], int)
    table = pa.concat_tables([table, table.take(pa.array(resend))])
    return table.take(pa.array(rng.permutation(table.num_rows)))


def _events(world: World, p: Plan, sim: dict[str, np.ndarray], shift_day: date, block: int, day: date,
            rng: np.random.Generator) -> dict[str, list]:
    """Incidents, resources, crimes and searches of one simulated block whose partition date is `day`."""
    lo, hi = _epoch(day), _epoch(day) + 86400
    officer, t0 = sim["officer"], sim["t0"][:, None]
    arrive, depart, kind = sim["arrive"] + t0, sim["depart"] + t0, sim["kind"]
    travel = sim["travel"]
    n, legs = kind.shape
    in_shift = sim["depart"] <= sim["depart"][:, -1:] - 1.0                  # not the padded last stay
    ref_base = (shift_day.toordinal() % 100_000) * 10_000_000 + np.arange(n * legs).reshape(n, legs) + block * 100_000
    out: dict[str, list] = {"incidents": [], "resources": [], "crimes": [], "searches": []}
    call = (kind == 2) & in_shift & (rng.random(kind.shape) < 0.05)
    r, c = np.nonzero(call)
    assigned = arrive[r, c] - travel[r, c]
    opened = assigned - rng.uniform(30, 240, len(r))
    categories = np.array(CRIME_CATEGORIES + OTHER_CATEGORIES)
    category = categories[rng.integers(0, len(categories), len(r))]
    priority = rng.choice([1, 2, 3, 4], size=len(r), p=[.1, .45, .35, .1])
    close = np.where(rng.random(len(r)) < 0.8, category, np.array(OTHER_CATEGORIES)[rng.integers(0, 4, len(r))])
    refs = ref_base[r, c]
    cut = datetime.fromisoformat(p.cutover).replace(tzinfo=LONDON).timestamp()
    crime = np.isin(category, CRIME_CATEGORIES) & (rng.random(len(r)) < 0.35)
    recorded = opened + rng.uniform(1800, 14400, len(r))
    committed = opened - rng.uniform(0, 7200, len(r))
    jitter = rng.normal(0, 5, (len(r), 2))
    for j in range(len(r)):
        x, y, collar = float(sim["wx"][r[j], c[j]]), float(sim["wy"][r[j], c[j]]), str(world.collars[officer[r[j]]])
        system = "OASIS" if opened[j] < cut else "CW"
        log_no = f"{'OA' if system == 'OASIS' else 'CW'}{refs[j]:012d}"
        if lo <= opened[j] < hi:
            out["incidents"].append((system, log_no, opened[j], category[j], close[j], int(priority[j]), x, y))
        if lo <= assigned[j] < hi:
            out["resources"].append((log_no, system, collar, assigned[j], arrive[r[j], c[j]], depart[r[j], c[j]]))
        if crime[j] and lo <= recorded[j] < hi:
            out["crimes"].append((f"20/{refs[j]:012d}/26", str(category[j]), committed[j], opened[j], recorded[j],
                                  x + jitter[j, 0], y + jitter[j, 1], collar))
    stop = in_shift & (((kind == 0) & (rng.random(kind.shape) < 0.002)) | (call & (rng.random(kind.shape) < 0.03)))
    r, c = np.nonzero(stop)
    at = np.where(kind[r, c] == 2, arrive[r, c] + 60, arrive[r, c] + rng.uniform(0, 1, len(r)) * (depart[r, c] - arrive[r, c]))
    for j in range(len(r)):
        if lo <= at[j] < hi:
            out["searches"].append((f"SS{ref_base[r[j], c[j]]:012d}", at[j], float(sim["wx"][r[j], c[j]]),
                                    float(sim["wy"][r[j], c[j]]), str(world.collars[officer[r[j]]])))
    return out


def _write_events(out: Path, day: date, ev: dict[str, list], rng: np.random.Generator, dirty_rate: float,
                  counts: dict[str, int]) -> dict[str, int]:
    key = day.strftime("%Y%m%d")
    rows_written: dict[str, int] = {}

    def iso_z(ts):
        return list(_utc(np.asarray(ts, dtype=float)).strftime("%Y-%m-%dT%H:%M:%SZ"))

    inc = ev["incidents"]
    oasis = [i for i in inc if i[0] == "OASIS"]
    cw = [i for i in inc if i[0] == "CW"]
    if oasis:
        t = [i[2] for i in oasis]
        rows = [[i[1], d, tm, i[3], i[4], GRADES[i[5]], f"{i[6]:.0f}", f"{i[7]:.0f}", "Caller Name", "07700 900000", "Near the shops"]
                for i, d, tm in zip(oasis, _local(t, "%d/%m/%Y"), _local(t, "%H:%M:%S"))]
        columns = ["LOG_NO", "LOG_DATE", "LOG_TIME", "OPEN_CODE", "CLOSE_CODE", "GRADE", "X_COORD", "Y_COORD", "CALLER_NAME", "CALLER_TEL", "LOCATION_TEXT"]
        _dirty(rows, columns, dirty_rate, rng, {"bad_time": ("LOG_TIME", "25:99:00"), "missing_key": ("LOG_NO", "")}, counts)
        _write_csv(out / "oasis_incidents" / f"OASIS_{key}.txt", columns, rows, "|")
        rows_written["oasis_incidents"] = len(rows)
    if cw:
        lon, lat = _wgs([i[6] for i in cw], [i[7] for i in cw])
        lines = [json.dumps({
            "incidentNumber": i[1], "createdDateTime": when,
            "initialClassification": {"code": str(i[3]), "description": str(i[3]).title()},
            "finalClassification": {"code": str(i[4]), "description": str(i[4]).title()},
            "priority": f"P{i[5]}", "location": {"latitude": float(la), "longitude": float(lo)},
            "caller": {"name": "Caller Name", "phone": "07700 900000"}, "narrative": "free text"}, sort_keys=True)
            for i, when, lo, la in zip(cw, _iso_offset([i[2] for i in cw]), lon, lat)]
        path = out / "controlworks_incidents" / f"cw_{key}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        rows_written["controlworks_incidents"] = len(lines)
    res = ev["resources"]
    if res:
        rows = [[r[0], r[1], r[2], a, b, c] for r, a, b, c in
                zip(res, iso_z([r[3] for r in res]), iso_z([r[4] for r in res]), iso_z([r[5] for r in res]))]
        columns = ["IncidentRef", "System", "ResourceRef", "Assigned", "Arrived", "Cleared"]
        _dirty(rows, columns, dirty_rate, rng, {"bad_time": ("Assigned", "yesterday"), "missing_key": ("ResourceRef", "")}, counts)
        _write_csv(out / "incident_resources" / f"resources_{key}.csv", columns, rows)
        rows_written["incident_resources"] = len(rows)
    cr = ev["crimes"]
    if cr:
        fmt = "%d/%m/%Y %H:%M"
        rows = [[c[0], *OFFENCES[c[1]], f, to, rec, f"{c[5]:.0f}", f"{c[6]:.0f}", c[7], "Victim", "01/01/1980", "B1"]
                for c, f, to, rec in zip(cr, _local([c[2] for c in cr], fmt), _local([c[3] for c in cr], fmt), _local([c[4] for c in cr], fmt))]
        columns = ["CrimeNumber", "HOCode", "HOClass", "OffenceDescription", "CommittedFrom", "CommittedTo", "RecordedDateTime",
                   "Easting", "Northing", "RecordingOfficer", "VictimSurname", "VictimDOB", "Beat"]
        _dirty(rows, columns, dirty_rate, rng, {"bad_time": ("RecordedDateTime", "32/13/2026 10:00"), "bad_number": ("Easting", "n/a")}, counts)
        _write_csv(out / "connect_crimes" / f"crimes_{key}.csv", columns, rows)
        rows_written["connect_crimes"] = len(rows)
    se = ev["searches"]
    if se:
        lon, lat = _wgs([s[2] + rng.normal(0, 10) for s in se], [s[3] + rng.normal(0, 10) for s in se])
        rows = []
        for s, when, lo, la in zip(se, _iso_offset([s[1] for s in se]), lon, lat):
            legislation, obj = SEARCH_OBJECTS[int(rng.integers(len(SEARCH_OBJECTS)))]
            rows.append([s[0], "Person search", when, f"{la}", f"{lo}", "Male", "18-24", "Prefer not to say", "", legislation, obj,
                         str(rng.choice(OUTCOMES)), "False", "False", "False", "", s[4]])
        columns = ["SearchRef", "Type", "Date", "Latitude", "Longitude", "Gender", "Age range", "Self-defined ethnicity",
                   "Officer-defined ethnicity", "Legislation", "Object of search", "Outcome", "Outcome linked to object of search",
                   "Removal of more than just outer clothing", "Part of a policing operation", "Policing operation", "OfficerCollar"]
        _write_csv(out / "stop_search" / f"searches_{key}.csv", columns, rows)
        rows_written["stop_search"] = len(rows)
    return rows_written


def write_day(out: Path, world: World, p: Plan, day_index: int) -> dict:
    """All raw files whose partition date is UTC day `start + day_index` (pings file written in blocks)."""
    import pyarrow.csv as pacsv

    t_start = time.monotonic()
    day = date.fromisoformat(p.start) + timedelta(days=day_index)
    lo = _epoch(day)
    counts: dict[str, int] = {"airwave_pings": 0}
    dirty: dict[str, int] = {}
    events: dict[str, list] = {"incidents": [], "resources": [], "crimes": [], "searches": []}
    path = out / "airwave_pings" / f"pings_{day:%Y%m%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for shift_day in (day - timedelta(days=1), day):                   # night shifts spill over midnight
            for block in range(math.ceil(len(world.collars) / BLOCK)):
                sim = simulate_block(world, p, shift_day, block)
                if sim is None:
                    continue
                rng = np.random.default_rng([p.seed, shift_day.toordinal(), block, day.toordinal()])
                mask = (sim["p_t"] >= lo) & (sim["p_t"] < lo + 86400)
                if mask.any():
                    table = _ping_table(world, sim, mask, rng, p.dirty_rate, dirty)
                    if writer is None:
                        writer = pacsv.CSVWriter(str(path), table.schema,
                                                 write_options=pacsv.WriteOptions(include_header=True, quoting_style="needed"))
                    writer.write_table(table)
                    counts["airwave_pings"] += table.num_rows
                for name, rows in _events(world, p, sim, shift_day, block, day, rng).items():
                    events[name].extend(rows)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:                                                       # an extract with no rows keeps its header
        path.write_text(",".join(PING_COLUMNS) + "\n")
    for rows in events.values():
        rows.sort(key=lambda r: str(r))
    rng = np.random.default_rng([p.seed, day.toordinal(), 7])
    counts.update(_write_events(out, day, events, rng, p.dirty_rate, dirty))
    return {"day": day.isoformat(), "rows": counts, "dirty_rows": dirty, "seconds": round(time.monotonic() - t_start, 2)}


def _write_day_star(args) -> dict:
    return write_day(*args)


def build_world(p: Plan, shared: Path | None) -> tuple[World, list]:
    rng = np.random.default_rng(p.seed)
    areas = build_areas(rng, shared)
    officers = build_officers(rng, p.officers, len(areas), p.days)
    cent = [(a.polygon_bng.centroid.x, a.polygon_bng.centroid.y) for a in areas]
    impact = [c for c, a in zip(cent, areas) if a.status == "impact"]
    world = World(
        collars=np.array([o.collar for o in officers]),
        issi=np.array([int(o.issi) for o in officers], dtype=np.int64),
        responder=np.array([o.role in ("response", "roads policing") for o in officers]),
        vehicle_terminal=np.array([o.vehicle_terminal for o in officers]),
        beat_x=np.array([cent[o.beat][0] for o in officers]), beat_y=np.array([cent[o.beat][1] for o in officers]),
        impact_x=np.array([c[0] for c in impact]), impact_y=np.array([c[1] for c in impact]),
    )
    return world, [areas, officers, rng]


def generate_bulk(out: Path, p: Plan, shared: Path | None = None, workers: int = 2) -> dict:
    """Write the world of plan `p` under `out` (raw root); returns the manifest (also `_truth/bulk.json`)."""
    t0 = time.monotonic()
    out = Path(out)
    world, (areas, officers, rng) = build_world(p, shared)
    start = date.fromisoformat(p.start)
    _write_csv(out / "areas" / "areas.csv", ["AreaCode", "AreaName", "AreaType", "DesignatedFrom", "WKT"], [
        [a.area_id, a.name, "Impact Area" if a.status == "impact" else "Comparison Area",
         p.designation if a.status == "impact" else "",
         shapely.to_wkt(shapely.transform(a.polygon_bng, lambda xy: np.column_stack(_wgs(xy[:, 0], xy[:, 1]))), rounding_precision=6)]
        for a in areas])
    _write_csv(out / "officers" / "postings.csv",
               ["CollarNo", "Forename", "Surname", "Department", "NPU", "Role", "PostingStart", "PostingEnd"],
               postings_rows(officers, start, rng))
    jobs = [(out, world, p, d) for d in range(p.days)]
    if workers > 1 and p.days > 1:
        with mp.get_context("spawn").Pool(min(workers, p.days)) as pool:
            days = pool.map(_write_day_star, jobs, chunksize=1)
    else:
        days = [write_day(*job) for job in jobs]
    rows: dict[str, int] = {}
    dirty: dict[str, int] = {}
    for d in days:
        for k, v in d["rows"].items():
            rows[k] = rows.get(k, 0) + v
        for k, v in d["dirty_rows"].items():
            dirty[k] = dirty.get(k, 0) + v
    rows["officers"] = len(postings_rows(officers, start, np.random.default_rng(0)))
    manifest = {"format_version": FORMAT_VERSION, "plan": asdict(p), "end": p.end, "rows": dict(sorted(rows.items())),
                "dirty_rows": dict(sorted(dirty.items())), "per_day": days, "workers": workers,
                "areas_from": "birmingham_lsoa11" if shared and (shared / "boundaries").exists() else "synthetic",
                "seconds": round(time.monotonic() - t0, 2)}
    (out / "_truth").mkdir(parents=True, exist_ok=True)
    (out / "_truth" / "bulk.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("bulk world in %s: %s pings over %d day(s), %d officers (%.1fs)", out, f"{rows['airwave_pings']:,}",
             p.days, p.officers, manifest["seconds"])
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate a force-sized demo world (raw extracts) for benchmarks.")
    parser.add_argument("--out", type=Path, required=True, help="raw root to write")
    parser.add_argument("--pings", type=int, required=True, help="about how many pings (e.g. 50000000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 3, 16), help="first UTC day")
    parser.add_argument("--officers", type=int, help="default: 7,000, fewer below a force-day of pings")
    parser.add_argument("--days", type=int, help="default: pings / 4M, at least 1")
    parser.add_argument("--dirty-rate", type=float, default=0.001)
    parser.add_argument("--workers", type=int, default=2, help="processes (one UTC day each)")
    parser.add_argument("--shared-data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = plan(args.pings, args.seed, args.start, args.officers, args.days, args.dirty_rate)
    generate_bulk(args.out, p, args.shared_data if args.shared_data.exists() else None, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
