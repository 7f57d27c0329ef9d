"""The run log (audit trail): one row per job step, appended by every job that writes tables.

Ingest writes a row per source; visits and presence a row per run (`step` = the job), so every
`*_run_id` column in a table points at a run_log row that says who ran it, on what, with what result.
"""
from __future__ import annotations

import functools
import getpass
import json
import logging
import os
import socket
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from pyspark.sql import SparkSession

from impact.config import Settings
from impact.schemas import table_schema
from impact.tables import append_table, recording_reads


log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def principal() -> str:
    """Who runs this: the Kerberos principal when a ticket cache names one (KRB5PRINCIPAL), else the OS user."""
    return os.environ.get("KRB5PRINCIPAL") or getpass.getuser()


@functools.cache
def code_version() -> str:
    """The installed package's version (`impact-presence`), or "unknown" when it is not installed."""
    try:
        from importlib.metadata import version

        return version("impact-presence")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "unknown"


def new_run_id(prefix: str) -> str:
    """`<prefix>-<UTC yyyymmddThhmmssZ>-<6 hex>`: the one run-id format of jobs, stages and the runner."""
    return f"{prefix}-{utc_now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@dataclass
class StepResult:
    """What one job step did; becomes a run-log row."""

    source: str
    table: str | None
    status: str = "ok"
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    validation_success: bool | None = None
    validation_summary: str | None = None
    output_version: int | None = None
    inputs: dict[str, int] = field(default_factory=dict)      # Delta table read -> the version read
    error: str | None = None
    started_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None


def one_line_error(error: BaseException) -> str:
    """A failure as one readable line: the exception's own message, not a JVM stack trace."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("An error occurred while calling")] or [""]
    text = lines[0].lstrip(": ")
    if "JVM stacktrace" in text:
        text = text.split("JVM stacktrace")[0].strip()
    return f"{type(error).__name__}: {text}"[:1000]


def append_run_log(spark: SparkSession, settings: Settings, job: str, run_id: str, results: list[StepResult],
                   args: list[str] | None, window: tuple[date, date] | None) -> int:
    """Append one run_log row per step; returns the run_log version."""
    def naive(t: datetime) -> datetime:
        return t.astimezone(timezone.utc).replace(tzinfo=None)

    rows = [(
        run_id, job, r.source, r.status, naive(r.started_at), naive(r.finished_at or r.started_at),
        getpass.getuser(), socket.gethostname(), json.dumps(args or []), window[0] if window else None,
        window[1] if window else None, r.files, r.table, r.output_version, r.rows_read, r.rows_accepted,
        r.rows_quarantined, r.reasons, r.validation_success, r.validation_summary, r.error,
        principal(), code_version(), r.inputs or None,
    ) for r in results]
    return append_table(spark.createDataFrame(rows, table_schema("run_log").struct()), settings, "run_log")


def logged_stage(job: str, output_table: str | None = None):
    """Decorate a window job `run(spark, settings, start, end, run_id=None, ...) -> dict` so that each run
    appends a run_log row (ok with the written row count, or failed with the error, then re-raised).
    The run id is made here when not given, so the row and the tables' `*_run_id` columns agree."""
    def wrap(run):
        @functools.wraps(run)
        def logged(spark: SparkSession, settings: Settings, start: date, end: date, run_id: str | None = None,
                   *args, **kwargs) -> dict:
            run_id = run_id or new_run_id(job)
            step = StepResult(source=job, table=output_table)
            try:
                with recording_reads() as step.inputs:
                    out = run(spark, settings, start, end, run_id, *args, **kwargs)
            except Exception as error:
                step.status, step.error = "failed", one_line_error(error)
                raise
            else:
                rows = out.get("rows") or out.get(output_table) or {}
                step.rows_accepted = int(sum(rows.values())) if isinstance(rows, dict) else int(rows or 0)
                step.output_version = out.get("version")
                return out
            finally:
                step.finished_at = utc_now()
                append_run_log(spark, settings, job, run_id, [step], sys.argv[1:], (start, end))
        return logged
    return wrap


@contextmanager
def logged_step(spark: SparkSession, settings: Settings, job: str, run_id: str, table: str | None = None,
                window: tuple[date, date] | None = None):
    """`with logged_step(...) as step:` around a step that is not a window job (register, maintain):
    one run_log row when it ends, ok with what the block put in `step`, or failed with the error (then
    re-raised). A run_log that cannot be appended is a warning, never the step's result."""
    step = StepResult(source=job, table=table)
    try:
        yield step
    except Exception as error:
        step.status, step.error = "failed", one_line_error(error)
        raise
    finally:
        step.finished_at = utc_now()
        try:
            append_run_log(spark, settings, job, run_id, [step], sys.argv[1:], window)
        except Exception as error:  # noqa: BLE001 - the step's own outcome stands
            log.warning("could not append the run_log row of %s %s: %s", job, run_id, one_line_error(error))
