"""Officer movement, calls for service, crimes and searches for the demo world (numpy, no Spark).

Two passes make the planted presence -> crime effect well defined: pass 1 simulates patrol (every
officer except response): its time inside each area per day is the presence that drives crime-type
calls there. Pass 2 simulates response officers driving to those calls, so incidents, resource
assignments and pings agree with each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry import Polygon

from impact.demo.world import BIRMINGHAM_BNG, Area, Officer

LONDON = ZoneInfo("Europe/London")
FOOT_MPS, VEHICLE_MPS = 1.4, 9.0
CRIME_CATEGORIES = ["BURGLARY", "ROBBERY", "VIOLENCE", "THEFT", "VEHICLE", "DRUGS"]
OTHER_CATEGORIES = ["ASB", "CONCERN", "TRAFFIC", "OTHER"]
HOUR_PROFILE = np.array([3, 2, 2, 1, 1, 1, 2, 3, 4, 5, 5, 5, 6, 6, 6, 6, 7, 8, 8, 8, 7, 6, 5, 4], float)
HOUR_PROFILE /= HOUR_PROFILE.sum()


@dataclass(frozen=True)
class Effects:
    """The planted effects (documented in docs/demo_world.md and written to _truth/truth.json)."""

    presence_elasticity: float = -0.3       # crime-type call rate x (1 + officer-hours in area that day) ** e
    displaced_share_0_250: float = 0.25     # of prevented calls, re-appearing in the 0-250 m ring
    displaced_share_250_500: float = 0.10   # ... and in the 250-500 m ring
    call_to_crime_share: float = 0.35       # share of crime-type calls recorded as a crime
    base_calls_per_area_day: float = 3.0    # crime-type calls/day in the busiest area with no presence
    directed_patrols_per_shift: float = 2.0  # extra visits to Impact Areas per patrol shift after designation

    @classmethod
    def off(cls) -> "Effects":
        """Every planted effect of policing on crime zero (no presence elasticity, no displacement); the
        treatment itself (directed patrols after designation) and the recording process (call-to-crime
        share) stay, so the analysis sees more presence in Impact Areas and no change in crime."""
        return cls(presence_elasticity=0.0, displaced_share_0_250=0.0, displaced_share_250_500=0.0)


@dataclass
class Track:
    """Piecewise-linear path of one officer's shift: knot times (UTC epoch s), positions (BNG m), driving flag."""

    t: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    driving: list[bool] = field(default_factory=list)   # flag of the segment ENDING at this knot

    def go(self, x: float, y: float, speed: float, driving: bool) -> None:
        dist = float(np.hypot(x - self.x[-1], y - self.y[-1]))
        self.add(self.t[-1] + dist / speed, x, y, driving)

    def stay(self, seconds: float) -> None:
        self.add(self.t[-1] + seconds, self.x[-1], self.y[-1], False)

    def add(self, t: float, x: float, y: float, driving: bool) -> None:
        self.t.append(t), self.x.append(x), self.y.append(y), self.driving.append(driving)


def epoch(dt: datetime) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp() if dt.tzinfo is None else dt.timestamp()


def random_point_in(poly: Polygon, rng: np.random.Generator) -> tuple[float, float]:
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(200):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.contains_xy(poly, x, y):
            return float(x), float(y)
    c = poly.representative_point()
    return c.x, c.y


def shifts_for(officer_index: int, day: date) -> tuple[float, float] | None:
    """UTC epoch start/end of the officer's shift on a local day, or None on rest days (2 in 7)."""
    if (day.toordinal() + officer_index) % 7 in (0, 1):
        return None
    start_hour = (7, 15, 22)[officer_index % 3]
    start = datetime(day.year, day.month, day.day, start_hour, tzinfo=LONDON)
    return start.timestamp(), start.timestamp() + 8 * 3600


