"""Table schemas: one YAML per table in schemas/ (package `impact_schemas`), used by writers, tests and docs."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType, _parse_datatype_string


class SchemaError(ValueError):
    """A DataFrame does not match its table's schema, or the schema is unknown."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class TableSchema:
    table: str
    description: str
    partition_by: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def struct(self) -> StructType:
        """Spark StructType of the table."""
        return StructType([StructField(c.name, _parse_datatype_string(c.type), c.nullable) for c in self.columns])

    def conform(self, df: DataFrame) -> DataFrame:
        """Select exactly the table's columns, cast to the table's types; fail if any is missing."""
        missing = [c for c in self.names if c not in df.columns]
        if missing:
            raise SchemaError(f"table {self.table}: missing columns {missing}; have {df.columns}")
        return df.select([F.col(c.name).cast(c.type).alias(c.name) for c in self.columns])


@lru_cache(maxsize=None)
def table_schema(table: str) -> TableSchema:
    """Load schemas/<table>.yaml."""
    try:
        text = resources.files("impact_schemas").joinpath(f"{table}.yaml").read_text()
    except FileNotFoundError as error:
        raise SchemaError(f"no schema for table {table!r} in schemas/") from error
    return parse_schema(yaml.safe_load(text))


def parse_schema(raw: dict) -> TableSchema:
    """One schema file's parsed YAML -> TableSchema (a missing description reads as empty)."""
    return TableSchema(
        table=raw["table"],
        description=raw.get("description", "") or "",
        partition_by=tuple(raw.get("partition_by") or ()),
        columns=tuple(
            Column(c["name"], c["type"], bool(c.get("nullable", True)), c.get("description", "") or "")
            for c in raw["columns"]
        ),
    )


def all_tables() -> list[str]:
    """Names of every table with a schema file, sorted."""
    return sorted(p.name[:-5] for p in resources.files("impact_schemas").iterdir() if p.name.endswith(".yaml"))
