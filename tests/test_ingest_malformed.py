"""Malformed extracts a new user will meet: each gets a clear one-line error naming the file and the
problem, or a quarantine reason; rows are never silently accepted or dropped (issue 9)."""
from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

from impact.ingest.pipeline import ingest_source, run_ingest
from impact.ingest.read import IngestInputError

ROOT = Path(__file__).resolve().parent.parent
PINGS_HEADER = "ISSI,Affiliation,FixTimeUTC,Latitude,Longitude,SpeedKmh,Heading,TerminalType"
PING = "1001,A1234,2026-03-16 10:00:00,52.4862,-1.8904,12,90,HH"
OASIS_HEADER = "LOG_NO|LOG_DATE|LOG_TIME|OPEN_CODE|CLOSE_CODE|GRADE|X_COORD|Y_COORD|CALLER_NAME|CALLER_TEL|LOCATION_TEXT"
CRIMES_HEADER = ("CrimeNumber,HOCode,HOClass,OffenceDescription,CommittedFrom,CommittedTo,RecordedDateTime,"
                 "Easting,Northing,RecordingOfficer,VictimSurname,VictimDOB,Beat")
CRIME = ("20/0000017/26,034/01,Robbery,Robbery of personal property,16/03/2026 09:37,16/03/2026 10:09,"
         "16/03/2026 10:39,412843,287974,C866922,Victim,01/01/1980,B1")
DAY = date(2026, 3, 16)
WINDOW = (DAY, DAY)


