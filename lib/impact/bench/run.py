"""Benchmark: ingest -> area assignment -> visits -> presence on local Spark, on a generated force-sized world.

    python -m impact.bench.run --pings 10000000 --out bench/results          (or: make bench N=10000000)

One Python process, one SparkSession (its start-up timed on its own), the library pipeline functions the
jobs call (`run_ingest`, `run_visits`, `run_presence`), each timed as a stage. Writes
`<out>/bench-<size>.json` and `.md`, and refreshes `<out>/summary.md` from every result in the folder.

Measured per stage: wall seconds, pings per second, peak memory of the whole process tree (this process,
the JVM, the Python UDF workers: RSS summed over every process, and PSS, which counts shared pages once)
sampled every 0.5 s from /proc, CPU used by other processes on the machine (contention), and facts from
the executed physical plans (Spark's SQL status store, the data the SQL tab of the UI shows): join
strategies, shuffles (Exchange), sorts, windows, Python UDF evaluations, shuffle bytes and spill, and
the slowest table writes. Area assignment runs inside the visits job; the `assignment` stage measures
it on its own (scan pings, Sedona join to the zones, count) so its share is visible, and is left out of
the pipeline totals so nothing is counted twice.

The raw world is generated once per size under `--work` (`impact.demo.bulk`, reused while its plan is
unchanged); the warehouse is deleted before every run.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

log = logging.getLogger("impact.bench")

ROOT = Path(__file__).resolve().parents[3]
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
GIB = 1024 ** 3
STAGES = ("ingest", "assignment", "visits", "presence")
PIPELINE = ("ingest", "visits", "presence")            # assignment is inside visits: measured, not added
TARGETS = {                                          # issue 11, as revised (first set at 1.6M and 0.8M pings/s)
    "assign_visits_presence_pings_per_s": 600_000,
    "pipeline_pings_per_s": 300_000,
    "peak_memory_gib": 8.0,
    "force_day_wall_s": 60.0,
    "scaling_50m_over_5m": 11.0,
}


# ---------------------------------------------------------------- process-tree memory and CPU (/proc)

def _stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, cpu ticks incl. reaped children) of a process, or None if it has gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return comm, int(fields[1]), sum(int(f) for f in fields[11:15])


def process_tree(root: int) -> dict[int, tuple[str, int]]:
    """{pid: (comm, cpu ticks)} of `root` and all its descendants."""
    info: dict[int, tuple[str, int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            s = _stat(int(entry.name))
            if s:
                info[int(entry.name)] = s
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in info.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in info:
            out[pid] = (info[pid][0], info[pid][2])
            todo.extend(children.get(pid, []))
    return out


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _busy_ticks() -> int:
    """CPU ticks spent busy by the whole machine (all cores) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]             # minus idle and iowait


class TreeSampler(threading.Thread):
    """Samples the process tree's summed RSS / PSS every `interval` seconds; peaks kept per stage."""

    def __init__(self, root: int, interval: float = 0.5):
        super().__init__(daemon=True, name="bench-memory")
        self.root, self.interval = root, interval
        self.stage = "startup"
        self.peaks: dict[str, dict[str, float]] = {}
        self.at_peak: dict[str, dict] = {}
        self.samples = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        tree = process_tree(self.root)
        rss = {pid: _rss(pid) for pid in tree}
        total_rss = sum(rss.values())
        total_pss = sum(_pss(pid) for pid in tree)
        jvm = sum(v for pid, v in rss.items() if tree[pid][0] == "java")
        workers = sum(v for pid, v in rss.items() if pid != self.root and tree[pid][0].startswith("python"))
        peak = self.peaks.setdefault(self.stage, {"tree_rss": 0, "tree_pss": 0, "jvm_rss": 0, "python_workers_rss": 0,
                                                  "processes": 0})
        if total_pss > peak["tree_pss"]:
            by_comm: Counter = Counter()
            for pid, value in rss.items():
                by_comm[tree[pid][0]] += value
            self.at_peak[self.stage] = {"rss_by_command": dict(by_comm), "tree_pss": total_pss, "tree_rss": total_rss}
        for key, value in (("tree_rss", total_rss), ("tree_pss", total_pss), ("jvm_rss", jvm),
                           ("python_workers_rss", workers), ("processes", len(tree))):
            peak[key] = max(peak[key], value)
        self.samples += 1

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.sample()
            except Exception as error:  # noqa: BLE001 - a failed sample must not kill the benchmark
                log.debug("memory sample failed: %s", error)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.sample()

    def peak(self, stages) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in stages:
            for k, v in self.peaks.get(s, {}).items():
                out[k] = max(out.get(k, 0), v)
        return out


class CpuMeter:
    """CPU seconds of the process tree and of everything else on the machine between two points."""

    def __init__(self, root: int):
        self.root = root
        self.mark()

    def _tree_ticks(self) -> int:
        return sum(t for _, t in process_tree(self.root).values())

    def mark(self) -> None:
        self.t, self.busy, self.tree = time.monotonic(), _busy_ticks(), self._tree_ticks()

    def since(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.t, 1e-9)
        busy, tree = _busy_ticks() - self.busy, self._tree_ticks() - self.tree
        cores = os.cpu_count() or 1
        return {"tree_cpu_s": round(tree / TICK, 1),
                "tree_cpu_share": round(tree / TICK / (elapsed * cores), 3),
                "other_cpu_share": round(max(busy - tree, 0) / TICK / (elapsed * cores), 3)}


# ---------------------------------------------------------------- physical plans from Spark's SQL status store

