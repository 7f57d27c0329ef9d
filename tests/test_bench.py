"""The benchmark runs end to end at a tiny size and reports what it promises (a benchmark, not a timed test:
nothing here depends on how fast the machine is)."""
from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from impact.bench.run import STAGES, parse_plan, plan_facts, plan_operators, size_label
from impact.demo.bulk import generate_bulk, plan

ROOT = Path(__file__).resolve().parent.parent

PLAN = """== Physical Plan ==
AdaptiveSparkPlan (12)
+- == Final Plan ==
   * Project (7)
   +- Window (6)
      +- * Sort (5)
         +- AQEShuffleRead (4)
            +- ShuffleQueryStage (3)
               +- Exchange (2)
                  +- BroadcastIndexJoin (1)
+- == Initial Plan ==
   Project (11)
   +- Window (10)
      +- Sort (9)
         +- Exchange (8)


(1) BroadcastIndexJoin
Arguments: ...
"""


def test_plan_facts_read_the_final_adaptive_plan():
    ops = plan_operators(PLAN)
    assert sorted(ops) == sorted(["AdaptiveSparkPlan", "Project", "Window", "Sort", "AQEShuffleRead", "ShuffleQueryStage", "Exchange", "BroadcastIndexJoin"])
    facts = plan_facts(ops)
    assert facts["shuffles"] == 1 and facts["sorts"] == 1 and facts["windows"] == 1
    assert facts["join:BroadcastIndexJoin"] == 1


CACHED = """== Physical Plan ==
AdaptiveSparkPlan (12)
+- == Final Plan ==
   TableCacheQueryStage (11), Statistics(sizeInBytes=122.6 MiB, rowCount=1.02E+6)
   +- InMemoryTableScan (1)
         +- InMemoryRelation (2)
               +- AdaptiveSparkPlan (10)
               +- == Final Plan ==
                  Window (6)
                  +- * Sort (5)
                     +- ShuffleQueryStage (4), Statistics(sizeInBytes=477.7 MiB, rowCount=1.02E+6)
                        +- Exchange (3)
               +- == Initial Plan ==
                  Window (9)
                  +- Sort (8)
                     +- Exchange (7)
+- == Initial Plan ==
   InMemoryTableScan (1)
      +- InMemoryRelation (2)
            +- AdaptiveSparkPlan (10)

"""


def test_a_cached_frames_plan_is_kept_apart():
    ops, cached = parse_plan(CACHED)
    assert sorted(ops) == sorted(["AdaptiveSparkPlan", "TableCacheQueryStage", "InMemoryTableScan", "InMemoryRelation"])
    assert len(cached) == 1 and plan_facts(list(cached[0]))["shuffles"] == 1 and plan_facts(list(cached[0]))["windows"] == 1


def test_plan_sizes_force_days():
    assert size_label(50_000_000) == "50M" and size_label(30_000) == "30k"
    big = plan(50_000_000)
    assert big.officers == 7_000 and big.days == 12 and 30 < big.cadence_mean_s < 300
    small = plan(30_000)
    assert small.days == 1 and small.officers < 7_000


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "bulk.json":            # the manifest records how long it took
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_bulk_world_is_deterministic_and_shaped_like_the_contracts(tmp_path):
    p = plan(20_000, seed=3, days=2)
    one = generate_bulk(tmp_path / "one", p, None, workers=1)
    generate_bulk(tmp_path / "two", p, None, workers=2)                 # parallel days, same bytes
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    assert 18_000 < one["rows"]["airwave_pings"] < 22_000
    sources = yaml.safe_load((ROOT / "conf" / "sources.yaml").read_text())["sources"]
    for name, contract in sources.items():
        if name.startswith("police_uk_"):
            continue
        files = sorted((tmp_path / "one").glob(contract["path"].replace("{date}", "*")))
        assert files, name
        raws = {r for c in contract["columns"] for r in (c["raw"] if isinstance(c["raw"], list) else [c["raw"]])}
        declared = raws | set(contract.get("drop", []))
        for f in files:
            first = f.read_text().splitlines()[0]
            if contract["format"] == "jsonl":
                assert set(json.loads(first)) == {r.split(".")[0] for r in declared}, f.name
            else:
                assert set(next(csv.reader([first], delimiter=contract["csv"].get("sep", ",")))) == declared, f.name
    for f in sorted((tmp_path / "one" / "airwave_pings").glob("*.csv")):      # one UTC day per file
        times = [r["FixTimeUTC"] for r in csv.DictReader(f.open()) if r["FixTimeUTC"][:4] == "2026"]
        assert times and all(t[:10].replace("-", "") == f.stem[-8:] for t in times)


