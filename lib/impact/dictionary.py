"""Data dictionary: docs/data_dictionary.md generated from the table schemas (schemas/*.yaml).

The schemas are the single definition of every table, so the dictionary is generated from them, never
edited by hand: `python -m impact.dictionary` rewrites it, `python -m impact.dictionary --check` exits 1
when the committed file is stale (for CI). Output is deterministic (sorted, no timestamps). A table or
column without a description stops generation with an error naming it: the dictionary must be complete.
"""
from __future__ import annotations

import argparse
import difflib
import logging
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from impact.schemas import TableSchema, all_tables, parse_schema, table_schema

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("docs/data_dictionary.md")
DEFAULT_DATABASE = "impact"
GROUPS = ("Dimensions", "Facts", "Pipeline tables")


class DictionaryError(ValueError):
    """The schemas cannot make a complete dictionary (a missing description, an unknown mart table)."""


def mart_tables() -> tuple[str, ...]:
    """The tables the dashboard reads (impact.presence.pipeline.MART_TABLES)."""
    from impact.presence.pipeline import MART_TABLES

    return tuple(MART_TABLES)


def load_schemas(folder: Path | None = None) -> list[TableSchema]:
    """Every table schema, sorted by name: the installed schemas/ package, or the *.yaml files of `folder`."""
    if folder is None:
        return [table_schema(name) for name in all_tables()]
    return sorted((parse_schema(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in Path(folder).glob("*.yaml")),
                  key=lambda s: s.table)


def check_complete(schemas: Iterable[TableSchema], marts: Sequence[str] = ()) -> None:
    """Raise DictionaryError naming every table / table.column with an empty description, and every mart
    table without a schema."""
    schemas = list(schemas)
    problems: list[str] = []
    known = {s.table for s in schemas}
    problems += [f"mart table {name} has no schema in schemas/" for name in marts if name not in known]
    for schema in schemas:
        if not schema.description.strip():
            problems.append(f"{schema.table}: empty table description")
        if not schema.columns:
            problems.append(f"{schema.table}: no columns")
        problems += [f"{schema.table}.{c.name}: empty column description" for c in schema.columns
                     if not str(c.description).strip()]
        problems += [f"{schema.table}: partition column {p} is not a column" for p in schema.partition_by
                     if p not in schema.names]
    if problems:
        raise DictionaryError("data dictionary incomplete; fix schemas/*.yaml:\n  " + "\n  ".join(problems))


def _escape(text: str) -> str:
    """Description text safe inside a markdown table cell or paragraph (one line, no pipes, no HTML)."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|").replace("<", "\\<")


def _group(table: str, marts: Sequence[str]) -> str:
    if table in marts:
        return "Dimensions" if table.startswith("dim_") else "Facts"
    return "Pipeline tables"


INTRO = """\
# Data dictionary

Generated from the table schemas in `schemas/*.yaml` by `python -m impact.dictionary`: do not edit this
file by hand. Change the schema and regenerate; CI runs `python -m impact.dictionary --check`, which fails
when this file is stale.

## How to read it

- **Mart tables** (dimensions and facts) are the star schema the Qlik dashboard reads. **Pipeline
  tables** are the conformed inputs and intermediate results the marts are built from; analysts rarely
  need them.
- Every table is a Delta table, registered in the Hive metastore as `<database>.<table>` (database
  `{database}` by default, set by `database:` in the environment config) and served over HiveServer2 by
  the Spark Thrift Server (port 10000) to Qlik's Hive / Spark ODBC connector (`qlik/impact_marts.qvs`).
- Each table lists its grain (what one row is), its partition columns, then one line per column:
  name, Spark SQL type, whether it may be null (`yes` / `no`), and what it means.
- Keys: facts join to dimensions on `zone_id` (`dim_area`), `officer_posting_key` (`dim_officer`),
  `local_date` or `entry_local_date` (`dim_date`) and `hour_start_utc` (`dim_hour`);
  `fact_visit_track` joins to `fact_visit` on `visit_id`. `*_run_id` columns name the run that wrote
  the row (`run_log`); they are not keys for analysis. In the Qlik app (`qlik/impact_marts.qvs`) the keys
  keep their names and other fields are named `<table>.<column>`, so tables associate only on keys.
- Zones: each Impact or comparison area (`zone_type` `area`) has buffer rings `ring_0_250` and
  `ring_250_500` (metres from the area edge, excluding every area) for displacement and diffusion.
- Units are in the name or the description: `_s` seconds, `_minutes` minutes, `_m` metres, `_m2` square
  metres. Officer-minutes add up over officers; patrol-minutes (time with at least one officer present)
  do not.
- The demo world is synthetic. Harm weights are the Cambridge Crime Harm Index 2026 update (days of
  custody; `conf/harm_weights.csv`, see docs/presence.md), replaceable by the force's own table.

## Time conventions

- Instants are stored in **UTC** (`*_at_utc`, `hour_start_utc`); the Spark session time zone is UTC,
  so SQL clients see them as UTC wall-clock times.
- `local_*` fields (`local_date`, `local_hour`, `local_weekday`, `entry_local_date`, ...) are **derived**
  in Europe/London time: what people read. `utc_offset_hours` is 0 in GMT and 1 in BST.
- Clock changes: the March local day has 23 hours and the October one 25 (`dim_date.hours_in_day`); in
  October local hour 01 occurs twice (two UTC hours), in March it does not occur. Hourly facts are keyed
  by the UTC hour, so no hour is lost or counted twice.

## Partitions

- Event and fact tables are partitioned by a **date** column (named under each table). For pipeline
  tables and most facts this is the **UTC** date of the row's defining instant (for example
  `visit_date`, `hour_date`, `fix_date`); `fact_area_day` is partitioned by the local date and
  `fact_event` by the date the event entered the record.