_OPERATOR = re.compile(r"([A-Z][A-Za-z0-9]*(?: [a-z][A-Za-z0-9_.]*)*)\s*\((\d+)\)")
_MARKER = re.compile(r"== (Final|Initial) Plan ==")
JOINS = ("BroadcastIndexJoin", "RangeJoin", "DistanceJoin", "BroadcastHashJoin", "SortMergeJoin", "ShuffledHashJoin",
         "BroadcastNestedLoopJoin", "CartesianProduct")


def parse_plan(plan: str) -> tuple[list[str], list[tuple[str, ...]]]:
    """(operators, cached subtrees) of a formatted physical plan. Each operator (id) once; every adaptive
    plan's `Initial Plan` skipped (what ran is the `Final Plan`, nested ones too); the plan under an
    InMemoryRelation (a cached frame: computed once, then read by every query using it) returned apart."""
    tree = plan.split("== Physical Plan ==", 1)[-1].strip("\n").split("\n\n", 1)[0].splitlines()
    regions: list[tuple[int, str, int]] = []       # (indent, Final | Initial | Cached, relation id) we are inside
    seen: dict[int, str] = {}
    cached: dict[int, dict[int, str]] = {}          # InMemoryRelation id -> its operators
    for line in tree:
        body = line.lstrip(" :|+-*")
        indent = len(line) - len(body)
        marker = _MARKER.match(body)
        while regions and (regions[-1][0] >= indent if marker or regions[-1][1] == "Cached" else regions[-1][0] > indent):
            regions.pop()
        if marker:
            regions.append((indent, marker.group(1), -1))
            continue
        op = _OPERATOR.match(body)
        if not op or any(mode == "Initial" for _, mode, _ in regions):
            continue
        name, op_id = op.group(1), int(op.group(2))
        name = name.split(" ")[0] if name.startswith("Scan") else name
        caches = [rel for _, mode, rel in regions if mode == "Cached"]
        target = cached[caches[0]] if caches else seen
        target.setdefault(op_id, name)
        if name == "InMemoryRelation":
            cached.setdefault(op_id, {})
            regions.append((indent, "Cached", op_id))
    return [seen[k] for k in sorted(seen)], [tuple(c[k] for k in sorted(c)) for c in cached.values() if c]


def plan_operators(plan: str) -> list[str]:
    """Operators of a plan outside cached relations (see parse_plan)."""
    return parse_plan(plan)[0]


def is_command(operators: list[str]) -> bool:
    """A command execution (e.g. a Delta write) wraps the query it runs, which is its own execution."""
    return bool(operators) and (operators[0].endswith("Command") or operators[0].startswith("Execute"))


def plan_facts(operators: list[str]) -> dict[str, int]:
    ops = Counter(operators)
    return {
        "shuffles": ops["Exchange"],
        "broadcasts": ops["BroadcastExchange"],
        "reused_exchanges": ops["ReusedExchange"],
        "sorts": ops["Sort"],
        "windows": ops["Window"] + ops["WindowGroupLimit"],
        "aggregates": ops["HashAggregate"] + ops["SortAggregate"] + ops["ObjectHashAggregate"],
        "python_udf_evals": ops["ArrowEvalPython"] + ops["BatchEvalPython"],
        "scans": sum(v for k, v in ops.items() if k.startswith("Scan") or k == "FileScan"),
        **{f"join:{j}": ops[j] for j in JOINS if ops[j]},
    }


def _scala_list(spark, seq) -> list:
    return list(spark.sparkContext._jvm.scala.collection.JavaConverters.seqAsJavaList(seq))


def _flush_listeners(spark) -> None:
    try:
        spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(30_000)
    except Exception:  # noqa: BLE001 - private API; a short wait does the same job
        time.sleep(1.0)


def sql_executions(spark, after_id: int) -> list[dict]:
    """SQL executions with id > after_id: description, duration, final physical plan, their stages."""
    _flush_listeners(spark)
    store = spark._jsparkSession.sharedState().statusStore()
    out = []
    for e in _scala_list(spark, store.executionsList()):
        eid = int(e.executionId())
        if eid <= after_id:
            continue
        done = e.completionTime()
        end_ms = done.get().getTime() if done.isDefined() else None
        stages = [int(s) for s in spark.sparkContext._jvm.scala.collection.JavaConverters.setAsJavaSet(e.stages())] \
            if hasattr(e, "stages") else []
        out.append({"id": eid, "description": str(e.description()), "plan": str(e.physicalPlanDescription()),
                    "seconds": None if end_ms is None else (end_ms - int(e.submissionTime())) / 1000.0, "stages": stages})
    return out


def stage_metrics(spark) -> dict[int, dict]:
    """Per Spark stage: run time, shuffle bytes, spill (from the app status store); {} when unavailable."""
    try:
        jvm = spark.sparkContext._jvm
        store = spark.sparkContext._jsc.sc().statusStore()
        stages = store.stageList(None, False, False, spark.sparkContext._gateway.new_array(jvm.double, 0), jvm.java.util.ArrayList())
        out = {}
        for s in _scala_list(spark, stages):
            out[int(s.stageId())] = {"run_ms": int(s.executorRunTime()), "input_bytes": int(s.inputBytes()),
                                     "shuffle_read_bytes": int(s.shuffleReadBytes()), "shuffle_write_bytes": int(s.shuffleWriteBytes()),
                                     "spill_disk_bytes": int(s.diskBytesSpilled()), "spill_memory_bytes": int(s.memoryBytesSpilled()),
                                     "tasks": int(s.numTasks())}
        return out
    except Exception as error:  # noqa: BLE001 - metrics are a bonus, never fatal
        log.warning("stage metrics unavailable: %s", error)
        return {}


def seen_stages(execs: list[dict], stages: dict[int, dict]) -> set[int]:
    return {s for e in execs for s in e["stages"] if s in stages}