def put(settings, relative: str, content: str | bytes) -> Path:
    path = Path(settings.raw_root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def ingest(spark, settings, contracts, source, window=WINDOW):
    return ingest_source(spark, settings, contracts, contracts.get(source), "r", window, validate=False)


def table(settings, name):
    return DeltaTable(settings.table_path(name)).to_pandas()


def one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text and len(text) < 600, text
    return text


def test_reordered_ping_columns_are_read_by_name(spark, local, contracts):
    names = PINGS_HEADER.split(",")
    values = PING.split(",")
    order = [4, 0, 7, 2, 1, 3, 6, 5]
    put(local, "airwave_pings/pings_20260316.csv",
        ",".join(names[i] for i in order) + "\n" + ",".join(values[i] for i in order) + "\n")
    result = ingest(spark, local, contracts, "airwave_pings")
    assert (result.rows_read, result.rows_accepted) == (1, 1)
    row = table(local, "pings").iloc[0]
    assert (row["issi"], row["collar_number"], row["terminal_type"]) == ("1001", "A1234", "handheld")
    assert row["lat"] == pytest.approx(52.4862) and row["lon"] == pytest.approx(-1.8904)


def test_files_with_different_column_orders_in_one_run(spark, local, contracts):
    names = PINGS_HEADER.split(",")
    values = PING.split(",")
    put(local, "airwave_pings/pings_20260316.csv", PINGS_HEADER + "\n" + PING + "\n")
    rev = list(reversed(range(len(names))))
    put(local, "airwave_pings/pings_20260317.csv", ",".join(names[i] for i in rev) + "\n"
        + ",".join(values[i] for i in rev).replace("2026-03-16 10:00:00", "2026-03-17 10:00:00") + "\n")
    result = ingest(spark, local, contracts, "airwave_pings", (DAY, date(2026, 3, 17)))
    assert (result.rows_read, result.rows_accepted) == (2, 2)
    assert set(table(local, "pings")["collar_number"]) == {"A1234"}


def test_repeated_header_column_is_a_clear_error(spark, local, contracts):
    put(local, "airwave_pings/pings_20260316.csv", PINGS_HEADER + ",Latitude\n" + PING + ",52.1\n")
    with pytest.raises(IngestInputError, match=r"pings_20260316.csv.*repeats column\(s\) \['Latitude'\]") as error:
        ingest(spark, local, contracts, "airwave_pings")
    one_line(error.value)


def cw(number: str, final: dict | None, **extra) -> dict:
    record = {"caller": {"name": "Caller Name", "phone": "07700 900000"}, "createdDateTime": "2026-03-16T10:09:54+00:00",
              "finalClassification": final, "incidentNumber": number,
              "initialClassification": {"code": "ROBBERY", "description": "Robbery"},
              "location": {"latitude": 52.489473, "longitude": -1.81231}, "narrative": "free text", "priority": "P2"}
    record.update(extra)
    return record


def test_controlworks_open_incident_first_is_not_refused(spark, local, contracts):
    lines = [cw("CW1", None), cw("CW2", {"code": "OTHER", "description": "Other"})]
    put(local, "controlworks_incidents/cw_20260316.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    result = ingest(spark, local, contracts, "controlworks_incidents")
    assert (result.rows_read, result.rows_accepted) == (2, 2)
    got = table(local, "incidents").set_index("incident_ref")["closing_category"]
    assert got["CW2"] == "OTHER" and got.isna()["CW1"]


def test_controlworks_json_array_is_a_clear_error(spark, local, contracts):
    put(local, "controlworks_incidents/cw_20260316.jsonl", json.dumps([cw("CW1", None), cw("CW2", None)], indent=1))
    with pytest.raises(IngestInputError, match=r"cw_20260316.jsonl.*JSON array.*JSON Lines") as error:
        ingest(spark, local, contracts, "controlworks_incidents")
    one_line(error.value)


@pytest.mark.parametrize("marker", ["NULL", "null", "N/A", "\\N"])
def test_null_markers_in_a_required_field_are_quarantined(spark, local, contracts, marker):
    put(local, "airwave_pings/pings_20260316.csv", PINGS_HEADER + "\n" + PING.replace("A1234", marker) + "\n")
    result = ingest(spark, local, contracts, "airwave_pings")
    assert (result.rows_accepted, result.reasons) == (0, {"missing_required:collar_number": 1})


def test_invalid_utf8_is_quarantined_with_a_reason(spark, local, contracts):
    bad = PING.replace("1001", "1002").encode().replace(b"A1234", b"A12\xff\xfe34")
    text = (PINGS_HEADER + "\n" + PING + "\n").encode() + bad + b"\n"
    put(local, "airwave_pings/pings_20260316.csv", text)
    result = ingest(spark, local, contracts, "airwave_pings")
    assert (result.rows_read, result.rows_accepted) == (2, 1)
    assert result.reasons == {"bad_encoding:collar_number": 1}


@pytest.mark.parametrize("source,relative,header,row", [
    ("airwave_pings", "airwave_pings/pings_20260316.csv", PINGS_HEADER, PING),
    ("oasis_incidents", "oasis_incidents/OASIS_20260316.txt", OASIS_HEADER,
     "L1|16/03/2026|10:00:00|BURGLARY|OTHER|PRIOR|407500|287600|Name|0770|Street"),
    ("connect_crimes", "connect_crimes/crimes_20260316.csv", CRIMES_HEADER, CRIME),
])
def test_extra_trailing_field_is_malformed_for_every_source(spark, local, contracts, source, relative, header, row):
    sep = "|" if "|" in header else ","
    put(local, relative, header + "\n" + row + "\n" + row.replace("1001", "1003").replace("L1", "L3").replace("0000017", "0000019") + sep + "extra\n")
    result = ingest(spark, local, contracts, source)
    assert result.rows_read == 2
    assert (result.rows_accepted, result.reasons) == (1, {"malformed_row": 1})


def test_compressed_daily_file_is_read(spark, local, contracts):
    put(local, "airwave_pings/pings_20260316.csv.gz", gzip.compress((PINGS_HEADER + "\n" + PING + "\n").encode()))
    result = ingest(spark, local, contracts, "airwave_pings")
    assert result.status == "ok" and (result.rows_read, result.rows_accepted) == (1, 1)


def test_plain_and_compressed_copies_of_one_day_are_a_clear_error(spark, local, contracts):
    put(local, "airwave_pings/pings_20260316.csv", PINGS_HEADER + "\n" + PING + "\n")
    put(local, "airwave_pings/pings_20260316.csv.gz", gzip.compress((PINGS_HEADER + "\n" + PING + "\n").encode()))
    with pytest.raises(IngestInputError, match=r"both .*pings_20260316.csv and .*pings_20260316.csv.gz") as error:
        ingest(spark, local, contracts, "airwave_pings")
    one_line(error.value)


def test_nonexistent_and_ambiguous_local_times(spark, local, contracts):
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    row = "{n}|{d}|{t}|BURGLARY|OTHER|PRIOR|407500|287600|Name|0770|Street"
    put(local, "oasis_incidents/OASIS_20260329.txt", "\n".join([
        OASIS_HEADER,
        row.format(n="S1", d="29/03/2026", t="01:30:00"),    # clocks jump 01:00 -> 02:00: never happened
        row.format(n="S2", d="29/03/2026", t="02:30:00"),
    ]) + "\n")
    put(local, "oasis_incidents/OASIS_20261025.txt", "\n".join([
        OASIS_HEADER,
        row.format(n="A1", d="25/10/2026", t="01:30:00"),    # 01:00-02:00 happens twice
        row.format(n="A2", d="25/10/2026", t="03:30:00"),
    ]) + "\n")
    first = ingest(spark, local, contracts, "oasis_incidents", (spring, spring))
    assert first.reasons == {"nonexistent_local_time:opened_at_utc": 1} and first.rows_accepted == 1
    ingest(spark, local, contracts, "oasis_incidents", (autumn, autumn))
    got = table(local, "incidents").set_index("incident_ref")
    assert set(got.index) == {"S2", "A1", "A2"}
    assert got.loc["A1", "local_time_flag"] == "ambiguous_local_time:opened_at_utc"
    assert got.loc["A1", "opened_at_utc"].hour == 0          # the first 01:30 (BST), 00:30 UTC
    assert got["local_time_flag"].isna()[["S2", "A2"]].all()


def test_public_selection_tells_layouts_apart_by_header(spark, local, contracts, tmp_path):
    old = "Month,Reported by,Falls within,Easting,Northing,Location,Crime type,Context\n2011-02,West Midlands Police,West Midlands Police,407500,287600,On or near X,Burglary,\n"
    current = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n"
               "abc,2024-01,West Midlands Police,West Midlands Police,-1.898575,52.479699,On or near X,E01033620,Birmingham 138A,Burglary,,\n")
    put(local, "police_uk/2011-02-west-midlands-street.csv", old)
    put(local, "police_uk/2024-01-west-midlands-street.csv", current)
    results = run_ingest(spark, local, "police_uk_street_old,police_uk_street", None, run_id="pub", contracts=contracts)
    assert [(r.source, r.status, r.rows_accepted) for r in results] == [
        ("police_uk_street_old", "ok", 1), ("police_uk_street", "ok", 1)]
    assert [len(r.files) for r in results] == [1, 1]


def test_a_file_matching_no_layout_is_a_clear_error(spark, local, contracts):
    put(local, "police_uk/2024-02-west-midlands-street.csv", "Month,Crime type,Where\n2024-02,Burglary,X\n")
    results = run_ingest(spark, local, "police_uk_street_old,police_uk_street", None, run_id="pub", contracts=contracts)
    errors = [r.error for r in results if r.status == "failed"]
    assert errors and "2024-02-west-midlands-street.csv" in errors[0] and "matches no layout" in errors[0]
    assert "\n" not in errors[0]


def test_failed_step_keeps_counts_gathered_before_the_failure(spark, local, contracts):
    # the write fails after counting: the table's location is a plain file, not a folder
    put(local, "airwave_pings/pings_20260316.csv", PINGS_HEADER + "\n" + PING + "\n" + PING.replace("1001", "1002").replace("A1234", "") + "\n")
    Path(local.warehouse).mkdir(parents=True)
    Path(local.table_path("pings")).write_text("a file where the pings table should be")
    results = run_ingest(spark, local, "airwave_pings", WINDOW, run_id="keep", contracts=contracts)
    (result,) = results
    assert result.status == "failed"
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (2, 1, 1)
    assert "\n" not in result.error and len(result.error) < 1200
    assert result.validation_success is True and '"success": true' in result.validation_summary
    log = table(local, "run_log")
    assert (int(log.iloc[0]["rows_read"]), log.iloc[0]["status"]) == (2, "failed")
    # the Great Expectations result gathered before the failed write is kept in the run_log row too
    assert log.iloc[0]["validation_summary"] == result.validation_summary