- A run for dates D1..D2 rewrites exactly those partitions, so a re-run gives the same rows. Filter on
  the partition column to read only the days you need.
- Tables without partitions (dimensions, areas, zones, postings, run log) are small; the dimensions are
  rewritten whole by every presence run.
"""


def render(schemas: Iterable[TableSchema], marts: Sequence[str], database: str = DEFAULT_DATABASE) -> str:
    """The dictionary markdown: intro, contents, then marts (dimensions, facts) and pipeline tables."""
    schemas = sorted(schemas, key=lambda s: s.table)
    check_complete(schemas, marts)
    grouped = {g: [s for s in schemas if _group(s.table, marts) == g] for g in GROUPS}
    lines = [INTRO.format(database=database), "## Contents", ""]
    for group in GROUPS:
        anchor = group.lower().replace(" ", "-")
        lines.append(f"- [{group}](#{anchor}): " + ", ".join(f"[{s.table}](#{s.table})" for s in grouped[group]))
    lines.append("")
    for group in GROUPS:
        lines += [f"## {group}", ""]
        for schema in grouped[group]:
            lines += _table_section(schema, group, database)
    return "\n".join(lines).rstrip("\n") + "\n"


def _table_section(schema: TableSchema, group: str, database: str) -> list[str]:
    kind = {"Dimensions": "mart dimension", "Facts": "mart fact", "Pipeline tables": "pipeline table"}[group]
    partitions = ", ".join(f"`{p}`" for p in schema.partition_by) or "none"
    lines = [
        f"### {schema.table}",
        "",
        _escape(schema.description),
        "",
        f"- Kind: {kind}; Hive: `{database}.{schema.table}`",
        f"- Partitioned by: {partitions}",
        f"- Columns: {len(schema.columns)}",
        "",
        "| column | type | nullable | description |",
        "|---|---|---|---|",
    ]
    for c in schema.columns:
        lines.append(f"| `{c.name}` | `{c.type}` | {'yes' if c.nullable else 'no'} | {_escape(c.description)} |")
    lines.append("")
    return lines


def generate(folder: Path | None = None, marts: Sequence[str] | None = None) -> str:
    """The dictionary for the installed schemas (or those in `folder`) and the marts (default MART_TABLES)."""
    return render(load_schemas(folder), mart_tables() if marts is None else marts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impact.dictionary",
                                     description="Generate docs/data_dictionary.md from schemas/*.yaml.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the file on disk differs from what would be generated")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        text = generate()
    except DictionaryError as error:
        log.error("%s", error)
        return 2
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current == text:
            log.info("%s is up to date", args.out)
            return 0
        why = "missing" if current is None else "stale (differs from what the schemas generate)"
        diff = "" if current is None else "".join(list(difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{args.out} (on disk)", tofile=f"{args.out} (generated)", n=1))[:40])
        log.error("%s is %s: run `python -m impact.dictionary --out %s` and commit the result\n%s",
                  args.out, why, args.out, diff)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8", newline="\n")
    log.info("wrote %s (%d tables)", args.out, text.count("\n### "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
