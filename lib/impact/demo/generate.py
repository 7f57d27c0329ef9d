"""Write the demo world's raw extracts (the formats in conf/sources.yaml) and its truth files.

    python -m impact.demo.generate --out data/raw --seed 42 --officers 300 --start 2026-03-16 --days 21

Deterministic: the same flags give byte-identical files. See docs/demo_world.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from collections import defaultdict
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from impact.demo import simulate as sim
from impact.spatial.bng import bng_to_wgs84_np
from impact.demo.world import build_areas, build_officers, postings_rows

log = logging.getLogger(__name__)

OFFENCES = {  # category -> (Home Office code, class, description); illustrative codes
    "BURGLARY": ("028/01", "Burglary", "Burglary - residential"),
    "ROBBERY": ("034/01", "Robbery", "Robbery of personal property"),
    "VIOLENCE": ("008/06", "Violence against the person", "Assault with injury"),
    "THEFT": ("049/01", "Theft offences", "Other theft"),
    "VEHICLE": ("045/00", "Vehicle offences", "Theft from a vehicle"),
    "DRUGS": ("092/01", "Drug offences", "Possession of controlled drugs"),
}
GRADES = {1: "EMERG", 2: "PRIOR", 3: "SCHED", 4: "RESOL"}
SEARCH_OBJECTS = [("Misuse of Drugs Act 1971 (section 23)", "Controlled drugs"),
                  ("Police and Criminal Evidence Act 1984 (section 1)", "Offensive weapons"),
                  ("Police and Criminal Evidence Act 1984 (section 1)", "Stolen goods")]
OUTCOMES = ["A no further action disposal", "Arrest", "Community resolution", "Khat or Cannabis warning"]


def _utc(ts: np.ndarray | float) -> pd.DatetimeIndex:
    return pd.to_datetime(np.atleast_1d(ts), unit="s", utc=True).round("s")


def _local(ts, fmt: str) -> list[str]:
    return list(_utc(ts).tz_convert("Europe/London").strftime(fmt))


def _iso_offset(ts) -> list[str]:
    local = _utc(ts).tz_convert("Europe/London")
    return [v[:-2] + ":" + v[-2:] for v in local.strftime("%Y-%m-%dT%H:%M:%S%z")]


def _wgs(x, y):
    lon, lat = bng_to_wgs84_np(np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float)))
    return np.round(lon, 6), np.round(lat, 6)


def _dirty(rows: list[list[str]], columns: list[str], rate: float, rng: np.random.Generator,
           corruptions: dict[str, tuple[str, str]], counts: dict[str, int]) -> None:
    """Corrupt about rate x rows in place: each corruption class sets one column to a bad value."""
    n = int(rng.binomial(len(rows), rate)) if rows else 0
    names = sorted(corruptions)
    for i in rng.choice(len(rows), size=min(n, len(rows)), replace=False):
        kind = names[int(rng.integers(len(names)))]
        column, value = corruptions[kind]
        if kind == "duplicate_key_conflict":
            rows.append(list(rows[int(i)]))
            rows[-1][columns.index(column)] = value
        else:
            rows[int(i)][columns.index(column)] = value
        counts[kind] += 1


def _write_csv(path: Path, columns: list[str], rows: list[list], sep: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter=sep, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def generate(out: Path, seed: int, n_officers: int, start: date, days: int, shared: Path | None,
             designation: date, cutover: date, dirty_rate: float, effects: sim.Effects,
             waves: int = 1, wave_days: int = 7) -> dict:
    """Write the world into `out`; Impact Areas are designated in `waves` waves `wave_days` apart from
    `designation` (see `designation_dates`). Returns the truth dict also written to _truth/truth.json."""
    rng = np.random.default_rng(seed)
    t0 = time.monotonic()
    areas = build_areas(rng, shared)
    designated_from = designation_dates(areas, designation, waves, wave_days)
    everything = shapely.union_all([a.polygon_bng for a in areas])
    rings = [(a.polygon_bng.buffer(250).difference(everything), a.polygon_bng.buffer(500).difference(a.polygon_bng.buffer(250)).difference(everything))
             for a in areas]
    officers = build_officers(rng, n_officers, len(areas), days)
    polys = [a.polygon_bng for a in areas]

    _write_csv(out / "areas" / "areas.csv", ["AreaCode", "AreaName", "AreaType", "DesignatedFrom", "WKT"], [
        [a.area_id, a.name, "Impact Area" if a.status == "impact" else "Comparison Area",
         designated_from[a.area_id].isoformat() if a.status == "impact" else "",
         shapely.to_wkt(shapely.transform(a.polygon_bng, lambda xy: np.column_stack(_wgs(xy[:, 0], xy[:, 1]))), rounding_precision=6)]
        for a in areas])
    _write_csv(out / "officers" / "postings.csv",
               ["CollarNo", "Forename", "Surname", "Department", "NPU", "Role", "PostingStart", "PostingEnd"],
               postings_rows(officers, start, rng))

    pings_by_date: dict[str, list[pd.DataFrame]] = defaultdict(list)
    events: dict[str, list] = defaultdict(list)
    truth_rows, counter, dirty_counts = [], [0], defaultdict(int)
    for d in range(days):
        day = start + timedelta(days=d)
        designated = [a for a in areas if a.status == "impact" and day >= designated_from[a.area_id]]
        designated_ids = {a.area_id for a in designated}
        searches: list = []
        patrol_seconds = np.zeros(len(areas))
        all_seconds = np.zeros(len(areas))
        tracks = []
        for i, o in enumerate(officers):                           # pass 1: patrol
            shift = sim.shifts_for(i, day)
            if shift is None or o.role in ("response", "roads policing"):
                continue
            track = sim.patrol_track(o, i, shift, areas, designated, effects, rng, searches)
            secs = sim.time_in_polygons(track, polys)
            patrol_seconds += secs
            tracks.append((o, shift, track))
        calls, call_truth = sim.calls_for_day(day, areas, rings, patrol_seconds / 3600, designated, effects, rng, counter)
        for i, o in enumerate(officers):                           # pass 2: response
            shift = sim.shifts_for(i, day)
            if shift is None or o.role not in ("response", "roads policing"):
                continue
            track, assignments = sim.response_track(o, shift, calls, rng, searches)
            tracks.append((o, shift, track))
            events["resources"].extend(assignments)
        for o, shift, track in tracks:
            all_seconds += sim.time_in_polygons(track, polys)
            p = sim.sample_pings(track, shift[1], rng)
            vm = p["driving"] & o.vehicle_terminal
            frame = pd.DataFrame({
                "ISSI": np.where(vm, o.issi + "9", o.issi), "Affiliation": o.collar, "t": p["t"],
                "x": p["x"], "y": p["y"],
                "SpeedKmh": np.where(rng.random(len(vm)) < 0.2, np.nan, np.round(p["speed"] * 3.6, 1)),
                "Heading": np.where(rng.random(len(vm)) < 0.2, np.nan, np.round(p["heading"])),
                "TerminalType": np.where(rng.random(len(vm)) < 0.05, "", np.where(vm, "VM", "HH")),
            })
            frame["utc_date"] = _utc(frame["t"].to_numpy()).strftime("%Y%m%d")
            for key, part in frame.groupby("utc_date", sort=True):
                pings_by_date[key].append(part)
        crimes = [c for c in calls if c["category"] in sim.CRIME_CATEGORIES and rng.random() < effects.call_to_crime_share]
        events["calls"].extend(calls)
        events["crimes"].extend(crimes)
        events["searches"].extend(searches)
        for i, a in enumerate(areas):
            truth_rows.append({"local_date": day.isoformat(), "area_id": a.area_id, "status": a.status,
                               "designated": a.area_id in designated_ids,
                               "patrol_officer_minutes": round(patrol_seconds[i] / 60, 2),
                               "all_officer_minutes": round(all_seconds[i] / 60, 2),
                               "crime_calls_in_area": int(call_truth["area_calls"][i]),
                               "crime_calls_ring_0_250": int(call_truth["ring0_calls"][i]),
                               "crime_calls_ring_250_500": int(call_truth["ring1_calls"][i]),
                               "crimes_in_area": sum(1 for c in crimes if c["area"] == i and c["where"] == "area")})
        log.info("day %s: %d shifts, %d calls, %d crimes", day, len(tracks), len(calls), len(crimes))

    counts = _write_pings(out, pings_by_date, dirty_rate, rng, dirty_counts)
    counts.update(_write_events(out, events, cutover, officers, dirty_rate, rng, dirty_counts))
    (out / "_truth").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(truth_rows).to_csv(out / "_truth" / "area_day_truth.csv", index=False)
    truth = {"seed": seed, "officers": n_officers, "start": start.isoformat(), "days": days,
             "designation_date": designation.isoformat(), "cutover_date": cutover.isoformat(),
             "designation_waves": waves, "wave_days": wave_days,
             "designated_from": {k: v.isoformat() for k, v in sorted(designated_from.items())},
             "effects": asdict(effects), "dirty_rate": dirty_rate, "dirty_rows": dict(sorted(dirty_counts.items())),
             "rows": counts, "areas_from": "birmingham_lsoa11" if shared and (shared / "boundaries").exists() else "synthetic"}
    (out / "_truth" / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    log.info("demo world in %s: %s (%.1fs)", out, ", ".join(f"{k} {v}" for k, v in counts.items()), time.monotonic() - t0)
    return truth


def designation_dates(areas, designation: date, waves: int, wave_days: int) -> dict[str, date]:
    """Each Impact Area's designation date: the k-th Impact Area (in ranking order) joins wave k mod
    `waves`, designated `designation + wave x wave_days` days (so waves alternate down the demand ranking)."""
    if waves < 1 or wave_days < 1:
        raise ValueError(f"waves ({waves}) and wave_days ({wave_days}) must be at least 1")
    impact = [a for a in areas if a.status == "impact"]
    return {a.area_id: designation + timedelta(days=(k % waves) * wave_days) for k, a in enumerate(impact)}


def _write_pings(out: Path, pings_by_date, dirty_rate, rng, dirty_counts) -> dict[str, int]:
    columns = ["ISSI", "Affiliation", "FixTimeUTC", "Latitude", "Longitude", "SpeedKmh", "Heading", "TerminalType"]
    total = 0
    for key in sorted(pings_by_date):
        frame = pd.concat(pings_by_date[key], ignore_index=True)
        lon, lat = _wgs(frame["x"], frame["y"])
        zero = rng.random(len(frame)) < 0.0005                       # (0,0) fixes
        frame = frame.assign(Latitude=np.where(zero, 0.0, lat), Longitude=np.where(zero, 0.0, lon),
                             FixTimeUTC=_utc(frame["t"].to_numpy()).strftime("%Y-%m-%d %H:%M:%S"))
        dupes = frame.sample(frac=0.003, random_state=int(rng.integers(1 << 31)))   # radio resends
        frame = pd.concat([frame, dupes]).sample(frac=1.0, random_state=int(rng.integers(1 << 31)))  # out of order
        rows = frame[columns].astype(object).where(frame[columns].notna(), "").astype(str).values.tolist()
        _dirty(rows, columns, dirty_rate, rng, {
            "bad_time": ("FixTimeUTC", "31/02/2026 25:61"), "bad_number": ("Latitude", "52,48N"),
            "missing_key": ("Affiliation", ""), "impossible_coordinate": ("Latitude", "95.0")}, dirty_counts)
        _write_csv(out / "airwave_pings" / f"pings_{key}.csv", columns, rows)
        total += len(rows)
    return {"airwave_pings": total}


def _write_events(out: Path, events, cutover: date, officers, dirty_rate, rng, dirty_counts) -> dict[str, int]:
    cut = datetime(cutover.year, cutover.month, cutover.day, tzinfo=sim.LONDON).timestamp()
    collars = [o.collar for o in officers]
    by_day: dict[tuple[str, str], list] = defaultdict(list)
    calls = events["calls"]
    for c in calls:
        c["system"] = "OASIS" if c["t"] < cut else "CW"
        c["log"] = f"{'OA' if c['system'] == 'OASIS' else 'CW'}{c['ref']:07d}"
    lon_lat = {id(c): _wgs(c["x"], c["y"]) for c in calls}
    for c in calls:
        key = _utc(c["t"]).strftime("%Y%m%d")[0]
        close = c["category"] if rng.random() < 0.8 else str(rng.choice(sim.OTHER_CATEGORIES))
        if c["system"] == "OASIS":
            d, tm = _local(c["t"], "%d/%m/%Y")[0], _local(c["t"], "%H:%M:%S")[0]
            by_day[("oasis", key)].append([c["log"], d, tm, c["category"], close, GRADES[c["priority"]],
                                           f"{c['x']:.0f}", f"{c['y']:.0f}", "Caller Name", "07700 900000", "Near the shops"])
        else:
            lon, lat = lon_lat[id(c)]
            by_day[("cw", key)].append({
                "incidentNumber": c["log"], "createdDateTime": _iso_offset(c["t"])[0],
                "initialClassification": {"code": c["category"], "description": c["category"].title()},
                "finalClassification": {"code": close, "description": close.title()},
                "priority": f"P{c['priority']}", "location": {"latitude": float(lat[0]), "longitude": float(lon[0])},
                "caller": {"name": "Caller Name", "phone": "07700 900000"}, "narrative": "free text"})
    for r in events["resources"]:
        c = r["call"]
        key = _utc(r["assigned"]).strftime("%Y%m%d")[0]
        iso = lambda v: _utc(v).strftime("%Y-%m-%dT%H:%M:%SZ")[0]  # noqa: E731
        by_day[("res", key)].append([c["log"], c["system"], r["collar"], iso(r["assigned"]), iso(r["arrived"]), iso(r["cleared"])])
    for n, c in enumerate(events["crimes"]):
        recorded = c["t"] + rng.uniform(1800, 14400)
        committed_from = c["t"] - rng.uniform(0, 7200)
        code, klass, desc = OFFENCES[c["category"]]
        key = _utc(recorded).strftime("%Y%m%d")[0]
        officer = c["officer"] or collars[int(rng.integers(len(collars)))]
        by_day[("crime", key)].append([f"20/{c['ref']:07d}/26", code, klass, desc, _local(committed_from, "%d/%m/%Y %H:%M")[0],
                                       _local(c["t"], "%d/%m/%Y %H:%M")[0], _local(recorded, "%d/%m/%Y %H:%M")[0],
                                       f"{c['x'] + rng.normal(0, 5):.0f}", f"{c['y'] + rng.normal(0, 5):.0f}", officer,
                                       "Victim", "01/01/1980", "B1"])
    for n, (t, x, y, collar) in enumerate(sorted(events["searches"])):
        lon, lat = _wgs(x + rng.normal(0, 10), y + rng.normal(0, 10))
        key = _utc(t).strftime("%Y%m%d")[0]
        legislation, obj = SEARCH_OBJECTS[int(rng.integers(len(SEARCH_OBJECTS)))]
        by_day[("search", key)].append([f"SS{key}{n:06d}", "Person search", _iso_offset(t)[0], f"{lat[0]}", f"{lon[0]}",
                                        "Male", "18-24", "Prefer not to say", "", legislation, obj,
                                        str(rng.choice(OUTCOMES)), "False", "False", "False", "", collar])

    layouts = {
        "oasis": ("oasis_incidents/OASIS_{}.txt", "|", ["LOG_NO", "LOG_DATE", "LOG_TIME", "OPEN_CODE", "CLOSE_CODE", "GRADE", "X_COORD", "Y_COORD", "CALLER_NAME", "CALLER_TEL", "LOCATION_TEXT"],
                  {"bad_time": ("LOG_TIME", "25:99:00"), "bad_number": ("X_COORD", "four hundred"), "missing_key": ("LOG_NO", ""), "duplicate_key_conflict": ("GRADE", "PRIOR")}),
        "res": ("incident_resources/resources_{}.csv", ",", ["IncidentRef", "System", "ResourceRef", "Assigned", "Arrived", "Cleared"],
                {"bad_time": ("Assigned", "yesterday"), "missing_key": ("ResourceRef", "")}),
        "crime": ("connect_crimes/crimes_{}.csv", ",", ["CrimeNumber", "HOCode", "HOClass", "OffenceDescription", "CommittedFrom", "CommittedTo", "RecordedDateTime", "Easting", "Northing", "RecordingOfficer", "VictimSurname", "VictimDOB", "Beat"],
                  {"bad_time": ("RecordedDateTime", "32/13/2026 10:00"), "bad_number": ("Easting", "n/a"), "missing_key": ("CrimeNumber", ""),
                   "impossible_coordinate": ("Northing", "0"), "duplicate_key_conflict": ("HOClass", "Theft offences")}),
        "search": ("stop_search/searches_{}.csv", ",", ["SearchRef", "Type", "Date", "Latitude", "Longitude", "Gender", "Age range", "Self-defined ethnicity", "Officer-defined ethnicity", "Legislation", "Object of search", "Outcome", "Outcome linked to object of search", "Removal of more than just outer clothing", "Part of a policing operation", "Policing operation", "OfficerCollar"],
                   {"bad_time": ("Date", "2026-13-01T00:00:00+00:00"), "missing_key": ("SearchRef", "")}),
    }
    counts: dict[str, int] = defaultdict(int)
    names = {"oasis": "oasis_incidents", "cw": "controlworks_incidents", "res": "incident_resources", "crime": "connect_crimes", "search": "stop_search"}
    for (kind, key), rows in sorted(by_day.items()):
        if kind == "cw":
            path = out / "controlworks_incidents" / f"cw_{key}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            bad = set(rng.choice(len(rows), size=int(rng.binomial(len(rows), dirty_rate)), replace=False).tolist())
            lines = []
            for i, row in enumerate(rows):
                if i in bad:
                    row = {**row, "createdDateTime": "not a time"}
                    dirty_counts["bad_time"] += 1
                lines.append(json.dumps(row, sort_keys=True))
            path.write_text("\n".join(lines) + "\n")
        else:
            pattern, sep, columns, corruptions = layouts[kind]
            _dirty(rows, columns, dirty_rate, rng, corruptions, dirty_counts)
            _write_csv(out / pattern.format(key), columns, rows, sep)
        counts[names[kind]] += len(rows)
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the deterministic demo world (raw extracts + truth).")
    parser.add_argument("--out", type=Path, required=True, help="raw root to write (e.g. data/raw)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    parser.add_argument("--officers", type=int, default=300, help="number of officers (force: about 7,000)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 3, 16), help="first local day")
    parser.add_argument("--days", type=int, default=21, help="number of days")
    parser.add_argument("--shared-data", type=Path, default=Path("../shared/data"),
                        help="public data folder (real LSOA polygons and crimes); synthetic areas when absent")
    parser.add_argument("--designation", type=date.fromisoformat, default=date(2026, 3, 23),
                        help="first designation date (wave 1)")
    parser.add_argument("--designation-waves", type=int, default=2,
                        help="Impact Areas are designated in this many waves (alternating down the ranking)")
    parser.add_argument("--wave-days", type=int, default=7, help="days between designation waves")
    parser.add_argument("--effects", choices=["on", "off"], default="on",
                        help="off: presence elasticity and displacement shares zero (docs/demo_world.md)")
    parser.add_argument("--base-calls", type=float, default=sim.Effects.base_calls_per_area_day,
                        help="crime-type calls per day in the busiest area with no presence (a light world for the "
                             "analysis back-tests raises it: more crimes per area-day without more pings)")
    parser.add_argument("--cutover", type=date.fromisoformat, default=date(2026, 3, 26), help="Oasis -> ControlWorks cut-over day")
    parser.add_argument("--dirty-rate", type=float, default=0.002, help="share of rows corrupted per daily file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shared = args.shared_data if args.shared_data.exists() else None
    generate(args.out, args.seed, args.officers, args.start, args.days, shared, args.designation, args.cutover,
             args.dirty_rate, replace(sim.Effects() if args.effects == "on" else sim.Effects.off(),
                                      base_calls_per_area_day=args.base_calls),
             args.designation_waves, args.wave_days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
