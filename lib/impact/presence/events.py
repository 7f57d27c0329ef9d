"""Crimes, incidents (both command-and-control systems) and stop-searches as one event fact, located in
areas and rings. Pure transforms.

Every event keeps its type-specific attributes (offence code and class, harm weight; priority and
opening / closing category; legislation, object and outcome) in one wide row, so the dashboard filters
one table. `event_date` is the date the event entered the record (crimes: recorded; incidents: opened;
searches: searched): the partition a daily run owns. `occurred_at_utc` is when it happened (crimes:
committed from), with `time_precision` (`exact`, or `month` for data.police.uk rows whose only date is
the month: never use those for hour-of-day analysis).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from impact.presence.intervals import with_local_time
from impact.spatial.assign import assign_to_zones

EVENT_TYPES = ("crime", "incident", "search")
KEY_TYPES = ("prc_subgroup", "crime_type")                 # rows of conf/harm_weights.csv
MAP_KEY_TYPES = ("offence_code", "offence_class", "crime_type")  # crime keys in conf/harm_offence_map.csv


def _rows(path: Path, required: set[str]):
    """(line number, row) of a '#'-commented csv, after checking its header has `required`."""
    if not path.is_file():
        raise FileNotFoundError(f"harm table {path} not found (conf/marts.yaml)")
    with path.open(newline="", encoding="utf-8") as handle:
        numbered = [(n, line) for n, line in enumerate(handle, start=1) if not line.startswith("#") and line.strip()]
    reader = csv.DictReader(line for _, line in numbered)
    missing = required - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    for (n, _), row in zip(numbered[1:], reader):
        yield n, {k: (v or "").strip() for k, v in row.items() if k is not None}


def _key(value: str) -> str:
    return value.strip().lower()


@dataclass(frozen=True)
class HarmWeights:
    """Harm weight (days of custody, CCHI) per crime, resolved at load time to one (weight, basis) per key.

    `by_code` / `by_class`: CONNECT offence code / Home Office offence class -> (weight, basis);
    `by_crime_type`: data.police.uk category -> (weight or None for "no harm", basis). Keys lower-cased.
    Basis is the harm-table row used (`prc_subgroup:<name>`, `crime_type:<name>`), `excluded`, or
    `default` for a crime that matches nothing (weight `default`)."""
    by_code: dict[str, tuple[float, str]]
    by_class: dict[str, tuple[float, str]]
    by_crime_type: dict[str, tuple[float | None, str]]
    default: float
    source: str

    @classmethod
    def load(cls, path: Path, default: float, mapping: Path | None = None) -> "HarmWeights":
        """Read the weights table (`key_type, key, harm_weight, basis`) and the optional offence map
        (`key_type, key, harm_key_type, harm_key`); every mapped target must exist in the table."""
        table: dict[tuple[str, str], tuple[float | None, str]] = {}
        for n, row in _rows(path, {"key_type", "key", "harm_weight"}):
            kind, key, text = row["key_type"], row["key"], row["harm_weight"]
            if kind not in KEY_TYPES:
                raise ValueError(f"{path} line {n}: key_type {kind!r} is not one of {KEY_TYPES}")
            if not key:
                raise ValueError(f"{path} line {n}: empty key")
            if text == "":
                weight = None                                   # no harm value (e.g. anti-social behaviour)
            else:
                try:
                    weight = float(text)
                except ValueError:
                    raise ValueError(f"{path} line {n}: harm_weight {text!r} is not a number") from None
                if weight < 0:
                    raise ValueError(f"{path} line {n}: harm_weight must not be negative")
            if (kind, _key(key)) in table:
                raise ValueError(f"{path} line {n}: {kind} {key!r} appears twice")
            table[(kind, _key(key))] = (weight, "excluded" if weight is None else f"{kind}:{key}")

        resolved: dict[str, dict] = {k: {} for k in MAP_KEY_TYPES}
        for (kind, key), value in table.items():
            target = "offence_class" if kind == "prc_subgroup" else "crime_type"   # a class named as a subgroup
            resolved[target][key] = value
        if mapping is not None:
            for n, row in _rows(mapping, {"key_type", "key", "harm_key_type", "harm_key"}):
                kind, target = row["key_type"], (row["harm_key_type"], _key(row["harm_key"]))
                if kind not in MAP_KEY_TYPES:
                    raise ValueError(f"{mapping} line {n}: key_type {kind!r} is not one of {MAP_KEY_TYPES}")
                if target not in table:
                    raise ValueError(f"{mapping} line {n}: {row['harm_key_type']} {row['harm_key']!r} "
                                     f"is not in {path}")
                resolved[kind][_key(row["key"])] = table[target]
        if any(w is None for w, _ in (*resolved["offence_code"].values(), *resolved["offence_class"].values())):
            raise ValueError(f"{mapping or path}: a CONNECT offence (code or class) maps to a row with no harm weight")
        return cls(resolved["offence_code"], resolved["offence_class"], resolved["crime_type"], float(default),
                   str(path))

    @classmethod
    def from_conf(cls, folder: Path, marts: dict) -> "HarmWeights":
        """The weights named in conf/marts.yaml (`harm_weights`, `harm_offence_map`, `default_harm_weight`),
        paths relative to the conf folder."""
        mapping = marts.get("harm_offence_map")
        return cls.load(folder / marts.get("harm_weights", "harm_weights.csv"),
                        float(marts.get("default_harm_weight", 1.0)), folder / mapping if mapping else None)

    def column(self, offence_code: Column, offence_class: Column, crime_type: Column) -> tuple[Column, Column]:
        """(weight, basis) columns: offence code, then offence class (CONNECT); crime type only for rows
        without an offence class (data.police.uk); else the default."""
        def lookup(mapping: dict[str, tuple[float | None, str]], key: Column, part: int, cast: str) -> Column:
            if not mapping:
                return F.lit(None).cast(cast)
            pairs = [x for k, v in sorted(mapping.items()) for x in (F.lit(k), F.lit(v[part]).cast(cast))]
            return F.element_at(F.create_map(*pairs), F.lower(F.trim(key)))

        keys = [(self.by_code, offence_code), (self.by_class, offence_class), (self.by_crime_type, crime_type)]
        found = [lookup(m, k, 1, "string") for m, k in keys]
        found[2] = F.when(offence_class.isNull(), found[2])
        weights = [lookup(m, k, 0, "double") for m, k in keys]
        weight, basis = F.lit(self.default), F.lit("default")
        for hit, w in reversed(list(zip(found, weights))):
            weight = F.when(hit.isNotNull(), w).otherwise(weight)
            basis = F.when(hit.isNotNull(), hit).otherwise(basis)
        return weight, basis


def _common(df: DataFrame, event_type: str, ref: str, occurred: str, event_date: str, **columns: Column) -> DataFrame:
    wide = {
        "category": None, "recorded_at_utc": None, "offence_code": None, "offence_class": None, "harm_weight": None, "harm_weight_basis": None,
        "priority_grade": None, "closing_category": None, "legislation": None, "outcome": None,
        "outcome_linked_to_object": None, "officer_collar": None, "time_precision": F.lit("exact"),
    }
    types = {"priority_grade": "int", "harm_weight": "double", "outcome_linked_to_object": "boolean",
             "recorded_at_utc": "timestamp"}
    wide.update(columns)
    cols = [F.col(c).cast(types.get(name, "string")).alias(name) if isinstance(c, str)
            else (c if c is not None else F.lit(None)).cast(types.get(name, "string")).alias(name)
            for name, c in wide.items()]
    return df.select(
        F.concat_ws(":", F.lit(event_type), F.col("source_system"), F.col(ref)).alias("event_id"),
        F.lit(event_type).alias("event_type"), F.col("source_system"), F.col(ref).alias("event_ref"),
        F.col(occurred).alias("occurred_at_utc"), *cols,
        F.col("easting"), F.col("northing"), F.col(event_date).alias("event_date"))


def conformed_events(crimes: DataFrame, incidents: DataFrame, searches: DataFrame, weights: HarmWeights) -> DataFrame:
    """One row per crime, incident and search with the event fact's columns (before zone assignment)."""
    weight, basis = weights.column(F.col("offence_code"), F.col("offence_class"), F.col("crime_type"))
    c = _common(crimes, "crime", "crime_ref", "committed_from_utc", "recorded_date",
                category=F.col("crime_type"), offence_code="offence_code", offence_class="offence_class",
                harm_weight=weight, harm_weight_basis=basis, officer_collar="recording_officer",
                time_precision="time_precision", recorded_at_utc="recorded_at_utc")
    i = _common(incidents, "incident", "incident_ref", "opened_at_utc", "opened_date",
                category=F.col("opening_category"), priority_grade="priority_grade",
                closing_category="closing_category", recorded_at_utc="opened_at_utc")
    s = _common(searches, "search", "search_ref", "searched_at_utc", "searched_date",
                category=F.col("object_of_search"), legislation="legislation", outcome="outcome",
                outcome_linked_to_object="outcome_linked_to_object", officer_collar="officer_collar",
                recorded_at_utc="searched_at_utc")
    return c.unionByName(i).unionByName(s)


def events_in_zones(events: DataFrame, zones: DataFrame) -> DataFrame:
    """Events located in areas and rings (Sedona broadcast join), with Europe/London labels of when they
    occurred. An event in no zone has no row; one in two overlapping rings has one row per ring."""
    located = assign_to_zones(events, zones)
    return with_local_time(located, "occurred_at_utc")
