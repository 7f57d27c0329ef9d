"""The demo world's fixed parts: areas (from real Birmingham LSOAs where available) and officers."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon, shape

from impact.spatial.bng import wgs84_to_bng_np

log = logging.getLogger(__name__)

BIRMINGHAM_BNG = (407_500.0, 287_000.0)          # city centre, metres
NPUS = ["Birmingham East", "Birmingham West", "Birmingham North", "Birmingham South"]
ROLES = [("response", 0.40), ("neighbourhood", 0.35), ("offender management", 0.08), ("partnerships", 0.07),
         ("investigation", 0.06), ("roads policing", 0.04)]
DEPARTMENTS = {"response": "Force Response", "neighbourhood": "Neighbourhood Policing",
               "offender management": "Offender Management", "partnerships": "Partnerships",
               "investigation": "Criminal Investigation", "roads policing": "Operations"}
FORENAMES = ["Alex", "Sam", "Jo", "Chris", "Pat", "Ravi", "Aisha", "Tom", "Priya", "Dan", "Emma", "Kwame"]
SURNAMES = ["Smith", "Khan", "Jones", "Patel", "Brown", "Ali", "Taylor", "Evans", "Begum", "Walker"]


@dataclass(frozen=True)
class Area:
    area_id: str
    name: str
    status: str                       # impact | comparison
    polygon_bng: Polygon
    weight: float                     # relative baseline demand (from real crime counts where available)


@dataclass(frozen=True)
class Officer:
    collar: str
    issi: str
    role: str
    npu: str
    beat: int                         # index of the area this officer's patrols centre on
    vehicle_terminal: bool            # response car fitted with a vehicle-mounted terminal
    move_day: int | None              # day index on which the officer's posting changes, if any
    new_npu: str | None


def _real_areas(shared: Path) -> list[tuple[str, Polygon, float]] | None:
    shp = shared / "boundaries" / "birmingham_lsoa11" / "lsoa.shp"
    crimes = shared / "police_uk" / "2011-02-west-midlands-street.csv"
    if not (shp.exists() and crimes.exists()):
        return None
    import shapefile  # pyshp

    reader = shapefile.Reader(str(shp))
    fields = [f[0] for f in reader.fields[1:]]
    polys, names = [], []
    for record, geom in zip(reader.records(), reader.shapes()):
        g = shape(geom.__geo_interface__)
        g = shapely.transform(g, lambda xy: np.column_stack(wgs84_to_bng_np(xy[:, 0], xy[:, 1])))
        polys.append(g)
        names.append(dict(zip(fields, record))["LSOA11NM"])
    with open(crimes, newline="") as handle:
        points = np.array([(float(r["Easting"]), float(r["Northing"])) for r in csv.DictReader(handle)
                           if r["Easting"] and r["Northing"]])
    tree = shapely.STRtree(polys)
    idx = tree.query(shapely.points(points), predicate="within")
    counts = np.bincount(idx[1], minlength=len(polys))
    chosen: list[int] = []
    for i in np.argsort(-counts, kind="stable"):
        if all(polys[i].distance(polys[j]) > 300 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == 39:
            break
    return [(names[i], polys[i], float(counts[i])) for i in chosen]


def _synthetic_areas(rng: np.random.Generator) -> list[tuple[str, Polygon, float]]:
    """39 convex, non-overlapping polygons (0.2-0.8 km2) scattered within 6 km of the city centre."""
    out: list[tuple[str, Polygon, float]] = []
    while len(out) < 39:
        angle, radius = rng.uniform(0, 2 * np.pi), rng.uniform(500, 6000)
        cx, cy = BIRMINGHAM_BNG[0] + radius * np.cos(angle), BIRMINGHAM_BNG[1] + radius * np.sin(angle)
        corners = rng.uniform(0, 2 * np.pi, 7)
        r = rng.uniform(250, 500, 7)
        poly = shapely.convex_hull(shapely.multipoints(np.column_stack([cx + r * np.cos(corners), cy + r * np.sin(corners)])))
        if all(poly.distance(other) > 300 for _, other, _ in out):
            out.append((f"Synthetic area {len(out) + 1}", poly, float(rng.uniform(20, 60))))
    return out


def build_areas(rng: np.random.Generator, shared: Path | None) -> list[Area]:
    """39 areas ranked by demand; Impact and comparison alternate down the ranking (matched groups)."""
    picked = _real_areas(shared) if shared else None
    if picked is None:
        log.warning("shared data not found (%s): using synthetic area polygons", shared)
        picked = _synthetic_areas(rng)
    areas = []
    for rank, (name, poly, weight) in enumerate(picked):
        status = "impact" if rank % 2 == 0 and rank < 38 else "comparison"
        areas.append(Area(f"{'IA' if status == 'impact' else 'CA'}{rank + 1:02d}", name, status, poly, weight))
    return areas


def build_officers(rng: np.random.Generator, n: int, n_areas: int, days: int) -> list[Officer]:
    roles = [r for r, _ in ROLES]
    probs = np.array([p for _, p in ROLES]) / sum(p for _, p in ROLES)
    officers = []
    for i in range(n):
        role = str(rng.choice(roles, p=probs))
        npu = NPUS[i % len(NPUS)]
        moves = rng.random() < 0.10 and days > 2
        officers.append(Officer(
            collar=f"{'ABCDEFGHJK'[i % 10]}{rng.integers(1000, 99999):05d}{i % 10}"[:7],
            issi=str(2_000_000 + i * 7 + int(rng.integers(0, 7))),
            role=role, npu=npu, beat=int(rng.integers(0, n_areas)),
            vehicle_terminal=role in ("response", "roads policing") and rng.random() < 0.7,
            move_day=int(rng.integers(1, days)) if moves else None,
            new_npu=NPUS[(i + 1) % len(NPUS)] if moves else None,
        ))
    seen: set[str] = set()
    unique = []
    for o in officers:                                  # collar numbers must be unique
        collar = o.collar
        while collar in seen:
            collar = collar[:-1] + str((int(collar[-1]) + 1) % 10) if collar[-1].isdigit() else collar + "1"
        seen.add(collar)
        unique.append(Officer(collar, o.issi, o.role, o.npu, o.beat, o.vehicle_terminal, o.move_day, o.new_npu))
    return unique


def postings_rows(officers: list[Officer], start: date, rng: np.random.Generator) -> list[list[str]]:
    """HR extract rows (with fake names, which ingest must drop). Dates dd/MM/yyyy."""
    rows = []
    fmt = "%d/%m/%Y"
    for o in officers:
        first = start - timedelta(days=int(rng.integers(30, 2000)))
        name = [str(rng.choice(FORENAMES)), str(rng.choice(SURNAMES))]
        dept = DEPARTMENTS[o.role]
        if o.move_day is None:
            rows.append([o.collar, *name, dept, o.npu, o.role, first.strftime(fmt), ""])
        else:
            change = start + timedelta(days=o.move_day)
            rows.append([o.collar, *name, dept, o.npu, o.role, first.strftime(fmt), (change - timedelta(days=1)).strftime(fmt)])
            rows.append([o.collar, *name, dept, o.new_npu, o.role, change.strftime(fmt), ""])
    return rows