def patrol_track(o: Officer, index: int, shift: tuple[float, float], areas: list[Area], designated: list[Area],
                 effects: Effects, rng: np.random.Generator, searches: list) -> Track:
    """A foot patrol around the officer's beat area, with directed visits to the Impact Areas already
    designated on the shift's day (`designated`; empty before the first wave)."""
    beat = areas[o.beat].polygon_bng
    cx, cy = beat.centroid.x, beat.centroid.y
    track = Track()
    track.add(shift[0], cx + rng.normal(0, 400), cy + rng.normal(0, 400), False)
    impact = list(designated)
    p_directed = effects.directed_patrols_per_shift / 16.0 if impact else 0.0
    while track.t[-1] < shift[1]:
        roll = rng.random()
        if roll < p_directed:                                       # directed patrol: 10-16 minute dwell
            x, y = random_point_in(impact[int(rng.integers(len(impact)))].polygon_bng, rng)
            drive = np.hypot(x - track.x[-1], y - track.y[-1]) > 1500
            track.go(x, y, VEHICLE_MPS if drive else FOOT_MPS, bool(drive))
            track.stay(rng.uniform(600, 960))
        elif roll < 0.5:
            x, y = random_point_in(beat, rng)
            track.go(x, y, FOOT_MPS, False)
            dwell = rng.uniform(120, 900)
            if rng.random() < 0.01:
                searches.append((track.t[-1] + rng.uniform(0, dwell), x, y, o.collar))
            track.stay(dwell)
        else:
            x, y = cx + rng.normal(0, 700), cy + rng.normal(0, 700)
            track.go(x, y, FOOT_MPS, False)
            track.stay(rng.uniform(0, 300))
    return track


def response_track(o: Officer, shift: tuple[float, float], calls: list[dict], rng: np.random.Generator,
                   searches: list) -> tuple[Track, list[dict]]:
    """A response car taking unassigned calls in time order; returns the track and resource rows."""
    track = Track()
    track.add(shift[0], BIRMINGHAM_BNG[0] + rng.normal(0, 2000), BIRMINGHAM_BNG[1] + rng.normal(0, 2000), False)
    assignments = []
    for call in calls:
        if call["assigned"] or call["priority"] > 3 or call["t"] < track.t[-1] - 1800 or call["t"] > shift[1]:
            continue
        if call["t"] > track.t[-1]:                                  # free: patrol until the call comes in
            track.go(track.x[-1] + rng.normal(0, 800), track.y[-1] + rng.normal(0, 800), VEHICLE_MPS, True)
            if track.t[-1] < call["t"]:
                track.stay(call["t"] - track.t[-1])
        assigned_at = max(call["t"], track.t[-1]) + rng.uniform(30, 240)
        track.stay(assigned_at - track.t[-1])
        track.go(call["x"], call["y"], VEHICLE_MPS, True)
        arrived_at = track.t[-1]
        track.stay(rng.uniform(900, 2700))
        if rng.random() < 0.03:
            searches.append((arrived_at + 60, call["x"], call["y"], o.collar))
        call["assigned"] = True
        call["officer"] = o.collar
        assignments.append({"ref": call["ref"], "collar": o.collar, "assigned": assigned_at,
                            "arrived": arrived_at, "cleared": track.t[-1], "call": call})
        if track.t[-1] > shift[1]:
            break
    if track.t[-1] < shift[1]:
        track.go(track.x[-1] + rng.normal(0, 1500), track.y[-1] + rng.normal(0, 1500), VEHICLE_MPS, True)
        track.stay(max(0.0, shift[1] - track.t[-1]))
    return track, assignments