def summarise_executions(execs: list[dict], stages: dict[int, dict]) -> dict:
    """Plan facts over a stage's own (non-Delta-housekeeping) executions, plus the slowest of them."""
    own = [e for e in execs if not e["description"].startswith("Delta:")]
    own_ids = {e["id"] for e in own}
    facts: Counter = Counter()
    joins: Counter = Counter()
    caches: set[tuple[str, ...]] = set()
    commands = 0
    for e in own:
        ops, cached = parse_plan(e["plan"])
        if is_command(ops):
            commands += 1
            e["facts"] = {"command": 1}
            continue
        fresh = [c for c in cached if c not in caches]       # a cached frame's plan runs once, where first used
        caches.update(cached)
        f = plan_facts(ops + [op for c in fresh for op in c])
        e["facts"] = f
        for k, v in f.items():
            (joins if k.startswith("join:") else facts)[k.replace("join:", "")] += v
    seen: set[int] = set()
    totals = Counter()
    for e in execs:
        for s in e["stages"]:
            if s in stages and s not in seen:
                seen.add(s)
                totals.update({k: v for k, v in stages[s].items() if k != "tasks"})
    slowest = sorted((e for e in own if "command" not in e["facts"]), key=lambda e: -(e["seconds"] or 0))[:6]
    return {
        "sql_executions": len(execs), "command_executions": commands, "delta_housekeeping_executions": len(execs) - len(own),
        "shuffle_map_stages": sum(1 for s in seen_stages(execs, stages) if stages[s]["shuffle_write_bytes"] > 0),
        "delta_housekeeping_s": round(sum(e["seconds"] or 0 for e in execs if e["id"] not in own_ids), 2),
        **{k: int(v) for k, v in facts.items()}, "joins": dict(joins),
        "spark_stages": len(seen), "executor_run_s": round(totals["run_ms"] / 1000, 1),
        "shuffle_write_mb": round(totals["shuffle_write_bytes"] / 2 ** 20, 1),
        "shuffle_read_mb": round(totals["shuffle_read_bytes"] / 2 ** 20, 1),
        "spill_disk_mb": round(totals["spill_disk_bytes"] / 2 ** 20, 1),
        "slowest": [{"description": e["description"][:120], "seconds": e["seconds"], **{k: v for k, v in e["facts"].items() if v}}
                    for e in slowest],
    }


def merge_summaries(parts: list[dict]) -> dict:
    """Plan facts of several runs of a stage (a backfill's chunks) as one: counts and sizes added, joins
    added per strategy, the slowest executions of all of them."""
    out: dict = {"joins": Counter(), "slowest": []}
    for part in parts:
        for key, value in part.items():
            if key == "joins":
                out["joins"].update(value)
            elif key == "slowest":
                out["slowest"] += value
            else:
                out[key] = round(out.get(key, 0) + value, 2)
    out["joins"] = dict(out["joins"])
    out["slowest"] = sorted(out["slowest"], key=lambda e: -(e["seconds"] or 0))[:6]
    return out


# ---------------------------------------------------------------- instrumentation of the pipelines (runtime wrappers only)

class Steps:
    """Times every table write (and the ingest's GX gate) and labels the Spark jobs they run."""

    def __init__(self, spark):
        self.spark, self.stage, self.records = spark, "", []
        self._patched: list[tuple[object, str, object]] = []

    def _wrap(self, module, name: str, label) -> None:
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            what = label(*args, **kwargs)
            sc = self.spark.sparkContext
            sc.setLocalProperty("spark.job.description", f"{self.stage}: {what}")
            t0 = time.monotonic()
            try:
                return original(*args, **kwargs)
            finally:
                self.records.append({"stage": self.stage, "step": what, "seconds": round(time.monotonic() - t0, 2)})
                sc.setLocalProperty("spark.job.description", f"{self.stage}")

        setattr(module, name, timed)
        self._patched.append((module, name, original))

    def install(self) -> None:
        import impact.ingest.pipeline as ingest
        import impact.presence.pipeline as presence
        import impact.runlog as runlog
        import impact.visits.pipeline as visits

        for module in (ingest, visits, presence):
            self._wrap(module, "write_table", lambda df, settings, table, *a, **k: f"write {table}")
        self._wrap(ingest, "validate_accepted", lambda df, contract, *a, **k: f"validate {contract.name}")
        self._wrap(runlog, "append_table", lambda df, settings, table, *a, **k: f"append {table}")   # the run log

    def uninstall(self) -> None:
        for module, name, original in reversed(self._patched):
            setattr(module, name, original)


# ---------------------------------------------------------------- the run

def size_label(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % (div // 10 if div > 1000 else div) == 0:
            value = n / div
            return f"{value:g}{unit}"
    return str(n)


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30).stderr.splitlines()[0]
    except Exception:  # noqa: BLE001
        java = "unknown"

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {"cores": os.cpu_count(), "ram_gib": round(total_kb / 2 ** 20, 1), "cpu": cpu.group(1) if cpu else platform.processor(),
            "os": platform.platform(), "python": platform.python_version(), "java": java,
            "pyspark": version("pyspark"), "delta_spark": version("delta-spark"), "apache_sedona": version("apache-sedona"),
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3]}


def ensure_world(work: Path, pings: int, seed: int, workers: int, regenerate: bool,
                 days: int | None = None) -> tuple[Path, dict, float]:
    from impact.demo.bulk import FORMAT_VERSION, generate_bulk, plan

    p = plan(pings, seed, days=days)
    raw = work / (f"raw-{size_label(pings)}" + (f"-{days}d" if days else ""))
    manifest_path = raw / "_truth" / "bulk.json"
    if not regenerate and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("plan") == asdict(p) and manifest.get("format_version") == FORMAT_VERSION:
            log.info("reusing the generated world in %s", raw)
            return raw, manifest, 0.0
    shutil.rmtree(raw, ignore_errors=True)
    shared = ROOT.parent / "shared" / "data"
    t0 = time.monotonic()
    manifest = generate_bulk(raw, p, shared if shared.exists() else None, workers)
    return raw, manifest, time.monotonic() - t0


