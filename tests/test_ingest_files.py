"""Ingest of real files through the job's own pipeline: bad files give clear errors, bad rows are
quarantined with reasons, public police.uk files drop personal columns, and tables are real Delta."""
from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from impact.ingest.pipeline import ingest_source, run_ingest
from impact.ingest.read import IngestInputError

ROOT = Path(__file__).resolve().parent.parent
HEADER = "ISSI,Affiliation,FixTimeUTC,Latitude,Longitude,SpeedKmh,Heading,TerminalType"
GOOD = "1001,A1234,2026-03-16 10:00:00,52.4862,-1.8904,12,90,HH"


def write_pings(settings, day: str, text: str) -> None:
    folder = Path(settings.raw_root) / "airwave_pings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"pings_{day}.csv").write_text(text)


WINDOW = (date(2026, 3, 16), date(2026, 3, 16))


def test_unknown_column_is_a_clear_error(spark, local, contracts):
    write_pings(local, "20260316", HEADER + ",CallerName\n" + GOOD + ",Jane\n")
    with pytest.raises(IngestInputError, match=r"CallerName.*neither carries nor drops"):
        ingest_source(spark, local, contracts, contracts.get("airwave_pings"), "r", WINDOW, validate=False)


def test_missing_column_is_a_clear_error(spark, local, contracts):
    write_pings(local, "20260316", HEADER.replace("Affiliation", "Affil") + "\n" + GOOD + "\n")
    with pytest.raises(IngestInputError, match=r"lacks column\(s\) \['Affiliation'\]"):
        ingest_source(spark, local, contracts, contracts.get("airwave_pings"), "r", WINDOW, validate=False)


def test_empty_file_is_a_clear_error(spark, local, contracts):
    write_pings(local, "20260316", "")
    with pytest.raises(IngestInputError, match="is empty"):
        ingest_source(spark, local, contracts, contracts.get("airwave_pings"), "r", WINDOW, validate=False)


def test_header_only_file_is_zero_rows_not_an_error(spark, local, contracts):
    write_pings(local, "20260316", HEADER + "\n")
    result = ingest_source(spark, local, contracts, contracts.get("airwave_pings"), "r", WINDOW, validate=False)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (0, 0, 0)


def test_missing_day_is_reported_as_no_input(spark, local, contracts):
    result = ingest_source(spark, local, contracts, contracts.get("airwave_pings"), "r", WINDOW, validate=False)
    assert result.status == "no_input"


@pytest.mark.integration
def test_bad_rows_quarantined_accounted_validated_and_rerun_is_idempotent(spark, local, contracts):
    lines = [
        HEADER,
        GOOD,
        GOOD,                                                        # exact duplicate
        "1001,A1234,2026-03-16 10:00:00,52.4870,-1.8904,12,90,HH",  # same key, other position
        "1002,,2026-03-16 10:01:00,52.4862,-1.8904,12,90,HH",       # missing collar number
        "1003,A1111,16/03/2026 10:02,52.4862,-1.8904,12,90,VM",        # wrong time format
        "1004,A1111,2026-03-16 10:03:00,abc,-1.8904,12,90,VM",         # non-numeric latitude
        "1005,A1111,2026-03-16 10:04:00,0,0,,,",                       # (0,0) fix
        "1006,A1111,2026-03-16 10:05:00,51.5072,-0.1276,,,",            # London: outside the force area
        "1007,A1111,2030-03-16 10:05:00,52.4862,-1.8904,,,",            # in the future
        "1008,A1111,2026-03-16 10:06:00,52.4862,-1.8904,12,90,HH,extra,fields",  # malformed line
        "1009,A2222,2026-03-16 10:07:00,52.4862,-1.8904,,,VM",
    ]
    write_pings(local, "20260316", "\n".join(lines) + "\n")
    contract = contracts.get("airwave_pings")
    first = ingest_source(spark, local, contracts, contract, "run-1", WINDOW, validate=True)
    assert first.rows_read == 11
    assert (first.rows_accepted, first.rows_quarantined) == (2, 9)
    assert first.validation_success is True
    assert first.reasons == {
        "bad_type:fix_at_utc": 1, "bad_type:lat": 1, "duplicate_key": 1, "duplicate_row": 1,
        "impossible_position:outside_force_area": 1, "impossible_position:zero_fix": 1,
        "impossible_time:fix_at_utc": 1, "malformed_row": 1, "missing_required:collar_number": 1,
    }
    # a second run over the same day replaces its slice instead of appending to it
    ingest_source(spark, local, contracts, contract, "run-2", WINDOW, validate=False)
    pings = DeltaTable(local.table_path("pings")).to_pandas()
    quarantine = DeltaTable(local.table_path("quarantine")).to_pandas()
    assert sorted(pings["issi"]) == ["1001", "1009"]
    assert set(pings["ingest_run_id"]) == {"run-2"}
    assert len(quarantine) == 9 and set(quarantine["run_id"]) == {"run-2"}


