"""The demo-world generator: deterministic, shaped exactly like the contracts, with its planted parts."""
from __future__ import annotations

import csv
import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from impact.demo.generate import generate
from impact.demo.simulate import Effects

ROOT = Path(__file__).resolve().parent.parent
SOURCES = yaml.safe_load((ROOT / "conf" / "sources.yaml").read_text())["sources"]
FORCE = [n for n in SOURCES if not n.startswith("police_uk_")]


def make(out: Path, seed: int = 3, shared: Path | None = None) -> dict:
    return generate(out, seed, 16, date(2026, 3, 28), 3, shared, date(2026, 3, 23), date(2026, 3, 29), 0.01, Effects())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    return out, make(out)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(world, tmp_path):
    out, _ = world
    make(tmp_path / "again")
    make(tmp_path / "other", seed=4)
    assert digest(tmp_path / "again") == digest(out)
    assert digest(tmp_path / "other") != digest(out)


@pytest.mark.parametrize("source", FORCE)
def test_every_file_has_exactly_the_contract_columns(world, source):
    out, _ = world
    contract = SOURCES[source]
    files = sorted(out.glob(contract["path"].replace("{date}", "*")))
    assert files, f"no files for {source}"
    raws = []
    for c in contract["columns"]:
        raws += c["raw"] if isinstance(c["raw"], list) else [c["raw"]]
    declared = set(raws) | set(contract.get("drop", []))
    for f in files:
        if contract["format"] == "jsonl":
            record = json.loads(f.read_text().splitlines()[0])
            assert {k for k in record} == {r.split(".")[0] for r in declared}
        else:
            header = next(csv.reader([f.read_text().splitlines()[0]], delimiter=contract["csv"].get("sep", ",")))
            assert set(header) == declared, f.name
            assert len(header) == len(declared)


def test_ping_cadence_files_by_utc_date_and_dst(world):
    out, _ = world
    times_by_file = {}
    for f in sorted((out / "airwave_pings").glob("pings_*.csv")):
        rows = list(csv.DictReader(f.open()))
        times = [r["FixTimeUTC"] for r in rows if r["FixTimeUTC"][:4] == "2026"]
        assert all(t[:10].replace("-", "") == f.stem[-8:] for t in times)     # one UTC day per file
        times_by_file[f.stem] = times
    assert "pings_20260329" in times_by_file                                    # the spring-forward day
    by_radio: dict[str, list[datetime]] = {}
    for f in (out / "airwave_pings").glob("pings_*.csv"):
        for r in csv.DictReader(f.open()):
            try:
                by_radio.setdefault(r["ISSI"], []).append(datetime.strptime(r["FixTimeUTC"], "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                pass
    gaps = [(b - a).total_seconds() for ts in by_radio.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    within = sum(1 for g in gaps if 30 <= g <= 300 or g == 0)
    assert within / len(gaps) > 0.8


def test_local_time_sources_skip_the_missing_hour(world):
    out, _ = world
    for f in (out / "connect_crimes").glob("crimes_*.csv"):
        for r in csv.DictReader(f.open()):
            assert not r["RecordedDateTime"].startswith("29/03/2026 01:")    # 01:00-02:00 never happens


def test_dirty_rows_and_truth(world):
    out, truth = world
    assert sum(truth["dirty_rows"].values()) > 0
    assert truth["effects"]["presence_elasticity"] < 0
    with open(out / "_truth" / "area_day_truth.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 39 * 3
    assert {r["status"] for r in rows} == {"impact", "comparison"}
    assert sum(1 for r in rows if r["status"] == "impact") == 19 * 3
    ia = sum(float(r["patrol_officer_minutes"]) for r in rows if r["status"] == "impact")
    ca = sum(float(r["patrol_officer_minutes"]) for r in rows if r["status"] == "comparison")
    assert ia > ca          # designated areas get directed patrols


def test_real_lsoa_areas_when_shared_data_present(shared_data, tmp_path):
    truth = make(tmp_path / "w", shared=shared_data)
    assert truth["areas_from"] == "birmingham_lsoa11"
    rows = list(csv.DictReader((tmp_path / "w" / "areas" / "areas.csv").open()))
    assert len(rows) == 39 and all(r["WKT"].startswith(("POLYGON", "MULTIPOLYGON")) for r in rows)
    assert all("Birmingham" in r["AreaName"] for r in rows)