def sample_pings(track: Track, shift_end: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """GPS fixes along a track: 30-240 s cadence, ~8 m jitter, sometimes a radio switched off for 20-60 min."""
    t_knots = np.array(track.t)
    span_end = min(t_knots[-1], shift_end)
    n = int((span_end - t_knots[0]) / 60) + 10
    times = t_knots[0] + np.cumsum(rng.uniform(30, 240, n))
    times = times[times < span_end]
    if rng.random() < 0.08 and len(times) > 20:                         # radio off
        off = rng.uniform(times[0], times[-1])
        times = times[(times < off) | (times > off + rng.uniform(1200, 3600))]
    x = np.interp(times, t_knots, track.x) + rng.normal(0, 8, len(times))
    y = np.interp(times, t_knots, track.y) + rng.normal(0, 8, len(times))
    seg = np.clip(np.searchsorted(t_knots, times, side="right"), 1, len(t_knots) - 1)
    driving = np.array(track.driving)[seg]
    dx = np.array(track.x)[seg] - np.array(track.x)[seg - 1]
    dy = np.array(track.y)[seg] - np.array(track.y)[seg - 1]
    dt = np.maximum(t_knots[seg] - t_knots[seg - 1], 1e-9)
    speed = np.hypot(dx, dy) / dt
    heading = (np.degrees(np.arctan2(dx, dy)) + 360) % 360
    return {"t": times, "x": x, "y": y, "driving": driving, "speed": speed, "heading": heading}


def time_in_polygons(track: Track, polys: list[Polygon], step_s: float = 20.0) -> np.ndarray:
    """Seconds the continuous track spends inside each polygon (sampled every step_s seconds)."""
    t_knots = np.array(track.t)
    times = np.arange(t_knots[0], t_knots[-1], step_s)
    x, y = np.interp(times, t_knots, track.x), np.interp(times, t_knots, track.y)
    out = np.zeros(len(polys))
    for i, poly in enumerate(polys):
        minx, miny, maxx, maxy = poly.bounds
        near = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
        if near.any():
            out[i] = shapely.contains_xy(poly, x[near], y[near]).sum() * step_s
    return out


def calls_for_day(day: date, areas: list[Area], rings: list[tuple[Polygon, Polygon]], presence_hours: np.ndarray,
                  designated: bool, effects: Effects, rng: np.random.Generator, counter: list[int]) -> tuple[list[dict], dict]:
    """Calls for service on one local day: crime-type calls in areas fall with presence; some of the
    prevented ones are displaced into the rings; other calls and city-wide background calls."""
    max_weight = max(a.weight for a in areas)
    day_start = datetime(day.year, day.month, day.day, tzinfo=LONDON).timestamp()
    calls: list[dict] = []
    truth = {"area_calls": np.zeros(len(areas)), "ring0_calls": np.zeros(len(areas)), "ring1_calls": np.zeros(len(areas))}

    def add(n: int, poly_or_none, categories, where: str, idx: int | None):
        for _ in range(n):
            if poly_or_none is None:
                x, y = BIRMINGHAM_BNG[0] + rng.normal(0, 3500), BIRMINGHAM_BNG[1] + rng.normal(0, 3500)
            else:
                x, y = random_point_in(poly_or_none, rng)
            counter[0] += 1
            hour = rng.choice(24, p=HOUR_PROFILE)
            calls.append({"ref": counter[0], "t": day_start + hour * 3600 + rng.uniform(0, 3600), "x": x, "y": y,
                          "category": str(rng.choice(categories)), "priority": int(rng.choice([1, 2, 3, 4], p=[.1, .45, .35, .1])),
                          "where": where, "area": idx, "assigned": False, "officer": None})

    for i, area in enumerate(areas):
        base = effects.base_calls_per_area_day * area.weight / max_weight
        rate = base * (1 + presence_hours[i]) ** effects.presence_elasticity
        prevented = max(base - rate, 0.0)
        n_area = rng.poisson(rate)
        n0, n1 = rng.poisson(effects.displaced_share_0_250 * prevented), rng.poisson(effects.displaced_share_250_500 * prevented)
        add(n_area, area.polygon_bng, CRIME_CATEGORIES, "area", i)
        add(n0, rings[i][0], CRIME_CATEGORIES, "ring_0_250", i)
        add(n1, rings[i][1], CRIME_CATEGORIES, "ring_250_500", i)
        add(rng.poisson(0.6 * base), area.polygon_bng, OTHER_CATEGORIES, "area_other", i)
        truth["area_calls"][i] += n_area
        truth["ring0_calls"][i] += n0
        truth["ring1_calls"][i] += n1
    add(rng.poisson(len(areas) * 0.8), None, CRIME_CATEGORIES + OTHER_CATEGORIES, "background", None)
    calls.sort(key=lambda c: c["t"])
    return calls, truth
