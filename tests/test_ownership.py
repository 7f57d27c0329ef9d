"""No run removes rows it does not own (issue 9): every writer replaces only the slice its input
declares (dates, month, source), an empty or fully quarantined input never widens what is replaced,
and a re-extract of a slice leaves no stale row of it behind."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from impact.ingest.pipeline import ingest_source, replace_scope, run_ingest
from impact.tables import OwnershipError, write_table

ROOT = Path(__file__).resolve().parent.parent
SEARCH_HEADER = ("Type,Date,Part of a policing operation,Policing operation,Latitude,Longitude,Gender,Age range,"
                 "Self-defined ethnicity,Officer-defined ethnicity,Legislation,Object of search,Outcome,"
                 "Outcome linked to object of search,Removal of more than just outer clothing")
STREET_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
                 "Last outcome category,Context")


def search(when: str, lat: float = 52.4797, lon: float = -1.8986) -> str:
    return (f"Person search,{when},,,{lat},{lon},Male,18-24,,,Misuse of Drugs Act 1971 (section 23),"
            "Controlled drugs,A no further action disposal,False,False")


def street(month: str, crime: str, lat: float = 52.479699, lon: float = -1.898575) -> str:
    return f"{crime},{month},West Midlands Police,West Midlands Police,{lon},{lat},On or near X,E01,B,Burglary,,"


def put(settings, relative: str, lines: list[str]) -> Path:
    path = Path(settings.raw_root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def frame(settings, table: str) -> pd.DataFrame:
    return DeltaTable(settings.table_path(table)).to_pandas()


def test_all_quarantined_month_leaves_other_months_and_the_table_untouched(spark, local, contracts):
    contract = contracts.get("police_uk_street")
    january = put(local, "police_uk/2024-01-west-midlands-street.csv",
                  [STREET_HEADER, street("2024-01", "a"), street("2024-01", "b"), street("2024-01", "c", lat=0, lon=0)])
    first = ingest_source(spark, local, contracts, contract, "jan", None, validate=False)
    assert (first.status, first.rows_accepted, first.rows_quarantined) == ("ok", 2, 1)
    # another force's February file: every row outside the force area
    january.unlink()
    put(local, "police_uk/2024-02-merseyside-street.csv",
        [STREET_HEADER] + [street("2024-02", f"m{i}", lat=53.41, lon=-2.98) for i in range(5)])
    second = ingest_source(spark, local, contracts, contract, "feb", None, validate=False)
    assert second.status == "all_quarantined" and second.rows_quarantined == 5
    assert "crimes left unchanged" in second.error
    crimes = frame(local, "crimes")
    assert sorted(crimes["police_uk_crime_id"]) == ["a", "b"] and set(crimes["ingest_run_id"]) == {"jan"}
    quarantine = frame(local, "quarantine")
    assert sorted(quarantine["run_id"]) == ["feb"] * 5 + ["jan"]     # January's quarantine row kept too


def test_rows_outside_the_month_their_file_declares_are_quarantined(spark, local, contracts):
    put(local, "police_uk/2024-03-west-midlands-street.csv", [STREET_HEADER, street("2024-03", "a"), street("2024-04", "b")])
    result = ingest_source(spark, local, contracts, contracts.get("police_uk_street"), "r", None, validate=False)
    assert (result.rows_accepted, result.reasons) == (1, {"outside_declared_slice": 1})


def test_a_file_that_declares_no_month_stops_the_run(spark, local, contracts):
    put(local, "police_uk/latest-street.csv", [STREET_HEADER, street("2024-03", "a")])
    results = run_ingest(spark, local, "police_uk_street", None, run_id="r", contracts=contracts)
    assert results[0].status == "failed" and "does not declare its month" in results[0].error
    assert not Path(local.table_path("crimes")).exists()


def test_month_slices_meet_at_a_summer_time_midnight_without_touching_each_other(spark, local, contracts):
    """August 2018 (BST) starts at 2018-07-31 23:00 UTC, so July's and August's searches share the
    partition date 2018-07-31: replacing August must keep July's rows of that date, and vice versa."""
    contract = contracts.get("police_uk_stop_search")
    put(local, "police_uk/2018-07-west-midlands-stop-and-search.csv",
        [SEARCH_HEADER, search("2018-07-31T22:30:00+01:00"), search("2018-07-10T12:00:00+01:00")])
    put(local, "police_uk/2018-08-west-midlands-stop-and-search.csv",
        [SEARCH_HEADER, search("2018-08-01T00:30:00+01:00"), search("2018-08-20T12:00:00+01:00"),
         search("2018-08-25T12:00:00+01:00")])
    first = ingest_source(spark, local, contracts, contract, "both", None, validate=False)
    assert (first.rows_accepted, first.rows_quarantined) == (5, 0)
    searches = frame(local, "stop_searches")
    assert (searches["searched_date"].astype(str) == "2018-07-31").sum() == 2     # one of each month
    # a corrected August with fewer days: no stale August row survives, July is untouched
    Path(local.raw_root, "police_uk/2018-07-west-midlands-stop-and-search.csv").unlink()
    put(local, "police_uk/2018-08-west-midlands-stop-and-search.csv", [SEARCH_HEADER, search("2018-08-20T12:00:00+01:00")])
    ingest_source(spark, local, contracts, contract, "aug-fix", None, validate=False)
    searches = frame(local, "stop_searches").sort_values("searched_at_utc")
    assert list(searches["ingest_run_id"]) == ["both", "both", "aug-fix"]
    assert [str(t)[:16] for t in searches["searched_at_utc"]] == ["2018-07-10 11:00", "2018-07-31 21:30", "2018-08-20 11:00"]


