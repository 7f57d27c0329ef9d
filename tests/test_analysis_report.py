"""The technical report: self-contained HTML (no script, no network), every section present, rendered by
headless Chromium without console errors. `render_in_chromium` is shared with the end-to-end test."""
from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from impact.analysis.report import SECTIONS, build_report, forest_svg, map_svg, write_report


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.append(a["id"])


def parse(text: str) -> _Ids:
    p = _Ids()
    p.feed(text)
    return p


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium not installed and not installable here (make test installs it as root where apt-get "
                    "exists: apt-get install chromium)")
    return exe


def render_in_chromium(page: Path, out_dir: Path, height: int = 9000) -> tuple[Path, str, str]:
    """Screenshot `page` headless (1400 px wide) into out_dir; returns (png, dumped DOM, browser log)."""
    exe = chromium()
    png = out_dir / (page.stem + ".png")
    common = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
              "--enable-logging=stderr", "--v=0", f"--user-data-dir={out_dir / 'chromium-profile'}"]
    shot = subprocess.run(common + [f"--screenshot={png}", f"--window-size=1400,{height}", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)
    dom = subprocess.run(common + ["--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=180)
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    return png, dom.stdout, shot.stderr + dom.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Uncaught" in line or "ERROR:CONSOLE" in line or ":CONSOLE(" in line]


def _zones() -> pd.DataFrame:
    rows = []
    for i, status in enumerate(["impact", "comparison", "impact", "comparison"]):
        poly = shapely.Point(407_000 + 900 * i, 287_000 + 300 * (i % 2)).buffer(150)
        for zt, g in (("area", poly), ("ring_0_250", poly.buffer(250).difference(poly)),
                      ("ring_250_500", poly.buffer(500).difference(poly.buffer(250)))):
            rows.append({"zone_id": f"A{i}:{zt}", "area_id": f"A{i}", "area_status": status, "zone_type": zt,
                         "designated_from": date(2026, 3, 23) if status == "impact" else None, "geometry_wkt": g.wkt})
    return pd.DataFrame(rows)


def _frames(zones: pd.DataFrame):
    """Small result frames shaped like the job's (column names from the pipeline), values from a seeded rng."""
    rng = np.random.default_rng(1)
    weeks = pd.date_range("2026-03-16", periods=4, freq="7D").date
    week = pd.DataFrame([{"zone_id": z.zone_id, "area_id": z.area_id, "area_status": z.area_status, "zone_type": z.zone_type,
                          "week_start": w, "week_index": i, "days": 7, "crimes": int(rng.poisson(5)),
                          "patrolling_officer_minutes": float(rng.uniform(100, 900))}
                         for z in zones.itertuples() for i, w in enumerate(weeks)])
    how = pd.DataFrame([{"zone_id": z, "hour_of_week": h, "officer_minutes": float(rng.uniform(0, 60)),
                         "crime_harm": float(rng.poisson(1)), "incidents": int(rng.poisson(1))}
                        for z in zones["zone_id"] for h in range(168)])
    results = {
        "analysis_data_quality": pd.DataFrame([{"check": "fixes_per_hour_per_shift", "source": "pings", "group_key": "median",
                                                "value": 40.0, "n": 10, "share": np.nan}]),
        "analysis_baselines": pd.DataFrame([{"breakdown": "status", "area_status": s, "zone_type": "area", "officer_minutes_per_week": 10.0,
                                             "patrol_minutes_per_week": 5.0, "officer_minutes_per_km2_week": 100.0, "zone_km2": 0.1,
                                             "officer_minutes": 70.0, "share_of_presence": np.nan} for s in ("impact", "comparison")]),
        "analysis_alignment": pd.DataFrame([{"scope": "group_mean:spearman_rho", "area_status": "impact", "n_hours": 2,
                                             "spearman_rho": 0.4, "spearman_ci_low": 0.1, "spearman_ci_high": 0.7,
                                             "share_presence_in_top_half_demand": np.nan, "share_ci_low": np.nan, "share_ci_high": np.nan}]),
        "analysis_models": pd.DataFrame([
            {"model": "presence_day_poisson", "outcome": "crimes", "subset": "all", "term": "log_patrol_hours", "event_time": None,
             "estimate": -0.3, "std_error": 0.1, "irr": np.exp(-0.3), "irr_ci_low": 0.6, "irr_ci_high": 0.9, "p_value": 0.01, "n_obs": 100, "note": None},
            *[{"model": "staggered_did", "outcome": "crimes", "subset": "areas", "term": f"e{e}", "event_time": e, "estimate": 0.0,
               "std_error": 0.1, "irr": 1.0 + 0.05 * e, "irr_ci_low": 0.8, "irr_ci_high": 1.3, "p_value": 0.5, "n_obs": 16, "note": None}
              for e in (-2, 0, 1)],
            {"model": "presence_week_negbin", "outcome": "crimes", "subset": "all", "term": None, "event_time": None, "estimate": np.nan,
             "std_error": np.nan, "irr": np.nan, "irr_ci_low": np.nan, "irr_ci_high": np.nan, "p_value": np.nan, "n_obs": np.nan,
             "note": "not estimated: <example>"}]),
        "analysis_displacement": pd.DataFrame([{"scope": "overall", "buffer_zone": "ring_0_250", "measure": "wdq_wdd", "a0": 100.0, "a1": 50.0,
                                                "b0": 100.0, "b1": 150.0, "c0": 100.0, "c1": 100.0, "success_measure": -0.5, "buffer_measure": 0.5,
                                                "wdq": -1.0, "total_net_effect": 0.0, "wdd": 0.0, "ci_low": -40.0, "ci_high": 40.0,
                                                "estimate": np.nan, "std_error": 20.0, "irr": np.nan, "irr_ci_low": np.nan,
                                                "irr_ci_high": np.nan, "p_value": 1.0}]),
        "analysis_events": pd.DataFrame([{"area_status": "impact", "zone_type": "area", "period": "pre", "measure": "crimes", "value": 9.0, "n": 9.0}]),
        "analysis_calls_crime": pd.DataFrame([{"kind": "correlation", "area_status": "all", "area_id": None, "n": 16, "pearson_r": 0.5,
                                               "pearson_ci_low": 0.1, "pearson_ci_high": 0.8, "spearman_rho": 0.4, "spearman_ci_low": 0.0,
                                               "spearman_ci_high": 0.7, "lag": np.nan, "call_category": None, "calls": np.nan,
                                               "crimes": np.nan, "crimes_per_call": np.nan}]
                                             + [{"kind": "cross_correlation", "area_status": "all", "area_id": None, "lag": lag,
                                                 "pearson_r": 0.5 - 0.1 * abs(lag)} for lag in range(-2, 3)]),
    }
    designation = zones[zones["zone_type"] == "area"][["area_id", "area_status", "designated_from"]]
    return results, week, how, designation


def test_report_is_self_contained_and_has_every_section(tmp_path):
    zones = _zones()
    results, week, how, designation = _frames(zones)
    path = write_report(str(tmp_path), "_reports", date(2026, 3, 16), date(2026, 4, 12), "r1", results, zones, week, how, designation)
    text = path.read_text()
    assert (tmp_path / "_reports" / "analysis_latest.html").read_text() == text
    page = parse(text)
    assert [s for s, _ in SECTIONS if s not in page.ids] == []
    # no script and nothing fetched: every src/href is a fragment
    assert not [t for t, _ in page.tags if t == "script"]
    assert not [a for _, a in page.tags for k in ("src", "href") if k in a and not a[k].startswith("#")]
    assert "not estimated: &lt;example&gt;" in text                 # escaped, reported, not hidden
    assert text.index("id='data-quality'") < text.index("id='methods'") < text.index("id='effects'")


def test_map_scales_bng_geometry_into_the_view():
    svg = map_svg(_zones(), width=400, height=300)
    coords = [float(v) for v in re.findall(r"(?<=[ M])(-?\d+\.\d),", svg)]
    assert coords and min(coords) >= 0 and max(coords) <= 400
    assert svg.count("<path") == 12 and "1 km" in svg


def test_forest_plot_has_a_row_per_estimate_and_skips_missing():
    rows = pd.DataFrame({"label": ["a", "b", "c"], "irr": [0.8, 1.2, np.nan], "lo": [0.6, 1.0, np.nan], "hi": [1.0, 1.5, np.nan]})
    svg = forest_svg(rows, "label", "irr", "lo", "hi", 1.0, True)
    assert svg.count("<circle") == 2


def test_report_renders_in_headless_chromium(tmp_path):
    zones = _zones()
    results, week, how, designation = _frames(zones)
    path = write_report(str(tmp_path), "_reports", date(2026, 3, 16), date(2026, 4, 12), "r1", results, zones, week, how, designation)
    png, dom, log = render_in_chromium(path, tmp_path, height=6000)
    assert png.stat().st_size > 20_000
    assert console_errors(log) == []
    assert [s for s, _ in SECTIONS if f'id="{s}"' not in dom] == []
