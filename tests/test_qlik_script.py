"""qlik/impact_marts.qvs loads exactly the mart tables, with the schemas' columns, into a loop-free model.

A schema change (a renamed or dropped column) fails here rather than in the dashboard's nightly reload.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from impact.presence.pipeline import MART_TABLES
from impact.schemas import table_schema

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "qlik" / "impact_marts.qvs"

# Fields that associate tables in the Qlik model, and the tables that share each.
FACTS_ON_LINK = {"fact_visit", "fact_presence_hour", "fact_presence_hour_unit", "fact_event", "fact_area_day"}
EXPECTED_KEYS = {
    "zone_id": {"dim_area", "LinkZoneTime"},
    "local_date": {"dim_date", "LinkZoneTime"},
    "%hour_key": {"dim_hour", "LinkZoneTime"},
    "%zone_time_key": {"LinkZoneTime", *FACTS_ON_LINK},
    "officer_posting_key": {"dim_officer", "fact_visit"},
    "visit_id": {"fact_visit", "fact_visit_track"},
}
# Unqualified selection fields that live in one table only.
PLAIN_FIELDS = {"dim_area": {"area_id"}, "dim_officer": {"collar_number"}}


def strip_comments(text: str) -> str:
    """Remove /* */ blocks and // line comments (the script has no // inside strings)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes, brackets and parentheses."""
    parts, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def output_name(field: str) -> str:
    """The name a LOAD field gets: its alias after a top-level AS, else the field itself."""
    words = re.split(r"\s+AS\s+", field, flags=re.I)
    return words[-1].strip().strip("[]") if len(words) > 1 else field.strip().strip("[]")


@pytest.fixture(scope="module")
def statements() -> list[str]:
    return split_top_level(strip_comments(SCRIPT.read_text(encoding="utf-8")), ";")


@pytest.fixture(scope="module")
def sql_selects(statements) -> dict[str, dict]:
    """Table -> {columns, where, load (the preceding LOAD statement)} for every SQL SELECT."""
    found: dict[str, dict] = {}
    for i, statement in enumerate(statements):
        match = re.fullmatch(r"SQL\s+SELECT\s+(.*?)\s+FROM\s+(\S+)(?:\s+WHERE\s+(.*))?", statement, flags=re.S | re.I)
        if not match:
            assert not re.match(r"SQL\b", statement, flags=re.I), f"unparsed SQL statement: {statement[:80]}"
            continue
        source = match.group(2)
        assert source.startswith("$(vDatabase)."), f"SQL must read FROM $(vDatabase).<table>: {source}"
        table = source.split(".", 1)[1]
        assert table not in found, f"{table} loaded twice"
        found[table] = {"columns": [c.strip("`") for c in split_top_level(match.group(1), ",")],
                        "where": match.group(3), "load": statements[i - 1]}
    return found


@pytest.fixture(scope="module")
def model(statements) -> dict[str, list[str]]:
    """Qlik table label -> output field names of its LOAD statements."""
    tables: dict[str, list[str]] = defaultdict(list)
    for statement in statements:
        match = re.search(r"\[?(\w+)\]?\s*:\s*LOAD\s+(?:DISTINCT\s+)?(.*?)(?:\s+RESIDENT\s+.*)?$", statement,
                          flags=re.S | re.I)
        if match:
            fields = [output_name(f) for f in split_top_level(match.group(2), ",")]
            assert len(fields) == len(set(fields)), f"{match.group(1)}: a field is loaded twice"
            tables[match.group(1)] = sorted(set(tables[match.group(1)]) | set(fields))
    return dict(tables)


def test_connection_and_database_variable():
    text = strip_comments(SCRIPT.read_text(encoding="utf-8"))
    assert re.search(r"^LIB CONNECT TO 'Impact_Hive';", text, flags=re.M)
    assert re.search(r"^SET vDatabase = 'impact';", text, flags=re.M)
    assert re.search(r"^SET vLookbackDays = \d+;", text, flags=re.M)


def test_every_sql_source_is_a_mart_and_every_mart_is_loaded(sql_selects):
    assert set(sql_selects) - set(MART_TABLES) == set(), "the script reads tables that are not marts"
    assert set(MART_TABLES) - set(sql_selects) == set(), "mart tables missing from the script"


def test_selected_columns_are_the_schema_columns(sql_selects):
    for table, select in sql_selects.items():
        schema = table_schema(table)
        unknown = [c for c in select["columns"] if c not in schema.names]
        assert not unknown, f"{table}: selected columns not in schemas/{table}.yaml: {unknown}"
        assert select["columns"] == schema.names, (
            f"{table}: SQL SELECT list differs from schemas/{table}.yaml (order and set); "
            f"missing {[c for c in schema.names if c not in select['columns']]}")


def test_each_select_has_a_labelled_preceding_load_using_every_column(sql_selects):
    for table, select in sql_selects.items():
        load = select["load"]
        assert re.match(rf"\[{table}\]\s*:\s*LOAD\b", load), f"{table}: the statement before SQL must be [{table}]: LOAD"
        body = re.sub(r"\[[^\]]*\]", "", load)                               # drop [aliases]
        unused = [c for c in select["columns"] if not re.search(rf"(?<![\w.%]){c}(?!\w)", body)]
        assert not unused, f"{table}: selected but not loaded: {unused}"


def test_lookback_filters_prune_partitions(sql_selects):
    filtered = {t: s["where"] for t, s in sql_selects.items() if s["where"]}
    assert {"fact_visit", "fact_presence_hour"} <= set(filtered)
    for table, where in filtered.items():
        partition = table_schema(table).partition_by
        assert re.fullmatch(rf"{partition[0]} >= DATE '\$\(vFromDate\)'", where.strip()), (
            f"{table}: filter on the partition column {partition} only: {where}")


def test_tables_associate_only_on_intended_keys(model):
    owners: dict[str, set[str]] = defaultdict(set)
    for table, fields in model.items():
        for field in fields:
            owners[field].add(table)
    shared = {field: tables for field, tables in owners.items() if len(tables) > 1}
    assert shared == EXPECTED_KEYS
    for table, fields in model.items():
        loose = [f for f in fields if f not in EXPECTED_KEYS and f not in PLAIN_FIELDS.get(table, set())
                 and not f.startswith(f"{table}.")]
        assert not loose, f"{table}: non-key fields must be named {table}.<column>: {loose}"


def test_model_has_no_loops(model):
    """Tables and shared fields form a forest (a loop would make Qlik loosen a table)."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    owners: dict[str, set[str]] = defaultdict(set)
    for table, fields in model.items():
        for field in fields:
            owners[field].add(table)
    for field, tables in owners.items():
        for table in sorted(tables) if len(tables) > 1 else ():
            a, b = find(f"field:{field}"), find(f"table:{table}")
            assert a != b, f"loop through {field} and {table}"
            parent[a] = b
    assert len({find(f"table:{t}") for t in model}) == 1, "the model is not one connected star"


def test_link_rows_come_from_every_fact_with_a_zone_time_key(statements, model):
    called = set(re.findall(r"CALL\s+AddLinkRows\('(\w+)'\)", ";".join(statements)))
    with_key = {t for t, fields in model.items() if "%zone_time_key" in fields} - {"LinkZoneTime"}
    assert called == with_key == FACTS_ON_LINK
