"""Docs that name things the code has: column and setting names in docs/presence.md, the cluster --files
list in the README, and how coordinates are converted (no Spark)."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _known_names() -> set[str]:
    """Every schema table and column, every key in conf/*.yaml, and every word in the package source."""
    names: set[str] = set()
    for path in (ROOT / "schemas").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        names |= {spec["table"], *(c["name"] for c in spec["columns"])}
    for path in [*(ROOT / "conf").glob("*.yaml"), *(ROOT / "conf").glob("*.csv"), *(ROOT / "lib").rglob("*.py")]:
        names |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.read_text(encoding="utf-8")))
    return names


def test_presence_doc_names_only_existing_columns_and_settings():
    """A snake_case name in backticks in docs/presence.md is a column, table, setting or code name
    (it once named `hours_with_visit`; the column is `hours_with_presence`)."""
    text = (ROOT / "docs" / "presence.md").read_text(encoding="utf-8")
    named = {m for m in re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", text)}
    assert named, "no names found: the pattern is wrong"
    assert sorted(named - _known_names()) == []


def test_cluster_files_ship_every_conf_file_the_jobs_read():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shipped = set(re.search(r"--files (\S+)", readme).group(1).split(","))
    marts = yaml.safe_load((ROOT / "conf" / "marts.yaml").read_text())
    needed = {"conf/cluster.yaml", "conf/sources.yaml", "conf/visits.yaml", "conf/marts.yaml",
              f"conf/{marts['harm_weights']}", f"conf/{marts['harm_offence_map']}"}
    assert needed <= shipped, sorted(needed - shipped)
    assert all((ROOT / f).is_file() for f in shipped), shipped


def test_no_doc_says_coordinates_are_derived_with_sedona():
    """The BNG / WGS84 pair comes from OSTN15 through osgb (decision D9), not Sedona."""
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "conf").glob("*.yaml"), *(ROOT / "schemas").glob("*.yaml")]
    claim = re.compile(r"(deriv|convert|transform)\w*[^.]{0,80}?\bwith Sedona", re.I | re.S)
    assert [str(f.relative_to(ROOT)) for f in files if claim.search(f.read_text(encoding="utf-8"))] == []


def test_mode_accuracy_stated_beside_foot_vehicle_figures_matches_the_measured_table():
    """The foot / vehicle accuracy the analysis tables, the dashboard script and its front page state is
    the one docs/visits.md measured (pooled evaluation users, visit level by time, both cadences)."""
    from impact.analysis.pipeline import MODE_ACCURACY

    visits = (ROOT / "docs" / "visits.md").read_text(encoding="utf-8")
    pooled = re.findall(r"^\| 084, 128, 167, bus \| \S+ \| (foot|vehicle) \([^)]*\) \| (\d+)% / (\d+)% \|", visits, re.M)
    assert len(pooled) == 4, pooled
    foot = [int(r) for c, r, _ in pooled if c == "foot"]
    vehicle = [int(r) for c, r, _ in pooled if c == "vehicle"]
    stated = {"analysis": MODE_ACCURACY,
              "qlik": re.search(r"SET vModeAccuracy = '([^']+)'", (ROOT / "qlik" / "impact_marts.qvs").read_text()).group(1),
              "front page": (ROOT / "docs" / "dashboard_front_page.md").read_text(encoding="utf-8")}
    for where, text in stated.items():
        flat = " ".join(text.split()).replace("**", "")
        foot_said = int(re.search(r"foot (?:right )?(?:for )?about (\d+)%", flat).group(1))
        vehicle_said = int(re.search(r"vehicle (?:time only |for )?about (\d+)%", flat).group(1))
        assert min(foot) - 2 <= foot_said <= max(foot) + 2, (where, foot_said, foot)
        assert min(vehicle) - 2 <= vehicle_said <= max(vehicle) + 2, (where, vehicle_said, vehicle)
