"""Source contracts from conf/sources.yaml: what a raw extract looks like and how it maps to a table."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impact.config import ConfigError, load_yaml
from impact.schemas import table_schema

TYPES = {"string", "int", "double", "date", "timestamp", "month", "bool"}
# Text that extracts use for "no value"; read as null in every column (so a required column is quarantined)
DEFAULT_NULL_MARKERS = ("NULL", "null", "Null", "N/A", "n/a", "#N/A", "\\N")
SUPPORTED_RULES = {
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_be_null",
    "expect_column_pair_values_a_to_be_greater_than_b",
}


@dataclass(frozen=True)
class ColumnSpec:
    raw: tuple[str, ...]            # one raw column, or several joined by a space
    name: str
    type: str
    format: str | None = None
    timezone: str | None = None
    required: bool = False
    trim: bool = False
    upper: bool = False
    value_map: dict[str, str] | None = None
    null_as: str | None = None


@dataclass(frozen=True)
class Rule:
    expectation: str
    kwargs: dict[str, Any]

    @property
    def label(self) -> str:
        cols = [self.kwargs.get(k) for k in ("column", "column_A", "column_B") if self.kwargs.get(k)]
        return f"{self.expectation}:{','.join(cols)}"


@dataclass(frozen=True)
class FileSlice:
    """The slice of the table a non-daily file declares in its name: `unit` (month) read from the first
    group of `pattern` (a regex over the file name), as local time in `timezone`."""

    pattern: str
    unit: str = "month"
    timezone: str = "UTC"


@dataclass(frozen=True)
class SourceContract:
    name: str
    table: str
    format: str
    path: str
    columns: tuple[ColumnSpec, ...]
    csv_options: dict[str, str] = field(default_factory=dict)
    source_system: str | None = None
    partition_by: str | None = None
    partition_from: tuple[str, ...] = ()
    position: dict[str, str] | None = None
    geometry: dict[str, str] | None = None
    drop: tuple[str, ...] = ()
    unknown_columns: str = "error"
    key: tuple[str, ...] = ()
    derive_key: dict[str, str] | None = None
    rules: tuple[Rule, ...] = ()
    constants: dict[str, Any] = field(default_factory=dict)
    file_slice: FileSlice | None = None

    @property
    def daily(self) -> bool:
        """A daily extract (one file per date) rather than a snapshot or a set of public files."""
        return "{date}" in self.path

    @property
    def raw_columns(self) -> list[str]:
        """Every raw column on the allow-list, in contract order, without repeats."""
        seen: list[str] = []
        for spec in self.columns:
            for raw in spec.raw:
                if raw not in seen:
                    seen.append(raw)
        return seen

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _column(source: str, raw: dict[str, Any]) -> ColumnSpec:
    for needed in ("raw", "name", "type"):
        if needed not in raw:
            raise ConfigError(f"source {source}: a column lacks '{needed}': {raw}")
    if raw["type"] not in TYPES:
        raise ConfigError(f"source {source}: column {raw['name']} has unknown type {raw['type']!r}; use one of {sorted(TYPES)}")
    if raw["type"] in {"date", "timestamp", "month"} and not raw.get("format"):
        raise ConfigError(f"source {source}: column {raw['name']} ({raw['type']}) needs a format")
    raws = raw["raw"] if isinstance(raw["raw"], list) else [raw["raw"]]
    value_map = raw.get("map")
    return ColumnSpec(
        raw=tuple(str(r) for r in raws),
        name=raw["name"],
        type=raw["type"],
        format=raw.get("format"),
        timezone=raw.get("timezone"),
        required=bool(raw.get("required", False)),
        trim=bool(raw.get("trim", False)),
        upper=bool(raw.get("upper", False)),
        value_map={str(k): str(v) for k, v in value_map.items()} if value_map else None,
        null_as=raw.get("null_as"),
    )


def _rules(source: str, raw_rules: list[dict[str, Any]] | None) -> tuple[Rule, ...]:
    rules = []
    for entry in raw_rules or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"source {source}: each rule is one `expectation_name: {{kwargs}}`, got {entry}")
        (name, kwargs), = entry.items()
        if name not in SUPPORTED_RULES:
            raise ConfigError(f"source {source}: rule {name} is not supported; supported: {sorted(SUPPORTED_RULES)}")
        rules.append(Rule(name, dict(kwargs)))
    return tuple(rules)


def _file_slice(source: str, raw: dict[str, Any] | None) -> FileSlice | None:
    if raw is None:
        return None
    unknown = set(raw) - {"pattern", "unit", "timezone"}
    if unknown or "pattern" not in raw:
        raise ConfigError(f"source {source}: slice takes pattern (required), unit, timezone; got {sorted(raw)}")
    if raw.get("unit", "month") != "month":
        raise ConfigError(f"source {source}: slice unit must be month, not {raw['unit']!r}")
    try:
        if re.compile(raw["pattern"]).groups < 1:
            raise ConfigError(f"source {source}: slice pattern {raw['pattern']!r} needs a group capturing YYYY-MM")
    except re.error as error:
        raise ConfigError(f"source {source}: slice pattern {raw['pattern']!r} is not a regex: {error}") from error
    return FileSlice(pattern=raw["pattern"], unit="month", timezone=raw.get("timezone", "UTC"))


def parse_contract(name: str, raw: dict[str, Any]) -> SourceContract:
    """Build and check one source's contract."""
    for needed in ("table", "format", "path", "columns"):
        if needed not in raw:
            raise ConfigError(f"source {name}: '{needed}' is required")
    if raw["format"] not in {"csv", "jsonl"}:
        raise ConfigError(f"source {name}: format must be csv or jsonl, not {raw['format']!r}")
    contract = SourceContract(
        name=name,
        table=raw["table"],
        format=raw["format"],
        path=raw["path"],
        columns=tuple(_column(name, c) for c in raw["columns"]),
        csv_options={str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in (raw.get("csv") or {}).items()},
        source_system=raw.get("source_system"),
        partition_by=raw.get("partition_by"),
        partition_from=tuple(raw.get("partition_from") or ()),
        position=raw.get("position"),
        geometry=raw.get("geometry"),
        drop=tuple(str(d) for d in raw.get("drop") or ()),
        unknown_columns=raw.get("unknown_columns", "error"),
        key=tuple(raw.get("key") or ()),
        derive_key=raw.get("derive_key"),
        rules=_rules(name, raw.get("rules")),
        constants=dict(raw.get("constants") or {}),
        file_slice=_file_slice(name, raw.get("slice")),
    )
    schema_names = set(table_schema(contract.table).names)
    produced = {c.name for c in contract.columns} | set(contract.constants)
    staging = {contract.geometry["column"]} if contract.geometry else set()   # converted, not stored as-is
    unknown = produced - schema_names - staging
    if unknown:
        raise ConfigError(f"source {name}: columns {sorted(unknown)} are not in table {contract.table}'s schema")
    if contract.partition_by and not contract.partition_from:
        raise ConfigError(f"source {name}: partition_by needs partition_from")
    if contract.partition_by and not contract.daily and contract.file_slice is None:
        raise ConfigError(
            f"source {name}: a partitioned source without {{date}} in its path must declare the slice each file "
            "owns (`slice: {pattern: '(\\d{4}-\\d{2})', unit: month}`), so a run never replaces rows it did not read")
    if contract.unknown_columns not in {"error", "ignore"}:
        raise ConfigError(f"source {name}: unknown_columns must be error or ignore")
    return contract


@dataclass(frozen=True)
class Contracts:
    sources: dict[str, SourceContract]
    force_area_bng: dict[str, float]
    time_rules: dict[str, Any]
    null_markers: tuple[str, ...] = DEFAULT_NULL_MARKERS

    def get(self, name: str) -> SourceContract:
        if name not in self.sources:
            raise ConfigError(f"unknown source {name!r}; known: {', '.join(sorted(self.sources))}")
        return self.sources[name]


def load_contracts(path: Path) -> Contracts:
    """Load and check every source in conf/sources.yaml."""
    raw = load_yaml(path)
    sources = {name: parse_contract(name, body) for name, body in (raw.get("sources") or {}).items()}
    if not sources:
        raise ConfigError(f"{path}: no sources defined")
    return Contracts(
        sources=sources,
        force_area_bng={k: float(v) for k, v in raw["force_area_bng"].items()},
        time_rules=raw.get("time_rules") or {"earliest": "2000-01-01", "max_future_hours": 24},
        null_markers=tuple(str(m) for m in raw.get("null_markers", DEFAULT_NULL_MARKERS)),
    )
