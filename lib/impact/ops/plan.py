"""What a run does, before Spark starts: the stage order, each stage's UTC date window, backfill chunks.

Pure functions (no Spark, no I/O) so the command line can check its arguments and print its plan fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# The pipeline's order. `analysis` runs only where `impact.analysis.pipeline` is installed; `register`
# (metastore registration of every warehouse table) only where the profile enables the metastore.
STAGE_ORDER: tuple[str, ...] = ("ingest", "visits", "presence", "analysis", "register")
# Stages that own date partitions (the others are window-free)
WINDOWED = ("ingest", "visits", "presence", "analysis")


class PlanError(ValueError):
    """The requested run is not possible (unknown stage, dates out of order, ...): exit code 2."""


@dataclass(frozen=True)
class StageRun:
    """One stage over one UTC date window (inclusive); window is None for window-free stages."""

    stage: str
    window: tuple[date, date] | None


def parse_stages(text: str | None, available: tuple[str, ...] = STAGE_ORDER) -> tuple[str, ...]:
    """`visits,presence` -> the stages in pipeline order (the order given on the command line is ignored)."""
    if not text:
        return tuple(available)
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STAGE_ORDER))
    if unknown:
        raise PlanError(f"unknown stage(s) {', '.join(unknown)}; the stages are {', '.join(STAGE_ORDER)}")
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise PlanError(f"stage(s) {', '.join(missing)} not available in this installation "
                        f"(available: {', '.join(available)})")
    if not wanted:
        raise PlanError("--stages names no stage")
    return tuple(s for s in STAGE_ORDER if s in wanted)


def daily_plan(day: date, stages: tuple[str, ...], lookback_days: int = 1, analysis_days: int = 84) -> list[StageRun]:
    """The daily run for UTC date D: ingest D, then visits / presence for D-lookback..D (yesterday is
    rebuilt once today's pings have landed: visits crossing midnight, late events), the analysis over the
    trailing `analysis_days` dates ending D, then registration."""
    runs = []
    for stage in stages:
        if stage == "ingest":
            runs.append(StageRun(stage, (day, day)))
        elif stage == "analysis":
            runs.append(StageRun(stage, (day - timedelta(days=analysis_days - 1), day)))
        elif stage in WINDOWED:
            runs.append(StageRun(stage, (day - timedelta(days=lookback_days), day)))
        else:
            runs.append(StageRun(stage, None))
    return runs


def range_plan(start: date, end: date, stages: tuple[str, ...]) -> list[StageRun]:
    """Every stage over the same window start..end (an explicit range run)."""
    check_range(start, end)
    return [StageRun(s, (start, end) if s in WINDOWED else None) for s in stages]


def check_range(start: date, end: date) -> None:
    if end < start:
        raise PlanError(f"--end-date {end} is before --start-date {start}")


@dataclass(frozen=True)
class Chunk:
    """One backfill chunk: the dates it ingests (`first..last`) and the window its later stages rebuild."""

    index: int
    first: date
    last: date
    rebuild_from: date           # first date visits/presence rewrite: the previous chunk's last day, or first

    @property
    def key(self) -> str:
        return f"{self.first.isoformat()}_{self.last.isoformat()}"

    @property
    def days(self) -> int:
        """How many dates the chunk ingests."""
        return (self.last - self.first).days + 1


def chunk_progress(chunks: list[Chunk], done_keys: set[str], run_seconds: float, run_days: int) -> str:
    """One line of backfill progress: chunks and dates done, and the time left at this run's pace
    (`run_seconds` spent on the `run_days` dates this run has processed itself; chunks an earlier run did
    are counted as done but not in the pace)."""
    total = sum(c.days for c in chunks)
    finished = [c for c in chunks if c.key in done_keys]
    left = total - sum(c.days for c in finished)
    line = f"{len(finished)} of {len(chunks)} chunks done ({total - left} of {total} dates)"
    if left and run_days > 0 and run_seconds > 0:
        pace = run_seconds / run_days
        return line + f"; about {pace * left:,.0f} s left at this run's pace ({pace:,.0f} s a date)"
    return line


def backfill_chunks(start: date, end: date, chunk_days: int) -> list[Chunk]:
    """Split start..end into chunks of `chunk_days` dates. Each chunk after the first also rebuilds the
    previous chunk's last day (as the daily run rebuilds D-1), so a visit crossing a chunk boundary is
    built whole; the first chunk never touches a date before `start`."""
    check_range(start, end)
    if chunk_days < 1:
        raise PlanError(f"--chunk-days must be at least 1 (got {chunk_days})")
    chunks = []
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=chunk_days - 1))
        rebuild = first if first == start else first - timedelta(days=1)
        chunks.append(Chunk(len(chunks) + 1, first, last, rebuild))
        first = last + timedelta(days=1)
    return chunks


def chunk_plan(chunk: Chunk, stages: tuple[str, ...]) -> list[StageRun]:
    """The stage runs of one backfill chunk (window-free stages run once at the end, not per chunk)."""
    runs = []
    for stage in stages:
        if stage == "ingest":
            runs.append(StageRun(stage, (chunk.first, chunk.last)))
        elif stage in WINDOWED and stage != "analysis":
            runs.append(StageRun(stage, (chunk.rebuild_from, chunk.last)))
    return runs


def final_plan(start: date, end: date, stages: tuple[str, ...]) -> list[StageRun]:
    """After every chunk: the analysis over the whole range, then registration."""
    return [StageRun(s, (start, end) if s == "analysis" else None) for s in stages if s in ("analysis", "register")]