def _parse_conf(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--spark-conf expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def run(args: argparse.Namespace) -> dict:
    from impact.config import load_settings

    root_pid = os.getpid()
    sampler = TreeSampler(root_pid, args.interval)
    sampler.start()
    cpu = CpuMeter(root_pid)
    work, out = args.work.resolve(), args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    label = args.label or (size_label(args.pings) + (f"-{args.world_days}d" if args.world_days else "")
                           + (f"-first{args.days}d" if args.days else "")
                           + (f"-backfill-c{args.chunk_days}" if args.chunk_days else ""))
    result: dict = {"label": label, "requested_pings": args.pings,
                    "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                    "interval": args.interval, "stages": {}, "steps": [], "notes": []}

    sampler.stage = "generate"
    raw, manifest, gen_s = ensure_world(work, args.pings, args.seed, args.gen_workers, args.regenerate, args.world_days)
    plan = manifest["plan"]
    start, end = date.fromisoformat(plan["start"]), date.fromisoformat(manifest["end"])
    world_days = (end - start).days + 1
    if args.days:
        if args.days < 1:
            raise SystemExit(f"--days must be at least 1 (got {args.days})")
        end = min(end, start + timedelta(days=args.days - 1))
    days = (end - start).days + 1
    result["world"] = {"raw": str(raw), "plan": plan, "rows": manifest["rows"], "generated_s": round(gen_s, 1),
                       "generator_s_when_written": manifest["seconds"], "window": [str(start), str(end)], "days": days}
    warehouse = work / f"warehouse-{result['label']}"
    if args.resume and not args.chunk_days:
        raise SystemExit("--resume continues a --chunk-days backfill; give --chunk-days (and the same --pings / --label)")
    if not args.resume:
        shutil.rmtree(warehouse, ignore_errors=True)

    settings = load_settings(args.conf).with_overrides(raw_root=str(raw), warehouse=str(warehouse),
                                                       spark_master=args.master)
    # every execution of a stage is kept until its plan facts are read; a backfill's are read after each
    # stage of each chunk, so its store stays small (100,000 of each filled the 4g heap of a 200M backfill)
    retained = "5000" if args.chunk_days else "100000"
    overrides = {"spark.sql.ui.retainedExecutions": retained, "spark.ui.retainedJobs": retained,
                 "spark.ui.retainedStages": retained, **_parse_conf(args.spark_conf)}
    if args.chunk_days:
        result["notes"].append("Shuffle partitions: sized for each stage of each chunk by the runner from the raw "
                               "extracts of its window (impact.ops.stages.size_shuffle_partitions), as `impact backfill` does.")
    elif "spark.sql.shuffle.partitions" not in overrides and not args.fixed_partitions:
        # sized from the raw input (the pings dominate it), so 50M pings do not spill in 8 partitions
        from impact.session import shuffle_partitions_for

        raw_bytes = sum(f.stat().st_size for f in raw.rglob("*") if f.is_file() and "_truth" not in f.parts)
        configured = int(settings.spark_conf.get("spark.sql.shuffle.partitions", 8))
        overrides["spark.sql.shuffle.partitions"] = str(shuffle_partitions_for(raw_bytes * days // world_days, configured))
        result["raw_bytes"] = raw_bytes
    result["spark_conf"] = {**settings.spark_conf, **overrides, "spark.master": settings.spark_master}

    from impact.session import build_session

    sampler.stage = "startup"
    cpu.mark()
    t0 = time.monotonic()
    spark = build_session(settings, "impact-bench", overrides)
    result["startup_s"] = round(time.monotonic() - t0, 2)
    result["spark_version"] = spark.version
    result["startup_peak"] = sampler.peak(["startup"])
    steps = Steps(spark)
    steps.install()
    last_exec = max([e["id"] for e in sql_executions(spark, -1)], default=-1)

    @contextmanager
    def stage(name: str):
        nonlocal last_exec
        sampler.stage = steps.stage = name
        spark.sparkContext.setLocalProperty("spark.job.description", name)
        cpu.mark()
        t = time.monotonic()
        record = {"ok": False}
        try:
            yield record
            record["ok"] = True
        finally:
            record["wall_s"] = round(time.monotonic() - t, 2)
            record.update(cpu.since())
            execs = sql_executions(spark, last_exec)
            last_exec = max([e["id"] for e in execs], default=last_exec)
            if args.dump_plans:
                folder = out / f"plans-{result['label']}" / name
                folder.mkdir(parents=True, exist_ok=True)
                for e in execs:
                    slug = re.sub(r"[^A-Za-z0-9]+", "_", e["description"])[:60]
                    (folder / f"{e['id']:05d}_{slug}.txt").write_text(f"{e['description']}\n{e['seconds']} s\n\n{e['plan']}")
            record["plans"] = summarise_executions(execs, stage_metrics(spark))
            result["stages"][name] = record
            log.info("stage %s: %.1fs", name, record["wall_s"])

    window = (start, end)
    try:
        if args.chunk_days:
            parts: list[dict] = []

            def collect() -> None:
                nonlocal last_exec
                execs = sql_executions(spark, last_exec)
                last_exec = max([e["id"] for e in execs], default=last_exec)
                parts.append(summarise_executions(execs, stage_metrics(spark)))

            with stage("backfill") as rec:
                rec.update(run_backfill(spark, settings, start, end, args.chunk_days, sampler, args.resume, collect))
            rec["plans"] = merge_summaries(parts + [rec["plans"]])      # + what ran between the stages
            result["pings"] = sum(c["pings"] for c in rec["chunks"])
        else:
            from impact.ingest.pipeline import run_ingest

            with stage("ingest") as rec:
                results = run_ingest(spark, settings, "force", window)
                rec["sources"] = {r.source: {"status": r.status, "read": r.rows_read, "accepted": r.rows_accepted,
                                             "quarantined": r.rows_quarantined,
                                             "seconds": round(((r.finished_at or r.started_at) - r.started_at).total_seconds(), 2)}
                                  for r in results}
                failed = [r.source for r in results if r.status == "failed"]
                if failed:
                    raise RuntimeError(f"ingest failed for {failed}: {[r.error for r in results if r.status == 'failed']}")
            pings = rec["sources"]["airwave_pings"]["read"]
            result["pings"] = pings

            if not args.skip_assignment:
                from pyspark.sql import functions as F

                from impact.spatial.assign import assign_to_zones
                from impact.spatial.zones import RingSpec, build_zones
                from impact.tables import read_table
                from impact.visits.pipeline import load_params

                with stage("assignment") as rec:
                    _, raw_visits = load_params(settings)
                    rings = tuple(RingSpec(float(a), float(b)) for a, b in raw_visits.get("rings_m", [[0, 250], [250, 500]]))
                    zones = build_zones(read_table(spark, settings, "areas"), rings).cache()
                    rec["zones"] = zones.count()
                    located = assign_to_zones(read_table(spark, settings, "pings"), zones)
                    counts = {r["zone_type"]: r["n"] for r in located.groupBy("zone_type").agg(F.count("*").alias("n")).collect()}
                    rec["memberships"] = dict(sorted(counts.items()))
                    zones.unpersist()

            from impact.visits.pipeline import run_visits

            with stage("visits") as rec:
                rec["result"] = {k: v for k, v in run_visits(spark, settings, start, end).items() if k != "run_id"}

            from impact.presence.pipeline import run_presence

            with stage("presence") as rec:
                rec["result"] = {k: v for k, v in run_presence(spark, settings, start, end).items() if k != "run_id"}
    finally:
        steps.uninstall()
        result["steps"] = steps.records
        t = time.monotonic()
        spark.stop()
        result["shutdown_s"] = round(time.monotonic() - t, 2)
        sampler.stage = "shutdown"
        sampler.stop()
        result["memory_samples"] = sampler.samples
        result["memory_at_peak"] = {k: {"tree_pss_gib": round(v["tree_pss"] / GIB, 3), "tree_rss_gib": round(v["tree_rss"] / GIB, 3),
                                        "rss_gib_by_command": {c: round(b / GIB, 3) for c, b in v["rss_by_command"].items()}}
                                    for k, v in sampler.at_peak.items()}
        result["memory_by_stage"] = {k: {m: round(v / GIB, 3) if m != "processes" else v for m, v in p.items()}
                                     for k, p in sampler.peaks.items()}
        result["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    finish(result)
    write_outputs(result, out)
    return result


def run_backfill(spark, settings, start: date, end: date, chunk_days: int, sampler: TreeSampler,
                 resume: bool = False, collect=None) -> dict:
    """Ingest, visits and presence over start..end as one backfill in chunks of `chunk_days` dates, through
    the runner's own `backfill` (what `impact backfill` runs: checkpoint, each chunk rebuilding the day
    before it); returns each chunk's dates, pings read and seconds per stage. The memory sampler is told
    which stage is running, so peaks are kept per stage across chunks. `resume`: continue an interrupted
    backfill from its checkpoint (as `impact backfill` does without `--fresh`); the chunks it had finished
    are reported from their checkpoint records, marked `from_checkpoint`. `collect()`, if given, is
    called after every stage of every chunk (the plan facts are read then, so Spark's status store need
    not keep a multi-hour run's executions)."""
    import impact.ops.stages as stages_module
    from impact.ops.checkpoint import Checkpoint, backfill_key
    from impact.runner import backfill

    original = stages_module.run_stage

    @functools.wraps(original)
    def labelled(spark_, settings_, step, *args, **kwargs):
        sampler.stage = f"backfill:{step.stage}"
        try:
            return original(spark_, settings_, step, *args, **kwargs)
        finally:
            sampler.stage = "backfill"
            if collect is not None:
                collect()

    stages_module.run_stage = labelled
    results: list = []
    run_id = f"bench-backfill-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    try:
        out = backfill(spark, settings, start, end, chunk_days, PIPELINE, run_id, fresh=not resume, results=results)
    finally:
        stages_module.run_stage = original
    done = Checkpoint(spark, settings.warehouse, backfill_key(start, end, chunk_days, PIPELINE, "force")).done()
    earlier = [dict(stage, from_checkpoint=done[key].get("run_id")) for key in out["skipped"] for stage in done[key]["stages"]]
    chunks = chunk_records(earlier) + chunk_records([r.as_json() for r in results])
    for index, chunk in enumerate(chunks, 1):
        chunk["index"] = index
    return {"chunk_days": chunk_days, "chunks": chunks, "checkpoint": out["checkpoint"]}


def chunk_records(results: list[dict]) -> list[dict]:
    """A backfill's stage results (`StageResult.as_json()`, as the checkpoint keeps them), in order, as one
    record per chunk (each chunk starts with its ingest): the ingest dates, pings read, each stage's window
    and seconds, and `from_checkpoint` (the run that did it) for a chunk an earlier run finished."""
    chunks: list[dict] = []
    for r in results:
        if r["stage"] == "ingest":
            chunks.append({"index": len(chunks) + 1, "dates": list(r["window"]),
                           "pings": r["detail"]["airwave_pings"]["read"], "seconds": {}, "windows": {}})
            if r.get("from_checkpoint"):
                chunks[-1]["from_checkpoint"] = r["from_checkpoint"]
        elif not chunks:
            raise ValueError(f"a backfill's results start with {r['stage']}, not ingest: {[x['stage'] for x in results]}")
        chunks[-1]["seconds"][r["stage"]] = round(r["seconds"], 2)
        chunks[-1]["windows"][r["stage"]] = list(r["window"])
    return chunks


def _stage_memory(result: dict, name: str) -> dict:
    """Peaks of a stage, and of its sub-stages (`backfill:ingest` ...) when it has them."""
    out: dict = {}
    for key, peaks in result["memory_by_stage"].items():
        if key == name or key.startswith(name + ":"):
            for m, v in peaks.items():
                out[m] = max(out.get(m, 0), v)
    return out


def finish(result: dict) -> None:
    """Throughputs, peaks and target verdicts."""
    pings = result["pings"]
    st = result["stages"]
    for name, rec in st.items():
        rec["pings_per_s"] = round(pings / rec["wall_s"]) if rec["wall_s"] > 0 else None
        mem = _stage_memory(result, name)
        rec["peak_tree_rss_gib"] = mem.get("tree_rss")
        rec["peak_tree_pss_gib"] = mem.get("tree_pss")
        rec["peak_jvm_rss_gib"] = mem.get("jvm_rss")
        rec["peak_python_workers_rss_gib"] = mem.get("python_workers_rss")
    pipeline_s = sum(st[s]["wall_s"] for s in PIPELINE if s in st)
    after_ingest_s = sum(st[s]["wall_s"] for s in ("visits", "presence") if s in st)
    pipeline_cpu_s = sum(st[s].get("tree_cpu_s", 0) for s in PIPELINE if s in st)
    if "backfill" in st:     # one backfill: its wall time is the pipeline's; the stages summed over the chunks
        rec = st["backfill"]
        rec["stage_seconds"] = {s: round(sum(c["seconds"].get(s, 0) for c in rec["chunks"]), 2) for s in PIPELINE}
        pipeline_s, pipeline_cpu_s = rec["wall_s"], rec.get("tree_cpu_s", 0)
        resumed = [c for c in rec["chunks"] if c.get("from_checkpoint")]
        if resumed:           # chunks an earlier, interrupted run finished: their stage seconds, no CPU or memory
            rec["resumed_chunks_s"] = round(sum(sum(c["seconds"].values()) for c in resumed), 2)
            pipeline_s += rec["resumed_chunks_s"]
            result["notes"] = [n for n in result["notes"] if not n.startswith("Resumed:")] + [
                f"Resumed: chunks {', '.join(str(c['index']) for c in resumed)} were finished by an earlier run "
                f"({rec['resumed_chunks_s']:,.0f} s of stages, added to the pipeline's time); CPU seconds and memory "
                "peaks are this run's only."]
        after_ingest_s = rec["stage_seconds"]["visits"] + rec["stage_seconds"]["presence"]
    spark_stages = ["startup", *STAGES, "backfill"]
    peaks = {k: max((_stage_memory(result, s).get(k, 0) for s in spark_stages), default=0)
             for k in ("tree_rss", "tree_pss", "jvm_rss", "python_workers_rss")}
    result["totals"] = {
        "pings": pings,
        "pipeline_s": round(pipeline_s, 2),
        "pipeline_cpu_s": round(pipeline_cpu_s, 1),
        "assign_visits_presence_s": round(after_ingest_s, 2),
        "pipeline_pings_per_s": round(pings / pipeline_s) if pipeline_s else None,
        "assign_visits_presence_pings_per_s": round(pings / after_ingest_s) if after_ingest_s else None,
        "daily_run_wall_s": round(result["startup_s"] + pipeline_s, 2),
        "peak_memory_gib": peaks["tree_pss"],
        "peak_tree_rss_gib": peaks["tree_rss"], "peak_tree_pss_gib": peaks["tree_pss"],
        "peak_jvm_rss_gib": peaks["jvm_rss"], "peak_python_workers_rss_gib": peaks["python_workers_rss"],
        "assignment_share_of_visits": (round(st["assignment"]["wall_s"] / st["visits"]["wall_s"], 3)
                                       if "assignment" in st and st.get("visits", {}).get("wall_s") else None),
        "other_cpu_share": round(sum(st[s]["other_cpu_share"] * st[s]["wall_s"] for s in st) / max(sum(st[s]["wall_s"] for s in st), 1e-9), 3),
    }
    t = result["totals"]
    verdicts = {
        "assign_visits_presence_pings_per_s": _verdict(t["assign_visits_presence_pings_per_s"], TARGETS["assign_visits_presence_pings_per_s"], True),
        "pipeline_pings_per_s": _verdict(t["pipeline_pings_per_s"], TARGETS["pipeline_pings_per_s"], True),
        "peak_memory_gib": _verdict(t["peak_memory_gib"], TARGETS["peak_memory_gib"], False),
    }
    if result["world"].get("days", result["world"]["plan"]["days"]) == 1:
        verdicts["force_day_wall_s"] = _verdict(t["daily_run_wall_s"], TARGETS["force_day_wall_s"], False)
    result["verdicts"] = verdicts
    result["notes"].append("Targets are set for 50M pings (force-day: ~4M pings, one day); at other sizes the verdicts "
                           "show where this size stands, not whether the target is met.")


def _verdict(value, target, higher_is_better: bool) -> dict:
    if value is None:
        return {"value": None, "target": target, "met": None}
    met = value >= target if higher_is_better else value <= target
    ratio = value / target if higher_is_better else target / value if value else None
    return {"value": value, "target": target, "met": met, "fraction_of_target": round(ratio, 3) if ratio else None}


# ---------------------------------------------------------------- reports

def _fmt(v, digits=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def markdown(result: dict) -> str:
    t, st = result["totals"], result["stages"]
    m = result["machine"]
    lines = [
        f"# Benchmark {result['label']}: {t['pings']:,} pings",
        "",
        f"{result['started_at']} on {m['cores']} cores, {m['ram_gib']} GiB ({m['cpu']}); {m['java']}; Spark {result['spark_version']}, "
        f"Sedona {m['apache_sedona']}, Delta {m['delta_spark']}; master `{result['spark_conf'].get('spark.master')}`, "
        f"driver memory {result['spark_conf'].get('spark.driver.memory', 'default')}, "
        f"shuffle partitions {result['spark_conf'].get('spark.sql.shuffle.partitions', '200')}, "
        f"AQE {result['spark_conf'].get('spark.sql.adaptive.enabled', 'true')}.",
        "",
        f"World: {result['world']['plan']['officers']:,} officers, {result['world'].get('days', result['world']['plan']['days'])} day(s) "
        f"{result['world']['window'][0]}..{result['world']['window'][1]}, mean cadence {result['world']['plan']['cadence_mean_s']} s; "
        + ", ".join(f"{k} {v:,}" for k, v in result["world"]["rows"].items())
        + f". Generated in {result['world']['generator_s_when_written']} s.",
        "",
        f"Spark start-up: **{result['startup_s']} s** (not in the stage times).",
        "",
        "| stage | wall s | CPU s | pings/s | peak memory GiB (tree PSS) | peak tree RSS sum GiB | peak JVM RSS GiB | other CPU | SQL execs | shuffles | sorts | windows | joins | shuffle write MB | spill MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name in (*STAGES, "backfill"):
        if name not in st:
            continue
        r, p = st[name], st[name]["plans"]
        joins = ", ".join(f"{k} x{v}" for k, v in sorted(p.get("joins", {}).items())) or "-"
        label = name + (" (standalone; inside visits)" if name == "assignment" else "")
        lines.append(f"| {label} | {_fmt(r['wall_s'])} | {_fmt(r.get('tree_cpu_s'))} | {_fmt(r['pings_per_s'])} | {_fmt(r['peak_tree_pss_gib'], 2)} | "
                     f"{_fmt(r['peak_tree_rss_gib'], 2)} | {_fmt(r['peak_jvm_rss_gib'], 2)} | {r['other_cpu_share']:.0%} | "
                     f"{p['sql_executions']} | {p.get('shuffles', 0)} | {p.get('sorts', 0)} | {p.get('windows', 0)} | {joins} | "
                     f"{_fmt(p['shuffle_write_mb'])} | {_fmt(p['spill_disk_mb'])} |")
    lines += [
        f"| **ingest + visits + presence** | **{_fmt(t['pipeline_s'])}** | {_fmt(t.get('pipeline_cpu_s'))} | **{_fmt(t['pipeline_pings_per_s'])}** | "
        f"**{_fmt(t['peak_tree_pss_gib'], 2)}** | {_fmt(t['peak_tree_rss_gib'], 2)} | {_fmt(t['peak_jvm_rss_gib'], 2)} | "
        f"{t['other_cpu_share']:.0%} | | | | | | | |",
        "",
        f"Assignment + visits + presence: {_fmt(t['assign_visits_presence_s'])} s = {_fmt(t['assign_visits_presence_pings_per_s'])} pings/s. "
        f"Daily-run wall incl. start-up: {_fmt(t['daily_run_wall_s'])} s. Peak memory is the sum over every process of the tree "
        "(driver Python, JVM, Python UDF workers), sampled every "
        f"{result.get('interval', 0.5)} s, as PSS (each page shared between processes, e.g. forked Python workers or a "
        "process the JVM is spawning, counted once: the memory the tree really holds); the RSS sum counts shared pages "
        "once per process and so over-states it. 'other CPU' is the share of the machine's "
        "CPU used by processes outside this benchmark during the stage (contention); 'CPU s' is the CPU time of this "
        "benchmark's own process tree, which contention changes much less than wall time.",
        "",
        "## Targets",
        "",
        "| target | value | target | met | fraction of target |",
        "|---|---:|---:|---|---:|",
    ]
    for name, v in result["verdicts"].items():
        lines.append(f"| {name} | {_fmt(v['value'], 2)} | {_fmt(v['target'])} | {'yes' if v['met'] else 'NO'} | {_fmt(v.get('fraction_of_target'), 2)} |")
    if "backfill" in st:
        b = st["backfill"]
        lines += ["", f"## Backfill: {len(b['chunks'])} chunks of {b['chunk_days']} day(s), one command", "",
                  "Each chunk ingests its dates; visits and presence rebuild from the day before the chunk (as the "
                  "daily run rebuilds D-1). Seconds per stage as the runner logged them.", "",
                  "| chunk | ingest dates | pings | ingest s | visits s | presence s | chunk s | pings/s |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for c in b["chunks"]:
            total = sum(c["seconds"].values())
            lines.append(f"| {c['index']}{' (earlier run)' if c.get('from_checkpoint') else ''} | {c['dates'][0]}..{c['dates'][1]} | {c['pings']:,} | "
                         + " | ".join(_fmt(c['seconds'].get(x)) for x in PIPELINE)
                         + f" | {_fmt(total)} | {_fmt(round(c['pings'] / total) if total else None)} |")
    lines += ["", *[f"_{n}_" for n in result["notes"]], "", "## Slowest steps", "", "| stage | step | seconds |", "|---|---|---:|"]
    for s in sorted(result["steps"], key=lambda s: -s["seconds"])[:15]:
        lines.append(f"| {s['stage']} | {s['step']} | {s['seconds']} |")
    if "ingest" in st:
        lines += ["", "## Ingest by source", "", "| source | status | read | accepted | quarantined | seconds |", "|---|---|---:|---:|---:|---:|"]
    for src, r in st.get("ingest", {}).get("sources", {}).items():
        lines.append(f"| {src} | {r['status']} | {r['read']:,} | {r['accepted']:,} | {r['quarantined']:,} | {r['seconds']} |")
    lines += ["", "## Slowest SQL executions per stage (final physical plans)", ""]
    for name in (*STAGES, "backfill"):
        if name in st:
            for e in st[name]["plans"]["slowest"]:
                facts = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("description", "seconds"))
                lines.append(f"- {name}: {_fmt(e['seconds'])} s `{e['description']}` {facts}")
    return "\n".join(lines) + "\n"


def summary(out: Path) -> str:
    rows = []
    for path in sorted(out.glob("bench-*.json")):
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    rows.sort(key=lambda r: r["totals"]["pings"])
    lines = ["# Benchmark summary", "", "| size | pings | days | start-up s | ingest s | assignment s* | visits s | presence s | "
             "pipeline s | pipeline CPU s | pipeline pings/s | assign+visits+presence pings/s | peak memory GiB (PSS) | peak RSS sum GiB | other CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        st, t = r["stages"], r["totals"]
        summed = st.get("backfill", {}).get("stage_seconds", {})      # a backfill: each stage summed over its chunks
        w = lambda s: _fmt(st[s]["wall_s"]) if s in st else _fmt(summed.get(s))  # noqa: E731
        lines.append(f"| {r['label']} | {t['pings']:,} | {r['world'].get('days', r['world']['plan']['days'])} | {r['startup_s']} | {w('ingest')} | {w('assignment')} | "
                     f"{w('visits')} | {w('presence')} | {_fmt(t['pipeline_s'])} | {_fmt(t.get('pipeline_cpu_s'))} | {_fmt(t['pipeline_pings_per_s'])} | "
                     f"{_fmt(t['assign_visits_presence_pings_per_s'])} | {_fmt(t['peak_tree_pss_gib'], 2)} | "
                     f"{_fmt(t['peak_tree_rss_gib'], 2)} | {t['other_cpu_share']:.0%} |")
    lines += ["", "*standalone measurement of the area assignment, which also runs inside visits; not added to the pipeline."]
    by_size = {r["totals"]["pings"]: r for r in rows if "backfill" not in r["stages"]}   # whole-window runs only
    small = [r for n, r in by_size.items() if 4_500_000 <= n <= 5_500_000]
    large = [r for n, r in by_size.items() if n >= 45_000_000]
    if small and large:
        ratio = large[-1]["totals"]["pipeline_s"] / small[-1]["totals"]["pipeline_s"]
        lines += ["", f"time({large[-1]['label']}) / time({small[-1]['label']}) = {ratio:.2f} (target <= {TARGETS['scaling_50m_over_5m']:g})"]
    return "\n".join(lines) + "\n"


def write_outputs(result: dict, out: Path) -> None:
    stem = out / f"bench-{result['label']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    (out / "summary.md").write_text(summary(out))
    log.info("wrote %s.json / .md and %s", stem, out / "summary.md")


def rerender(out: Path) -> None:
    """Recompute totals / verdicts and rewrite every result's markdown and the summary (after a report change)."""
    for path in sorted(out.glob("bench-*.json")):
        result = json.loads(path.read_text())
        result["notes"] = [n for n in result.get("notes", []) if not n.startswith("Targets are set")]
        finish(result)
        write_outputs(result, out)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--rerender":
        logging.basicConfig(level=logging.INFO)
        rerender(Path(sys.argv[2] if len(sys.argv) > 2 else "bench/results"))
        return 0
    parser = argparse.ArgumentParser(prog="impact.bench.run", description="Benchmark every stage on local Spark.")
    parser.add_argument("--pings", type=int, required=True, help="about how many pings (e.g. 1000000, 50000000)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for the JSON / markdown results")
    parser.add_argument("--work", type=Path, default=Path(".cache/bench"), help="folder for generated raw worlds and warehouses")
    parser.add_argument("--conf", default=str(ROOT / "conf" / "local.yaml"), help="environment config")
    parser.add_argument("--master", help="override spark.master (e.g. local[2])")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark setting for the session (repeatable), e.g. spark.sql.shuffle.partitions=16")
    parser.add_argument("--label", help="result name (default: the size, e.g. 10M)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--gen-workers", type=int, default=2, help="generator processes")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the raw world even if it exists")
    parser.add_argument("--skip-assignment", action="store_true", help="skip the standalone assignment measurement")
    parser.add_argument("--fixed-partitions", action="store_true",
                        help="keep the profile's spark.sql.shuffle.partitions instead of sizing it from the raw input")
    parser.add_argument("--keep-warehouse", action="store_true", help="keep the warehouse after the run (default: deleted)")
    parser.add_argument("--dump-plans", action="store_true", help="write every SQL execution's physical plan under <out>/plans-<label>/")
    parser.add_argument("--interval", type=float, default=0.5, help="memory sampling interval, seconds")
    parser.add_argument("--world-days", type=int, help="days the generated world spans (default: pings / 4M, at least 1)")
    parser.add_argument("--days", type=int, help="run only the world's first DAYS days (default: all of them)")
    parser.add_argument("--resume", action="store_true",
                        help="with --chunk-days: keep the warehouse of an interrupted run of the same label and continue "
                             "its backfill from the checkpoint (finished chunks are reported from their records)")
    parser.add_argument("--chunk-days", type=int,
                        help="run ingest, visits and presence as one backfill in chunks of this many days, through the "
                             "runner's backfill (`impact backfill`), instead of each stage once over the whole window")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    result = run(args)
    if not args.keep_warehouse:
        shutil.rmtree(args.work.resolve() / f"warehouse-{result['label']}", ignore_errors=True)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
