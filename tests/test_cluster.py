"""A real distributed run (issue 12): the daily job on a Spark standalone cluster equals local mode, and
survives losing a worker.

A master and two workers (127.0.0.1 and 127.0.0.2, `--cores 1 --memory 1g` each, own work dir, SPARK_LOCAL_IP
and SPARK_LOCAL_DIRS under tmp_path) run as separate JVMs started with the pip wheel's `spark-class`, each
in its own process group (torn down with SIGKILL to the group by a finalizer, even on failure); the test
waits on the master's /json for two ALIVE workers. `impact run --date 2026-03-20` is submitted with
`spark-submit --master spark://127.0.0.1:<port>` (client mode, 1g executors, spark.cores.max=2); the
reference is the same day in local mode, run afterwards in the test session (local[2]). Once ingest is done and the
visits stage has started, both workers' executors must have finished tasks of the job (it runs on the
cluster, not inside the driver); then the worker JVM on 127.0.0.2 is SIGKILLed while its executor is running
a task (the master is told nothing). The run must end with exit code 0, the driver must have lost that
executor, every task the driver lost with it (its "Lost task" warnings) must have been run again on the
other worker, and every Delta table must equal the local reference's. The victim's own log cannot tell which
tasks were lost: its stderr reaches the file through the worker JVM, so lines written around the kill are
lost with it (a CI run failed on a task the log showed unfinished, which had reached the driver as
finished). Usually the driver loses no running task at all: the executor finishes the task in hand
before it notices its worker is gone; what the run loses is the executor, its shuffle files and cached
blocks, which the rest of the job recomputes on the survivor. (Until the ninth round of issue 11 a clean
cluster run and the run with a worker killed were two submissions, 608 + 423 s in a suite run; the one
took 737 s in the next, on a machine slower that day.)

Artifacts: the application is `deploy/impact_main.py` (the `impact` command as a file), the jars are the
verified cache `.cache/jars` (`--jars`), the code is the project wheel (conftest's `build_wheel`:
`pip wheel --no-deps` from a copy of the sources under tmp_path, about 3 s) shipped with `--py-files`, and the interpreter of the driver and
the executors is the project venv's python (`spark.pyspark.python`: the workers are on this machine),
which provides the compiled dependencies. Not the venv-pack archive of `deploy/package.sh`: that took
59 s here with a warm pip cache (a fresh venv, a pip install of every dependency, a 278 MB tar.gz that
every executor would unpack again), writes dist/ and build/ into the checkout and needs venv-pack, which
the project venv does not have. The wheel is shipped renamed to `.zip`: pyspark puts `spark.submit.pyFiles`
on the executors' Python path only for .zip/.egg/.jar names (pyspark/context.py PACKAGE_EXTENSIONS), so
a `.whl` would reach the driver only and the executors would silently import the checkout through the
venv's editable install; on sys.path the zip comes before that finder, on the driver and the executors.

The configs are conf/local.yaml with absolute paths and shuffle partitions 2, beside copies of the job
files it names (marts.yaml, visits.yaml, ...): the local reference reads its paths from one that says
`spark.master: local[2]` (its session is the test session's, so its Spark settings are those); the cluster
runs' keeps the shipped `local[*]`, and spark-submit's `--master` must win over it (the session factory
once set the config's master on the builder, so such a submission silently ran inside the driver; the
executor logs on both workers show it no longer does; tests/test_session_submit.py checks it in local
mode). The reference registers its tables in a database of its own (`impact_cluster_reference`) in the
test session's metastore. Raw root: a demo world of 8 officers on 2026-03-20 (seed 3: it has
a stop search that day; on a fresh warehouse the presence stage failed without a stop_searches table,
now read as no events).
Both warehouses, and the cluster run's embedded Derby metastore (<warehouse>/_metastore), are under
tmp_path. Stages: ingest, visits, presence, register: the analysis needs weeks of data (on this one-day world it aborts
the driver with a Rust panic in pyfixest, seen before the models' identification check covered separated
periods; not re-run since). Great Expectations is off (its gate has its own tests), as in
tests/test_runner.py; every other step is the production code path. Tables are compared with
test_runner's `assert_tables_equal` (multisets of rows without run-id columns and quarantine times,
doubles rounded to 6 places); run_log rows carry run ids and wall-clock times, so they are compared by
step, status, window, output table and row counts.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import date
from pathlib import Path

import pyspark
import pytest
import yaml
from pyspark.sql import functions as F

from conftest import build_wheel
from impact.ops import deltalog
from impact.ops.plan import daily_plan
from impact.runner import execute_stages
from test_runner import _snapshot, assert_tables_equal

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SPARK_HOME = Path(pyspark.__file__).resolve().parent          # the pip wheel: bin/spark-class, bin/spark-submit
DAY = date(2026, 3, 20)
STAGES = "ingest,visits,presence,register"
HOSTS = ("127.0.0.1", "127.0.0.2")
JOB_TIMEOUT_S = 900
REFERENCE_DATABASE = "impact_cluster_reference"   # the local reference's tables, in the test session's metastore


# ------------------------------------------------------------------ helpers

def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no log)"]
    return f"--- {path} (last {lines} lines)\n" + "\n".join(text[-lines:])


def _env(local_ip: str, local_dirs: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("IMPACT_CONF", "PYSPARK_DRIVER_PYTHON", "PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR")
           and not k.startswith("PYSPARK_GATEWAY")}
    local_dirs.mkdir(parents=True, exist_ok=True)
    env.update(SPARK_HOME=str(SPARK_HOME), SPARK_LOCAL_IP=local_ip, SPARK_LOCAL_DIRS=str(local_dirs),
               PYSPARK_PYTHON=str(PYTHON))
    return env


def _start(cmd: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """A process in its own session (process group = its pid), stdout and stderr to `log`."""
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)      # the JVM and whatever it started (executors, Python workers)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def _group(pgid: int) -> list[str]:
    """Command lines of the live processes of a process group."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                out.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        except (OSError, IndexError, ValueError):
            pass
    return out