def test_the_month_predicate_is_exact_in_utc(contracts):
    scope = replace_scope(contracts.get("police_uk_stop_search"), None, [date(2018, 8, 1)])
    assert scope == ("source_system = 'police_uk' AND ((searched_date >= '2018-07-31' AND searched_date <= '2018-08-31' "
                     "AND searched_at_utc >= TIMESTAMP '2018-07-31 23:00:00' AND searched_at_utc < TIMESTAMP '2018-08-31 23:00:00'))")


PINGS = "ISSI,Affiliation,FixTimeUTC,Latitude,Longitude,SpeedKmh,Heading,TerminalType"


def ping(issi: str, when: str) -> str:
    return f"{issi},A1234,{when},52.4862,-1.8904,12,90,HH"


def test_daily_rerun_replaces_its_day_only_and_an_empty_day_file_empties_only_that_day(spark, local, contracts):
    put(local, "airwave_pings/pings_20260316.csv", [PINGS, ping("1", "2026-03-16 10:00:00")])
    put(local, "airwave_pings/pings_20260317.csv", [PINGS, ping("2", "2026-03-17 10:00:00"), ping("3", "2026-03-17 11:00:00")])
    put(local, "airwave_pings/pings_20260318.csv", [PINGS, ping("4", "2026-03-18 10:00:00")])
    run_ingest(spark, local, "airwave_pings", (date(2026, 3, 16), date(2026, 3, 18)), run_id="all", contracts=contracts)
    put(local, "airwave_pings/pings_20260317.csv", [PINGS, ping("5", "2026-03-17 12:00:00")])
    run_ingest(spark, local, "airwave_pings", (date(2026, 3, 17), date(2026, 3, 17)), run_id="redo", contracts=contracts)
    assert sorted(frame(local, "pings")["issi"]) == ["1", "4", "5"]
    put(local, "airwave_pings/pings_20260317.csv", [PINGS])                                  # header only: no rows that day
    run_ingest(spark, local, "airwave_pings", (date(2026, 3, 17), date(2026, 3, 17)), run_id="empty", contracts=contracts)
    assert sorted(frame(local, "pings")["issi"]) == ["1", "4"]
    # a fully quarantined re-extract of a day keeps the day's rows
    put(local, "airwave_pings/pings_20260318.csv", [PINGS, "9,A1234,2026-03-18 10:00:00,0,0,,,"])
    (result,) = run_ingest(spark, local, "airwave_pings", (date(2026, 3, 18), date(2026, 3, 18)), run_id="bad", contracts=contracts)
    assert result.status == "all_quarantined"
    assert sorted(frame(local, "pings")["issi"]) == ["1", "4"]
    log = frame(local, "run_log")                                   # appended: every run's row is still there
    assert sorted(set(log["run_id"])) == ["all", "bad", "empty", "redo"]


def test_an_empty_snapshot_does_not_wipe_its_table(spark, local, contracts):
    header = "CollarNo,Forename,Surname,Department,NPU,Role,PostingStart,PostingEnd"
    put(local, "officers/postings.csv", [header, "A1,Jo,Ali,Force Response,Birmingham West,response,23/07/2021,"])
    run_ingest(spark, local, "officers", None, run_id="one", contracts=contracts)
    put(local, "officers/postings.csv", [header])
    (result,) = run_ingest(spark, local, "officers", None, run_id="two", contracts=contracts)
    assert result.status == "failed" and "has no rows" in result.error
    assert list(frame(local, "officer_postings")["collar_number"]) == ["A1"]


