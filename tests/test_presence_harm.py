"""Harm weights: the shipped CCHI table and offence map, looked up for CONNECT and data.police.uk crimes
(expected figures are read from the csv rows, and the csv from ../shared/data/harm when present)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from impact.presence.events import HarmWeights, conformed_events

CONF = Path(__file__).resolve().parent.parent / "conf"


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def _row(key_type: str, key: str) -> dict:
    rows = [r for r in _csv(CONF / "harm_weights.csv") if (r["key_type"], r["key"]) == (key_type, key)]
    assert len(rows) == 1, (key_type, key)
    return rows[0]


def _harm(spark, weights: HarmWeights, crimes: list[tuple]) -> dict[str, tuple]:
    """crime_ref -> (harm_weight, harm_weight_basis) from conformed_events on hand-made crimes
    (crime_ref, source_system, offence_code, offence_class, crime_type)."""
    df = spark.createDataFrame(crimes, "crime_ref string, source_system string, offence_code string, "
                                       "offence_class string, crime_type string")
    df = df.withColumns({c: F.lit(None).cast(t) for c, t in [
        ("committed_from_utc", "timestamp"), ("recorded_at_utc", "timestamp"), ("recorded_date", "date"),
        ("recording_officer", "string"), ("time_precision", "string"), ("easting", "double"), ("northing", "double")]})
    empty_inc = spark.createDataFrame([], "incident_ref string, source_system string, opened_at_utc timestamp, "
                                          "opened_date date, opening_category string, priority_grade int, "
                                          "closing_category string, easting double, northing double")
    empty_ss = spark.createDataFrame([], "search_ref string, source_system string, searched_at_utc timestamp, "
                                         "searched_date date, object_of_search string, legislation string, "
                                         "outcome string, outcome_linked_to_object boolean, "
                                         "officer_collar string, easting double, northing double")
    return {r["event_ref"]: (r["harm_weight"], r["harm_weight_basis"])
            for r in conformed_events(df, empty_inc, empty_ss, weights).collect()}


@pytest.fixture(scope="module")
def shipped() -> HarmWeights:
    marts = yaml.safe_load((CONF / "marts.yaml").read_text())
    return HarmWeights.from_conf(CONF, marts)


def test_shipped_lookup(spark, shipped):
    got = _harm(spark, shipped, [
        ("rob", "connect", "034/99", "Robbery", "Robbery of business property"),   # code unknown: by class
        ("bur_code", "connect", "028/01", "Burglary", "Burglary - residential"),    # by code
        ("bur_class", "connect", "028/99", "Burglary", "Burglary - other"),         # by class: roll-up
        ("sub", "connect", None, "Shoplifting", "Shoplifting"),                     # class named as a subgroup
        ("unknown", "connect", "053/01", "Fraud offences", "Shoplifting"),          # crime_type not used for CONNECT
        ("puk_bur", "police_uk", None, None, "Burglary"),
        ("puk_old", "police_uk", None, None, "Violent crime"),                      # pre-2013 category name
        ("asb", "police_uk", None, None, "Anti-social behaviour"),
        ("puk_unknown", "police_uk", None, None, "Fly-tipping"),
    ])
    robbery = _row("prc_subgroup", "Robbery of personal property")
    assert robbery["basis"].startswith("CCHI 2026 update, subgroup median")
    assert got["rob"] == (float(robbery["harm_weight"]), "prc_subgroup:Robbery of personal property")
    assert got["rob"][0] == float(_row("prc_subgroup", "Robbery of business property")["harm_weight"])
    assert got["bur_code"] == (float(_row("prc_subgroup", "Residential burglary")["harm_weight"]),
                               "prc_subgroup:Residential burglary")
    rollup = _row("crime_type", "Burglary")
    assert rollup["basis"].startswith("CCHI 2026 update, police.uk category roll-up")
    assert got["bur_class"] == got["puk_bur"] == (float(rollup["harm_weight"]), "crime_type:Burglary")
    assert got["bur_class"][0] != got["bur_code"][0]
    assert got["sub"] == (float(_row("prc_subgroup", "Shoplifting")["harm_weight"]), "prc_subgroup:Shoplifting")
    assert got["puk_old"] == (float(_row("crime_type", "Violence and sexual offences")["harm_weight"]),
                              "crime_type:Violence and sexual offences")
    assert got["unknown"] == got["puk_unknown"] == (shipped.default, "default")
    assert got["asb"] == (None, "excluded")                                        # no harm, not the default


def test_every_demo_offence_has_a_cchi_weight(spark, shipped):
    """Every offence the demo world writes resolves through the map to a CCHI row, never the default."""
    from impact.demo.generate import OFFENCES

    got = _harm(spark, shipped, [(k, "connect", code, klass, desc) for k, (code, klass, desc) in OFFENCES.items()])
    assert all(basis.startswith("prc_subgroup:") for _, basis in got.values()), got
    subgroups = {r["key"] for r in _csv(CONF / "harm_weights.csv") if r["key_type"] == "prc_subgroup"}
    assert {basis.split(":", 1)[1] for _, basis in got.values()} <= subgroups


def test_shipped_table_is_the_cchi_source(shared_data):
    """conf/harm_weights.csv carries every figure of the two public CCHI summaries, and nothing else."""
    conf = {(r["key_type"], r["key"]): r["harm_weight"] for r in _csv(CONF / "harm_weights.csv")}
    subgroups = _csv(shared_data / "harm" / "cchi_2026_prc_subgroup_medians.csv")
    rollup = _csv(shared_data / "harm" / "cchi_2026_police_uk_category_rollup.csv")
    expected = {("prc_subgroup", r["prc_offence_subgroup"]): float(r["median_days"]) for r in subgroups}
    expected |= {("crime_type", r["crime_type"]): float(r["cchi_days"]) for r in rollup}
    assert len(expected) == 23 + 13
    assert {k: float(v) for k, v in conf.items() if v} == expected
    assert {k for k, v in conf.items() if not v} == {("crime_type", "Anti-social behaviour")}


def test_a_force_table_replaces_the_default(tmp_path, spark):
    weights = tmp_path / "w.csv"
    weights.write_text("# the force's own\nkey_type,key,harm_weight,basis\nprc_subgroup,Robbery,100,force 2027\n"
                       "crime_type,Other crime,2,force 2027\ncrime_type,Anti-social behaviour,,none\n")
    mapping = tmp_path / "m.csv"
    mapping.write_text("key_type,key,harm_key_type,harm_key,note\noffence_code,34B,prc_subgroup,robbery,\n")
    loaded = HarmWeights.load(weights, default=3.0, mapping=mapping)
    got = _harm(spark, loaded, [("c1", "connect", "34B", "Theft offences", None),
                                ("c2", "connect", "X", "Robbery", None),
                                ("c3", "police_uk", None, None, "other crime "),
                                ("c4", "police_uk", None, None, "Shoplifting")])
    assert got == {"c1": (100.0, "prc_subgroup:Robbery"), "c2": (100.0, "prc_subgroup:Robbery"),
                   "c3": (2.0, "crime_type:Other crime"), "c4": (3.0, "default")}


@pytest.mark.parametrize("weights, mapping, message", [
    ("key_type,key,harm_weight\nlsoa,X,1\n", None, "key_type 'lsoa'"),
    ("key_type,key,harm_weight\nprc_subgroup,X,lots\n", None, "line 2: harm_weight 'lots' is not a number"),
    ("key_type,key,harm_weight\nprc_subgroup,X,-1\n", None, "must not be negative"),
    ("key_type,key,harm_weight\nprc_subgroup,X,1\nprc_subgroup,x,2\n", None, "appears twice"),
    ("key_type,key\nprc_subgroup,X\n", None, "missing column"),
    ("key_type,key,harm_weight\nprc_subgroup,X,1\n", "key_type,key,harm_key_type,harm_key\noffence_class,A,prc_subgroup,Y\n",
     "prc_subgroup 'Y' is not in"),
    ("key_type,key,harm_weight\nprc_subgroup,X,1\n", "key_type,key,harm_key_type,harm_key\nbeat,A,prc_subgroup,X\n",
     "key_type 'beat'"),
])
def test_bad_tables_fail_clearly(tmp_path, weights, mapping, message):
    (tmp_path / "w.csv").write_text(weights)
    if mapping:
        (tmp_path / "m.csv").write_text(mapping)
    with pytest.raises(ValueError, match=message):
        HarmWeights.load(tmp_path / "w.csv", 1.0, tmp_path / "m.csv" if mapping else None)