def _wait(proc: subprocess.Popen, log: Path, what: str, timeout: float = JOB_TIMEOUT_S) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc)
        pytest.fail(f"{what} did not finish in {timeout:.0f} s\n{_tail(log, 80)}")


class Cluster:
    """A standalone master and two workers (separate JVMs, own process groups) on loopback."""

    def __init__(self, base: Path):
        self.base = base
        self.port, self.ui_port = _free_port(), _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.work_dirs: dict[str, Path] = {}
        self.others: list[subprocess.Popen] = []          # drivers: killed at teardown if still running
        self._ready = False

    def _launch(self, name: str, local_ip: str, args: list[str]) -> None:
        folder = self.base / name
        self.logs[name] = folder / f"{name}.log"
        folder.mkdir(parents=True, exist_ok=True)
        self.procs[name] = _start([str(SPARK_HOME / "bin" / "spark-class"), *args], self.logs[name],
                                  _env(local_ip, folder / "local"), folder)

    def start(self) -> None:
        self._launch("master", "127.0.0.1", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                              "--port", str(self.port), "--webui-port", str(self.ui_port)])
        for n, host in enumerate(HOSTS, 1):
            name = f"worker{n}"
            self.work_dirs[name] = self.base / name / "work"
            self._launch(name, host, ["org.apache.spark.deploy.worker.Worker", self.url, "--host", host,
                                      "--cores", "1", "--memory", "1g", "--work-dir", str(self.work_dirs[name]),
                                      "--webui-port", str(_free_port(host))])

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as answer:
            return json.load(answer)

    def alive_workers(self) -> list[dict]:
        try:
            return [w for w in self.state()["workers"] if w["state"] == "ALIVE"]
        except OSError:
            return []

    def wait_for_workers(self, count: int = 2, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alive_workers()) >= count:
                return
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                break
            time.sleep(0.5)
        pytest.fail(f"the standalone cluster did not come up with {count} ALIVE workers in {timeout:.0f} s "
                    f"(exited: {[n for n, p in self.procs.items() if p.poll() is not None]}; alive: "
                    f"{[w['host'] for w in self.alive_workers()]})\n" + self.tails())

    def tails(self, lines: int = 40) -> str:
        return "\n".join(_tail(log, lines) for log in self.logs.values())

    def app_ids(self) -> set[str]:
        state = self.state()
        return {a["id"] for a in state["activeapps"] + state["completedapps"]}

    def ready(self) -> "Cluster":
        if not self._ready:
            self.wait_for_workers(2)
            for name, proc in self.procs.items():       # spark-class execs java: the pid is the JVM's
                exe = os.readlink(f"/proc/{proc.pid}/exe")
                assert Path(exe).name == "java", f"{name} pid {proc.pid} is {exe}, not the JVM"
            self._ready = True
        return self

    def stop(self) -> None:
        for proc in [*self.others, *self.procs.values()]:
            _killpg(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    """The cluster's processes, started; `ready()` waits for both workers (start-up overlaps the world
    and the wheel)."""
    for host in HOSTS:
        try:
            _free_port(host)
        except OSError as error:
            pytest.skip(f"cannot bind {host} on this machine ({error}): the two-worker cluster needs it")
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    request.addfinalizer(cluster.stop)                   # registered first: teardown even if start-up fails
    cluster.start()
    return cluster


@pytest.fixture(scope="module")
def env(tmp_path_factory, generate_world, cluster):
    """The demo world, the wheel, the jars and the two configs (local mode and the cluster)."""
    base = tmp_path_factory.mktemp("cluster_env")
    raw = generate_world(base / "raw", seed=3, officers=8, start=DAY, days=1)
    assert (raw / "stop_search" / f"searches_{DAY:%Y%m%d}.csv").is_file(), \
        "the demo world has no stop search on the day: the presence stage needs a stop_searches table"
    wheel = build_wheel(base / "wheel")                  # from a copy of the sources: pip builds in-tree
    code = wheel.with_name(wheel.name[:-len(".whl")] + ".zip")
    shutil.copy2(wheel, code)
    jars = sorted(str(p) for p in (ROOT / ".cache" / "jars").glob("*.jar"))
    assert len(jars) == 4, f"expected the 4 pinned jars in .cache/jars (make jars): {jars}"
    # configs: conf/local.yaml with absolute paths and small-run settings, the job files beside it
    conf = base / "conf"
    conf.mkdir()
    for extra in ROOT.joinpath("conf").iterdir():
        if extra.suffix in (".yaml", ".csv", ".lock") and extra.name not in ("local.yaml", "cluster.yaml"):
            shutil.copy2(extra, conf / extra.name)
    local = yaml.safe_load((ROOT / "conf" / "local.yaml").read_text())
    local["paths"].update(raw_root=str(raw), warehouse=str(base / "unused-wh"),
                          jars_dir=str(ROOT / ".cache" / "jars"), jars_lock=str(ROOT / "conf" / "jars.lock"))
    local["spark"]["conf"].update({"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                                   "spark.driver.memory": "2g"})
    confs = {}
    assert local["spark"]["master"] == "local[*]"
    for name, master in (("local", "local[2]"), ("cluster", local["spark"]["master"])):   # cluster: --master wins
        derived = json.loads(json.dumps(local))
        derived["spark"]["master"] = master
        confs[name] = conf / f"{name}-test.yaml"
        confs[name].write_text(yaml.safe_dump(derived, sort_keys=False))
    return {"base": base, "raw": raw, "code": code, "jars": jars, "confs": confs}


def _job_args(warehouse: Path, run_id: str) -> list[str]:
    return ["run", "--date", DAY.isoformat(), "--stages", STAGES, "--warehouse", str(warehouse),
            "--run-id", run_id, "--no-validate"]


def _local_reference(spark, env: dict) -> Path:
    """The same day in local mode: the daily plan in this test session (local[2], a warm JVM), with the
    local config's paths, registered in a database of its own in the session's metastore. Until the
    thirteenth round of issue 11 this was `impact_main.py run` in a seventh JVM, cold, beside the cluster's
    six (docs/performance.md)."""
    from impact.config import load_settings

    warehouse = env["base"] / "wh-local"
    settings = load_settings(env["confs"]["local"]).with_overrides(warehouse=str(warehouse), database=REFERENCE_DATABASE)
    settings = settings.without_great_expectations()   # --no-validate
    results = execute_stages(spark, settings, daily_plan(DAY, tuple(STAGES.split(","))), "local")
    assert [r.stage for r in results] == STAGES.split(",") and all(r.status == "ok" for r in results), \
        [(r.stage, r.status) for r in results]
    return warehouse


def _submit(cluster: Cluster, env: dict, warehouse: Path, run_id: str) -> tuple[subprocess.Popen, Path]:
    cwd = env["base"] / f"driver-{run_id}"
    log = env["base"] / f"{run_id}.log"
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", cluster.url, "--deploy-mode", "client",
           "--jars", ",".join(env["jars"]), "--py-files", str(env["code"]),
           "--driver-memory", "1g", "--executor-memory", "1g", "--executor-cores", "1",
           "--conf", "spark.cores.max=2", "--conf", f"spark.pyspark.python={PYTHON}",
           "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
           str(ROOT / "deploy" / "impact_main.py"), *_job_args(warehouse, run_id), "--conf", str(env["confs"]["cluster"])]
    proc = _start(cmd, log, _env("127.0.0.1", cwd / "local"), cwd)
    cluster.others.append(proc)
    return proc, log


def _run_log(spark, warehouse: Path) -> list[tuple]:
    rows = spark.read.format("delta").load(str(warehouse / "run_log"))
    return sorted(tuple(r) for r in rows.select("job", "step", "status", "window_start", "window_end", "output_table",
                                                "rows_read", "rows_accepted", "rows_quarantined").collect())


def _assert_same_as_local(spark, local_wh: Path, cluster_wh: Path, run_id: str) -> list[str]:
    expected = _snapshot(spark, str(local_wh))
    assert set(deltalog.table_folders(spark, str(cluster_wh))) == set(expected)
    compared = assert_tables_equal(spark, expected, str(cluster_wh))
    assert {"pings", "quarantine", "visits", "area_zones", "dim_area", "fact_visit", "fact_presence_hour",
            "fact_area_day", "fact_event"} <= set(compared), compared
    assert _run_log(spark, cluster_wh) == _run_log(spark, local_wh)
    summary = json.loads((cluster_wh / "_ops" / "runs" / f"{run_id}.json").read_text())
    assert summary["status"] == "ok" and summary["exit_code"] == 0
    assert [s["stage"] for s in summary["stages"]] == STAGES.split(",")
    return compared


TASK = re.compile(r"(Running|Finished) task (\d+)\.\d+ in stage (\d+)\.(\d+) \(TID (\d+)\)")
# the driver's record of a task it lost with an executor (TaskSetManager, WARN): the executor's own log
# cannot say, for its stderr reaches the file through its worker's JVM, so the lines it wrote around the
# kill are lost with the worker, and a task it finished then may still have reached the driver
LOST = re.compile(r"Lost task (\d+)\.\d+ in stage (\d+)\.(\d+) \(TID \d+\) \(([\d.]+) executor \d+\)")


def _executor_log(cluster: Cluster, worker: str, app_id: str) -> str:
    """The stderr of the application's executor(s) on a worker ("Running task ..." lines, INFO)."""
    return "".join(p.read_text(errors="replace") for p in sorted((cluster.work_dirs[worker] / app_id).glob("*/stderr")))


def _tasks_in_flight(executor_log: str) -> dict[str, tuple[str, str]]:
    """TID -> (partition index, stage id) of the tasks an executor's log shows started and not finished."""
    running, finished = {}, set()
    for what, index, stage, _, tid in TASK.findall(executor_log):
        if what == "Running":
            running[tid] = (index, stage)
        else:
            finished.add(tid)
    return {tid: task for tid, task in running.items() if tid not in finished}


def _finished(executor_log: str) -> set[tuple[str, str, str]]:
    """(partition index, stage id, stage attempt) of the tasks an executor's log shows finished."""
    return {(index, stage, attempt) for what, index, stage, attempt, _ in TASK.findall(executor_log) if what == "Finished"}


def _app(cluster: Cluster, before: set[str]) -> dict:
    state = cluster.state()
    apps = [a for a in state["activeapps"] + state["completedapps"] if a["id"] not in before]
    assert len(apps) == 1, f"expected one new application on the master, got {apps}"
    return apps[0]


# ------------------------------------------------------------------ tests

def test_daily_job_on_a_standalone_cluster_equals_local_mode_and_survives_losing_a_worker(cluster, env, spark):
    """One submission (two took 608 + 423 s of a suite run, D21): both workers' executors finish
    tasks (it runs on the cluster, not inside the driver); then the worker JVM on 127.0.0.2 is SIGKILLed
    while its executor runs a task of the visits stage (after ingest); the job ends 0 and equal to local mode."""
    cluster.ready()
    assert len(cluster.alive_workers()) == 2, "both workers must be up before the submission"
    before = cluster.app_ids()
    warehouse = env["base"] / "wh-cluster"
    proc, log = _submit(cluster, env, warehouse, "cluster")
    victim, survivor = "worker2", "worker1"
    # wait until ingest is done and visits has started (the victim's executor has run tasks, holds blocks
    # and shuffle files), then for a task in flight on it
    deadline, started, app_id, in_flight = time.monotonic() + 600, None, None, {}
    while time.monotonic() < deadline and proc.poll() is None:
        if app_id is None:
            apps = [a["id"] for a in cluster.state()["activeapps"] if a["id"] not in before]
            app_id = apps[0] if apps else None
        if started is None and re.search(r"stage visits \S+: started", log.read_text(errors="replace")):
            started = time.monotonic()
        if started is not None and app_id is not None:
            in_flight = _tasks_in_flight(_executor_log(cluster, victim, app_id))
            if in_flight or time.monotonic() - started > 60:
                break
        time.sleep(0.02 if started else 0.5)
    assert started is not None and app_id is not None, \
        f"the run never reached the visits stage (driver exit {proc.poll()})\n{_tail(log, 80)}\n{cluster.tails(20)}"
    assert proc.poll() is None, f"the job finished before the kill\n{_tail(log, 40)}"
    # it ran on the cluster (not inside the driver): each worker's executor had finished tasks of the job
    for worker in cluster.work_dirs:
        assert _finished(_executor_log(cluster, worker, app_id)), f"no task of {app_id} finished on {worker}"
    worker = cluster.procs[victim]
    assert Path(os.readlink(f"/proc/{worker.pid}/exe")).name == "java"
    survivor_offset = len(_executor_log(cluster, survivor, app_id))
    os.kill(worker.pid, signal.SIGKILL)                  # the worker JVM only; the master is told nothing
    worker.wait(timeout=30)
    code = _wait(proc, log, "the cluster run with a worker killed")
    assert code == 0, f"the run with a worker killed exited {code}\n{_tail(log, 120)}\n{cluster.tails(20)}"
    app = _app(cluster, before)
    assert app["id"] == app_id and app["state"] == "FINISHED", app
    assert [w["host"] for w in cluster.alive_workers()] == [HOSTS[0]]     # the master noticed by itself
    assert cluster.procs[survivor].poll() is None
    assert not _group(worker.pid), f"processes of the killed worker still running: {_group(worker.pid)}"
    assert re.search(rf"Lost executor \d+ on {re.escape(HOSTS[1])}: worker lost", log.read_text(errors="replace")), \
        _tail(log, 80)
    # the rest of the job ran on the survivor
    after = _finished(_executor_log(cluster, survivor, app_id)[survivor_offset:])
    assert after, f"no task finished on {survivor} after the kill"
    # every task the driver lost with the victim ran again on the survivor: the same task of the same stage
    # attempt, or (when the loss made the stage be submitted again) a later attempt of that stage ran there
    lost = {(index, stage, attempt) for index, stage, attempt, host in LOST.findall(log.read_text(errors="replace"))
            if host == HOSTS[1]}
    not_rerun = {(index, stage, attempt) for index, stage, attempt in lost
                 if (index, stage, attempt) not in after and not any(s == stage and int(a) > int(attempt) for _, s, a in after)}
    assert not not_rerun, (sorted(not_rerun), sorted(after))
    print(f"killed {victim} with task(s) {sorted(in_flight)} in flight by its log; the driver lost {len(lost)} "
          f"task(s), all run again on {survivor}; {len(after)} tasks finished on {survivor} after the kill")
    local_wh = _local_reference(spark, env)
    pings = spark.read.format("delta").load(str(warehouse / "pings"))
    assert pings.where(F.col("fix_date") == DAY).count() > 0
    _assert_same_as_local(spark, local_wh, warehouse, "cluster")