@pytest.mark.integration
@pytest.mark.shared_data
def test_police_uk_files_ingest_without_personal_columns(spark, settings, tmp_path, shared_data, contracts):
    local = settings.with_overrides(raw_root=str(shared_data), warehouse=str(tmp_path / "wh"))
    results = run_ingest(spark, local, "police_uk_street_old,police_uk_stop_search", None, run_id="pub",
                         contracts=contracts)
    assert [r.status for r in results] == ["ok", "ok"]
    for r in results:
        assert r.rows_read == r.rows_accepted + r.rows_quarantined
    street, searches = results
    assert street.rows_read == 25558 and searches.rows_read == 235
    table = DeltaTable(local.table_path("stop_searches"))
    columns = {f.name.lower() for f in table.schema().fields}
    for personal in ("gender", "age range", "age_range", "self-defined ethnicity", "officer-defined ethnicity", "ethnicity"):
        assert personal not in columns
    frame = table.to_pandas()
    assert len(frame) == searches.rows_accepted
    assert frame["search_ref"].is_unique and frame["search_ref"].str.startswith("PUKSS-").all()
    quarantine = DeltaTable(local.table_path("quarantine")).to_pandas()
    assert not quarantine["raw_record"].fillna("").str.contains("Asian|White|Black|Male|Female").any()
    crimes = DeltaTable(local.table_path("crimes")).to_pandas()
    assert set(crimes["time_precision"]) == {"month"}
    assert crimes["easting"].between(384000, 441300).all()
    assert (crimes["recorded_date"].astype(str) == "2011-02-01").all()
    run_log = DeltaTable(local.table_path("run_log")).to_pandas()
    assert set(run_log["step"]) == {"police_uk_street_old", "police_uk_stop_search"}
    assert run_log["validation_success"].all()


CURRENT_STREET = """Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context
a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9,2024-01,West Midlands Police,West Midlands Police,-1.898575,52.479699,On or near Colmore Row,E01033620,Birmingham 138A,Burglary,Investigation complete; no suspect identified,
,2024-01,West Midlands Police,West Midlands Police,-1.898575,52.479699,On or near Colmore Row,E01033620,Birmingham 138A,Anti-social behaviour,,
,2024-01,West Midlands Police,West Midlands Police,-1.898575,52.479699,On or near Colmore Row,E01033620,Birmingham 138A,Anti-social behaviour,,
f00d,2024-01,West Midlands Police,West Midlands Police,,,No location,,,Other theft,Under investigation,
"""


def test_police_uk_current_street_layout(spark, local, contracts):
    folder = Path(local.raw_root) / "police_uk"
    folder.mkdir(parents=True)
    (folder / "2024-01-west-midlands-street.csv").write_text(CURRENT_STREET)
    result = ingest_source(spark, local, contracts, contracts.get("police_uk_street"), "r", None, validate=True)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (4, 3, 1)
    assert result.reasons == {"missing_required:lon": 1}   # first reason; lat is also listed
    crimes = DeltaTable(local.table_path("crimes")).to_pandas()
    assert crimes["crime_ref"].is_unique                    # identical ASB rows still get distinct refs
    assert set(crimes["police_uk_crime_id"].dropna()) == {CURRENT_STREET.split("\n")[1].split(",")[0]}
    assert (crimes["committed_from_utc"] == pd.Timestamp("2024-01-01", tz="UTC")).all()   # GMT month start
    assert crimes["easting"].between(406000, 409000).all()


def _crime_row(committed_hour: int) -> dict:
    """One accepted-looking CONNECT crime recorded at 09:00 on 16 March 2026 (every other column null)."""
    from impact.schemas import table_schema

    row = {c.name: None for c in table_schema("crimes").columns}
    row.update(crime_ref="C1", source_system="connect", offence_code="028/01", offence_class="Burglary",
               committed_from_utc=datetime(2026, 3, 16, committed_hour), recorded_at_utc=datetime(2026, 3, 16, 9),
               time_precision="exact", easting=407500.0, northing=287600.0, lon=-1.89, lat=52.48,
               ingest_run_id="r", recorded_date=date(2026, 3, 16))
    return row


def test_great_expectations_gate_reports_what_rows_break(spark, contracts):
    from impact.ingest.validate import validate_accepted
    from impact.schemas import table_schema

    contract = contracts.get("connect_crimes")
    row = _crime_row(10)
    frame = spark.createDataFrame([row, {**row}], table_schema("crimes").struct())   # duplicated key, recorded early
    result = validate_accepted(frame, contract, contracts.force_area_bng)
    assert result.success is False
    failed = {f["expectation"] for f in result.failures()}
    assert failed == {"expect_column_values_to_be_unique", "expect_column_pair_values_a_to_be_greater_than_b"}


def test_the_ingest_gate_gives_the_same_results_on_pandas_and_on_spark(spark, contracts):
    """GX checks a small source in the driver (pandas engine) and a larger one on Spark: same verdicts and
    counts, on rows that break the key, the pair rule and the position box."""
    from impact.ingest.validate import validate_accepted
    from impact.schemas import table_schema

    contract = contracts.get("connect_crimes")
    row = _crime_row(8)
    rows = [row, {**row, "crime_ref": "C2"}, {**row, "crime_ref": "C2"},                    # duplicated key
            {**row, "crime_ref": "C3", "recorded_at_utc": datetime(2026, 3, 16, 7)},         # recorded before committed
            {**row, "crime_ref": "C4", "easting": 1.0}]                                       # outside the force area
    frame = spark.createDataFrame(rows, table_schema("crimes").struct())
    local = validate_accepted(frame, contract, contracts.force_area_bng)
    distributed = validate_accepted(frame, contract, contracts.force_area_bng, local_max_rows=0)

    def verdicts(result):
        return sorted((r["expectation"], json.dumps(r["kwargs"], sort_keys=True, default=str), r["success"],
                       r["unexpected_count"]) for r in result.results)

    assert verdicts(local) == verdicts(distributed)
    assert {f["expectation"] for f in local.failures()} == {
        "expect_column_values_to_be_unique", "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_values_to_be_between"}