@pytest.mark.slow
@pytest.mark.integration
def test_bench_at_a_tiny_size(tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"
    subprocess.run([sys.executable, "-m", "impact.bench.run", "--pings", "30000", "--out", str(out), "--work", str(work),
                    "--gen-workers", "1"], check=True, cwd=ROOT, timeout=1800)
    result = json.loads((out / "bench-30k.json").read_text())

    assert 25_000 < result["pings"] < 36_000
    assert result["startup_s"] > 0
    for name in STAGES:
        stage = result["stages"][name]
        assert stage["ok"], name
        assert stage["wall_s"] > 0, name
        assert stage["pings_per_s"] > 0, name
        assert stage["plans"]["sql_executions"] > 0, name
        assert isinstance(stage["plans"].get("shuffles", 0), int), name

    totals = result["totals"]
    assert totals["pipeline_pings_per_s"] > 0 and totals["assign_visits_presence_pings_per_s"] > 0
    # the whole process tree: at least the JVM alone, and Python workers were seen (pandas UDFs in ingest)
    assert totals["peak_memory_gib"] > 0
    assert totals["peak_memory_gib"] >= totals["peak_jvm_rss_gib"] > 0
    assert totals["peak_tree_rss_gib"] >= totals["peak_jvm_rss_gib"]
    assert totals["peak_python_workers_rss_gib"] > 0
    assert result["memory_samples"] > 10

    # explain-plan facts: the area assignment is Sedona's broadcast index join, never a cartesian product
    assert "BroadcastIndexJoin" in result["stages"]["assignment"]["plans"]["joins"]
    assert "BroadcastIndexJoin" in result["stages"]["visits"]["plans"]["joins"]
    for name in STAGES:
        joins = result["stages"][name]["plans"]["joins"]
        assert "CartesianProduct" not in joins and "BroadcastNestedLoopJoin" not in joins, (name, joins)
    assert result["stages"]["visits"]["plans"]["shuffles"] > 0

    assert {"assign_visits_presence_pings_per_s", "pipeline_pings_per_s", "peak_memory_gib", "force_day_wall_s"} <= set(result["verdicts"])
    md = (out / "bench-30k.md").read_text()
    assert "| ingest |" in md and "| visits |" in md and "| presence |" in md and "## Targets" in md
    assert "30k" in (out / "summary.md").read_text()
    assert json.loads((work / "raw-30k" / "_truth" / "bulk.json").read_text())["rows"]["airwave_pings"] == result["world"]["rows"]["airwave_pings"]


def test_shuffle_partitions_grow_with_the_raw_input():
    from impact.session import shuffle_partitions_for

    mib = 1024 ** 2
    assert shuffle_partitions_for(100 * mib) == 8                      # small runs keep the profile's value
    assert shuffle_partitions_for(4_000 * mib) == 32                   # ~50M pings of CSV: 32 x 125 MiB
    assert shuffle_partitions_for(20_000 * mib) == 160                 # a multiple of the configured 8
    assert shuffle_partitions_for(10 ** 15) == 512                     # capped
    assert shuffle_partitions_for(4_000 * mib, configured=2) == 32


def _stage_result(stage: str, first: str, last: str, seconds: float, pings: int | None = None):
    from impact.ops.stages import StageResult

    detail = {"airwave_pings": {"read": pings}} if pings is not None else {}
    return StageResult(stage, (date.fromisoformat(first), date.fromisoformat(last)), "bench-run", seconds=seconds,
                       detail=detail).as_json()


def test_a_backfill_bench_reports_each_chunk_and_sums_the_stages_over_them(tmp_path):
    """`--chunk-days`: the runner's stage results become one record per chunk, the pipeline's time is the
    backfill's wall time, each stage is summed over the chunks, and the peaks include the sub-stages."""
    from impact.bench.run import chunk_records, finish, markdown, summary

    results = [_stage_result("ingest", "2026-03-16", "2026-03-22", 300.0, 28_000_000),
               _stage_result("visits", "2026-03-16", "2026-03-22", 200.0),
               _stage_result("presence", "2026-03-16", "2026-03-22", 100.0),
               _stage_result("ingest", "2026-03-23", "2026-03-24", 90.0, 8_000_000),
               _stage_result("visits", "2026-03-22", "2026-03-24", 80.0),
               _stage_result("presence", "2026-03-22", "2026-03-24", 40.0)]
    chunks = chunk_records(results)
    assert [c["pings"] for c in chunks] == [28_000_000, 8_000_000]
    assert chunks[1]["windows"]["visits"] == ["2026-03-22", "2026-03-24"]          # rebuilds the day before
    assert chunks[0]["seconds"] == {"ingest": 300.0, "visits": 200.0, "presence": 100.0}
    with pytest.raises(ValueError, match="start with visits"):
        chunk_records(results[1:])
    # a resumed backfill: the first chunk comes from the checkpoint of the run that finished it
    resumed = chunk_records([dict(r, from_checkpoint="run-1") for r in results[:3]]) + chunk_records(results[3:])
    assert [c.get("from_checkpoint") for c in resumed] == ["run-1", None]

    plans = {"sql_executions": 10, "shuffles": 3, "sorts": 2, "windows": 1, "joins": {}, "shuffle_write_mb": 1.0,
             "spill_disk_mb": 0.0, "slowest": []}
    gib = {"tree_rss": 6.0, "tree_pss": 5.0, "jvm_rss": 4.0, "python_workers_rss": 0.5, "processes": 9}
    result = {
        "label": "36M-backfill-c7", "pings": 36_000_000, "started_at": "2026-12-06T16:00:00+00:00", "interval": 0.5,
        "machine": {"cores": 2, "ram_gib": 23.5, "cpu": "cpu", "java": "17", "apache_sedona": "1.8.1", "delta_spark": "3.3.3"},
        "spark_version": "3.5.6", "spark_conf": {"spark.master": "local[*]"}, "startup_s": 9.0, "steps": [], "notes": [],
        "world": {"plan": {"officers": 7000, "days": 9, "cadence_mean_s": 35.0}, "days": 9, "rows": {"airwave_pings": 36_000_000},
                  "window": ["2026-03-16", "2026-03-24"], "generator_s_when_written": 60.0},
        "stages": {"backfill": {"ok": True, "wall_s": 900.0, "tree_cpu_s": 1700.0, "other_cpu_share": 0.01, "plans": plans,
                                "chunk_days": 7, "chunks": chunks}},
        "memory_by_stage": {"startup": {**gib, "tree_pss": 1.0}, "backfill": {**gib, "tree_pss": 2.0},
                            "backfill:visits": {**gib, "tree_pss": 6.5}},
    }
    finish(result)
    totals = result["totals"]
    assert totals["pipeline_s"] == 900.0 and totals["pipeline_pings_per_s"] == 40_000
    assert totals["assign_visits_presence_s"] == 420.0                  # visits + presence over both chunks
    assert totals["peak_memory_gib"] == 6.5                             # the peak of a sub-stage counts
    assert "force_day_wall_s" not in result["verdicts"]                 # nine days are not a force-day
    assert result["stages"]["backfill"]["stage_seconds"] == {"ingest": 390.0, "visits": 280.0, "presence": 140.0}
    md = markdown(result)
    assert "## Backfill: 2 chunks of 7 day(s), one command" in md
    assert "| 2 | 2026-03-23..2026-03-24 | 8,000,000 | 90.0 | 80.0 | 40.0 | 210.0 | 38,095 |" in md
    (tmp_path / "bench-36M-backfill-c7.json").write_text(json.dumps(result))
    row = next(line for line in summary(tmp_path).splitlines() if line.startswith("| 36M-backfill-c7 |"))
    assert "| 390.0 | - | 280.0 | 140.0 | 900.0 |" in row                  # stage sums; no standalone assignment

    # resumed: the chunk an earlier run finished adds its stage seconds to the pipeline's time, and says so
    result["stages"]["backfill"]["chunks"][0]["from_checkpoint"] = "run-1"
    result["stages"]["backfill"]["wall_s"] = 300.0                     # this run did the second chunk only
    finish(result)
    assert result["totals"]["pipeline_s"] == 300.0 + 600.0
    assert any(n.startswith("Resumed: chunks 1 ") for n in result["notes"])
    assert "| 1 (earlier run) | 2026-03-16..2026-03-22 |" in markdown(result)


def test_plan_facts_of_a_backfills_chunks_add_up():
    from impact.bench.run import merge_summaries

    one = {"sql_executions": 10, "shuffles": 3, "spill_disk_mb": 1.5, "joins": {"BroadcastIndexJoin": 1},
           "slowest": [{"description": "a", "seconds": 4.0}, {"description": "b", "seconds": 1.0}]}
    two = {"sql_executions": 5, "shuffles": 2, "sorts": 1, "spill_disk_mb": 0.25, "joins": {"BroadcastIndexJoin": 2, "BroadcastHashJoin": 1},
           "slowest": [{"description": "c", "seconds": 9.0}]}
    merged = merge_summaries([one, two])
    assert merged["sql_executions"] == 15 and merged["shuffles"] == 5 and merged["sorts"] == 1
    assert merged["spill_disk_mb"] == 1.75
    assert merged["joins"] == {"BroadcastIndexJoin": 3, "BroadcastHashJoin": 1}
    assert [e["description"] for e in merged["slowest"]] == ["c", "a", "b"]
