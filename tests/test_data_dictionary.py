"""docs/data_dictionary.md is generated from schemas/*.yaml, complete and current (no Spark)."""
from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from impact import dictionary
from impact.dictionary import DictionaryError, check_complete, generate, load_schemas, main, render
from impact.presence.pipeline import MART_TABLES
from impact.schemas import all_tables, table_schema

ROOT = Path(__file__).resolve().parent.parent
DICTIONARY = ROOT / "docs" / "data_dictionary.md"


def _write_schema(folder, table="tiny", description="A tiny table.", columns=None):
    """A schema YAML shaped like schemas/*.yaml (table, description, partition_by, columns)."""
    columns = columns if columns is not None else [
        {"name": "a", "type": "string", "nullable": False, "description": "Column a."},
        {"name": "b", "type": "bigint", "nullable": True, "description": "Column b."},
    ]
    lines = [f"table: {table}", f"description: {description!r}" if description is not None else "",
             "partition_by: []", "columns:"]
    for c in columns:
        fields = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {str(v).lower()}" for k, v in c.items())
        lines.append(f"  - {{{fields}}}")
    (folder / f"{table}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """Table name -> its section of the dictionary (from its ### heading to the next heading)."""
    parts = re.split(r"^### (\S+)\n", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def _cells(row: str) -> list[str]:
    """Cells of a markdown table row, splitting on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_committed_dictionary_is_current():
    assert DICTIONARY.is_file(), "docs/data_dictionary.md missing: run `python -m impact.dictionary`"
    assert DICTIONARY.read_text(encoding="utf-8") == generate(), (
        "docs/data_dictionary.md is stale: run `python -m impact.dictionary` and commit it")


def test_every_table_and_column_appears():
    sections = _sections(DICTIONARY.read_text(encoding="utf-8"))
    assert sorted(sections) == all_tables()
    for name in all_tables():
        schema = table_schema(name)
        rows = [_cells(line) for line in sections[name].splitlines() if line.startswith("| `")]
        assert [r[0] for r in rows] == [f"`{c.name}`" for c in schema.columns], name
        for row, column in zip(rows, schema.columns):
            assert len(row) == 4, f"{name}.{column.name}: row does not have 4 cells: {row}"
            assert row[1] == f"`{column.type}`"
            assert row[2] == ("yes" if column.nullable else "no")
            assert row[3].replace("\\", "") == " ".join(column.description.split()), f"{name}.{column.name}"
        for partition in schema.partition_by:
            assert "- Partitioned by: " in sections[name] and f"`{partition}`" in sections[name]


def test_marts_come_first_grouped():
    text = DICTIONARY.read_text(encoding="utf-8")
    headings = re.findall(r"^##+ (.+)$", text, flags=re.M)
    body = headings[headings.index("Dimensions", headings.index("Contents")):]
    dims = sorted(t for t in MART_TABLES if t.startswith("dim_"))
    facts = sorted(t for t in MART_TABLES if not t.startswith("dim_"))
    pipeline = sorted(set(all_tables()) - set(MART_TABLES))
    assert body == ["Dimensions", *dims, "Facts", *facts, "Pipeline tables", *pipeline]


def test_every_mart_table_has_a_description():
    for name in MART_TABLES:
        schema = table_schema(name)
        assert schema.description.strip(), f"mart table {name} has no description"
        assert all(c.description.strip() for c in schema.columns), name


def _mismatches(text: str, folder: Path) -> list[str]:
    """Differences between a dictionary's markdown and the schema YAML files of `folder`, read with plain
    yaml (not impact.schemas): every table, and every column with its type, nullability and description."""
    sections = _sections(text)
    out = []
    for path in sorted(folder.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        table = spec["table"]
        if table not in sections:
            out.append(f"{table}: no section")
            continue
        rows = {r[0].strip("`"): r for r in (_cells(line) for line in sections[table].splitlines()
                                             if line.startswith("| `"))}
        for column in spec["columns"]:
            row = rows.pop(column["name"], None)
            want = [f"`{column['name']}`", f"`{column['type']}`", "yes" if column.get("nullable", True) else "no",
                    " ".join(str(column.get("description", "")).split())]
            if row is None:
                out.append(f"{table}.{column['name']}: missing")
            elif [*row[:3], row[3].replace("\\", "")] != want:
                out.append(f"{table}.{column['name']}: {row} != {want}")
        out += [f"{table}.{name}: not in the schema" for name in rows]
    out += [f"{name}: section without a schema" for name in
            sorted(set(sections) - {yaml.safe_load(p.read_text())["table"] for p in folder.glob("*.yaml")})]
    return out


def test_dictionary_matches_every_schema_file():
    """Parsed from the markdown against the YAML files read directly: every column, type and description."""
    assert _mismatches(DICTIONARY.read_text(encoding="utf-8"), ROOT / "schemas") == []


def test_an_altered_schema_changes_the_dictionary(tmp_path):
    """Change one type, one description, drop one column and add one: the dictionary generated from the
    altered folder differs in exactly those places, and the committed one no longer matches it."""
    import shutil

    folder = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", folder)
    spec = yaml.safe_load((folder / "visits.yaml").read_text())
    spec["columns"][0]["type"] = "bigint"
    spec["columns"][1]["description"] = "Something else."
    dropped = spec["columns"].pop(2)["name"]
    spec["columns"].append({"name": "extra_m", "type": "double", "nullable": True, "description": "Extra."})
    (folder / "visits.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    altered = generate(folder)
    assert altered != DICTIONARY.read_text(encoding="utf-8")
    assert _mismatches(altered, folder) == []
    stale = _mismatches(DICTIONARY.read_text(encoding="utf-8"), folder)
    first, second = spec["columns"][0]["name"], spec["columns"][1]["name"]
    assert sorted(m.split(":")[0] for m in stale) == sorted(
        [f"visits.{first}", f"visits.{second}", "visits.extra_m", f"visits.{dropped}"])
    assert load_schemas(folder) != load_schemas(ROOT / "schemas")


def test_output_is_deterministic():
    schemas = load_schemas()
    shuffled = schemas[:]
    random.Random(7).shuffle(shuffled)
    assert render(shuffled, list(reversed(MART_TABLES))) == render(schemas, MART_TABLES) == generate()
    assert not re.search(r"20\d\d-\d\d-\d\dT|generated (on|at)", generate(), flags=re.I)


def test_pipes_and_angle_brackets_are_escaped():
    text = generate()
    assert "Key: \\<collar_number>\\|\\<valid_from>." in text


def test_empty_column_description_raises(tmp_path):
    _write_schema(tmp_path, columns=[
        {"name": "a", "type": "string", "nullable": False, "description": "Column a."},
        {"name": "b", "type": "bigint", "nullable": True, "description": "  "},
        {"name": "c", "type": "date", "nullable": True},
    ])
    with pytest.raises(DictionaryError) as error:
        generate(tmp_path, marts=[])
    message = str(error.value)
    assert "tiny.b" in message and "tiny.c" in message and "tiny.a" not in message


def test_empty_table_description_raises(tmp_path):
    _write_schema(tmp_path, description="")
    with pytest.raises(DictionaryError, match="tiny: empty table description"):
        generate(tmp_path, marts=[])


def test_mart_without_schema_raises(tmp_path):
    _write_schema(tmp_path)
    with pytest.raises(DictionaryError, match="mart table dim_missing has no schema"):
        generate(tmp_path, marts=["dim_missing"])


def test_hand_made_schema_renders(tmp_path):
    _write_schema(tmp_path)
    _write_schema(tmp_path, table="dim_tiny", description="A tiny dimension.")
    text = generate(tmp_path, marts=["dim_tiny"])
    assert text.index("## Dimensions") < text.index("### dim_tiny") < text.index("## Pipeline tables") \
        < text.index("### tiny")
    assert "| `b` | `bigint` | yes | Column b. |" in text
    check_complete(load_schemas(tmp_path), ["dim_tiny"])


def test_cli_writes_and_checks(tmp_path, monkeypatch, caplog):
    out = tmp_path / "docs" / "data_dictionary.md"
    assert main(["--out", str(out), "--check"]) == 1                     # missing
    assert main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == generate()
    assert main(["--out", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("Area name.", "Area name!"), encoding="utf-8")
    caplog.clear()
    assert main(["--out", str(out), "--check"]) == 1                     # stale
    assert "stale" in caplog.text and "python -m impact.dictionary" in caplog.text


def test_cli_reports_incomplete_schemas(tmp_path, monkeypatch, caplog):
    _write_schema(tmp_path, columns=[{"name": "a", "type": "string", "nullable": False, "description": ""}])
    monkeypatch.setattr(dictionary, "load_schemas", lambda folder=None: load_schemas(tmp_path))
    monkeypatch.setattr(dictionary, "mart_tables", lambda: ())
    assert main(["--out", str(tmp_path / "out.md")]) == 2
    assert "tiny.a: empty column description" in caplog.text
    assert not (tmp_path / "out.md").exists()