def test_a_partitioned_table_is_never_overwritten_whole(spark, local):
    empty = spark.createDataFrame([], "source string")
    with pytest.raises(OwnershipError, match="refusing to overwrite the whole of quarantine"):
        write_table(empty, local, "quarantine", None)


@pytest.mark.integration
def test_visits_and_presence_replace_only_their_dates(spark, settings, tmp_path, generate_world):
    from impact.presence.pipeline import run_presence
    from impact.visits.pipeline import NoPingsError, run_visits

    d0, d1, d2 = date(2026, 3, 27), date(2026, 3, 28), date(2026, 3, 29)
    raw = generate_world(tmp_path / "raw", seed=3, officers=12, start=d0, days=3)
    local = settings.with_overrides(raw_root=str(raw), warehouse=str(tmp_path / "wh"))
    run_ingest(spark, local, "airwave_pings,officers,areas,connect_crimes,controlworks_incidents,incident_resources,stop_search",
               (d0, d2), run_id="ingest")
    run_visits(spark, local, d0, d2, run_id="v-all")
    before = frame(local, "visits")
    run_visits(spark, local, d1, d1, run_id="v-mid")
    after = frame(local, "visits")
    assert set(after.loc[after["visit_date"].astype(str) != str(d1), "visits_run_id"]) == {"v-all"}
    assert set(after.loc[after["visit_date"].astype(str) == str(d1), "visits_run_id"]) == {"v-mid"}
    key = ["visit_id"]
    pd.testing.assert_frame_equal(before.drop(columns="visits_run_id").sort_values(key).reset_index(drop=True),
                                  after.drop(columns="visits_run_id").sort_values(key).reset_index(drop=True))
    # a window whose pings have not landed leaves its visits alone
    version = DeltaTable(local.table_path("visits")).version()
    spark.sql(f"DELETE FROM delta.`{local.table_path('pings')}` WHERE fix_date >= '2026-03-29'")
    with pytest.raises(NoPingsError, match="no pings between 2026-03-29 and 2026-03-29"):
        run_visits(spark, local, d2, d2, run_id="v-none")
    assert DeltaTable(local.table_path("visits")).version() == version

    facts = {"fact_visit": "visit_date", "fact_presence_hour": "hour_date", "fact_presence_hour_unit": "hour_date",
             "fact_event": "event_date", "fact_area_day": "local_date"}
    run_presence(spark, local, d0, d2, run_id="p-all")
    first = {name: frame(local, name) for name in facts}
    run_presence(spark, local, d1, d1, run_id="p-mid")
    for name, column in facts.items():
        now = frame(local, name)
        outside = now[now[column].astype(str) != str(d1)]
        assert set(outside["marts_run_id"]) <= {"p-all"}, name
        kept = first[name][first[name][column].astype(str) != str(d1)]
        assert len(outside) == len(kept), name
    log = frame(local, "run_log")
    assert {("visits", "v-all"), ("visits", "v-mid"), ("presence", "p-all"), ("presence", "p-mid")} <= set(zip(log["job"], log["run_id"]))
    failed = log[log["run_id"] == "v-none"]
    assert list(failed["status"]) == ["failed"] and "NoPingsError" in failed["error"].iloc[0]
    # the publication gate: a corrupt visit (dwell bounds out of order) stops presence from publishing
    from impact.quality import QualityGateFailed

    marts = list(facts) + ["fact_visit_track"]
    versions = {name: DeltaTable(local.table_path(name)).version() for name in marts}
    bad = (spark.read.format("delta").load(local.table_path("visits")).where(f"visit_date = '{d1}'").limit(1)
           .selectExpr("*").withColumn("visit_id", F.concat(F.col("visit_id"), F.lit("-corrupt")))
           .withColumn("duration_lower_s", F.col("duration_upper_s") + 100))
    bad.write.format("delta").mode("append").save(local.table_path("visits"))
    with pytest.raises(QualityGateFailed, match="nothing published") as gate:
        run_presence(spark, local, d1, d1, run_id="p-bad")
    assert {name: DeltaTable(local.table_path(name)).version() for name in marts} == versions
    report = Path(gate.value.report).read_text()
    assert "FAIL" in report and "duration_best_s" in report and "p-bad" in report
    log = frame(local, "run_log")
    assert list(log.loc[log["run_id"] == "p-bad", "status"]) == ["failed"]
