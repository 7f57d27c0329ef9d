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
KEY_TYPES = ("offence_class", "crime_type")


@dataclass(frozen=True)
class HarmWeights:
    """Harm weight per Home Office offence class or crime type (lower-cased keys); default for the rest."""
    by_offence_class: dict[str, float]
    by_crime_type: dict[str, float]
    default: float
    source: str

    @classmethod
    def load(cls, path: Path, default: float) -> "HarmWeights":
        if not path.is_file():
            raise FileNotFoundError(f"harm weights table {path} not found (conf/marts.yaml: harm_weights)")
        by = {k: {} for k in KEY_TYPES}
        with path.open(newline="") as handle:
            rows = csv.DictReader(line for line in handle if not line.startswith("#"))
            missing = {"key_type", "key", "harm_weight"} - set(rows.fieldnames or [])
            if missing:
                raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
            for n, row in enumerate(rows, start=2):
                kind = row["key_type"].strip()
                if kind not in by:
                    raise ValueError(f"{path} row {n}: key_type {kind!r} is not one of {KEY_TYPES}")
                try:
                    weight = float(row["harm_weight"])
                except ValueError:
                    raise ValueError(f"{path} row {n}: harm_weight {row['harm_weight']!r} is not a number") from None
                if weight < 0:
                    raise ValueError(f"{path} row {n}: harm_weight must not be negative")
                by[kind][row["key"].strip().lower()] = weight
        return cls(by["offence_class"], by["crime_type"], float(default), str(path))

    def column(self, offence_class: Column, crime_type: Column) -> tuple[Column, Column]:
        """(weight, basis) columns: offence class first, then crime type, else the default."""
        def lookup(mapping: dict[str, float], key: Column) -> Column:
            if not mapping:
                return F.lit(None).cast("double")
            pairs = [x for k, v in sorted(mapping.items()) for x in (F.lit(k), F.lit(float(v)))]
            return F.element_at(F.create_map(*pairs), F.lower(F.trim(key)))

        by_class, by_type = lookup(self.by_offence_class, offence_class), lookup(self.by_crime_type, crime_type)
        weight = F.coalesce(by_class, by_type, F.lit(self.default))
        basis = (F.when(by_class.isNotNull(), F.lit("offence_class"))
                 .when(by_type.isNotNull(), F.lit("crime_type")).otherwise(F.lit("default")))
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
    weight, basis = weights.column(F.col("offence_class"), F.col("crime_type"))
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
