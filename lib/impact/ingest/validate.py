"""Great Expectations gate over the accepted rows of one source (ephemeral context, fully offline).

The contract's rules were already applied row by row in `conform` (failing rows are quarantined). GX
then checks the accepted rows independently, together with expectations that follow from the contract
(schema, required columns, unique key, positions inside the force area). A failure here means the row
checks and the expectations disagree: the job stops before writing anything.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

from pyspark.sql import DataFrame

from impact.ingest.contract import SourceContract
from impact.schemas import table_schema

log = logging.getLogger(__name__)


class ValidationFailed(RuntimeError):
    """Accepted rows broke an expectation: nothing was written."""


@dataclass(frozen=True)
class ValidationResult:
    success: bool
    results: tuple[dict, ...]

    def summary_json(self) -> str:
        return json.dumps(list(self.results), sort_keys=True, default=str)

    def failures(self) -> list[dict]:
        return [r for r in self.results if not r["success"]]


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx  # heavy import, only when validating

    return gx


def _expectation_class(E, snake: str):
    """GX class for a snake_case expectation name (expect_column_pair_values_a_to_be_greater_than_b ->
    ExpectColumnPairValuesAToBeGreaterThanB)."""
    camel = "".join(part[:1].upper() + part[1:] for part in snake.split("_"))
    return getattr(E, camel)


def expectations_for(contract: SourceContract, force_area_bng: dict[str, float]) -> list:
    """The GX expectations for a source's accepted rows."""
    gx = _gx()
    E = gx.expectations
    schema = table_schema(contract.table)
    out = [E.ExpectTableColumnsToMatchSet(column_set=schema.names, exact_match=True)]
    out += [E.ExpectColumnValuesToNotBeNull(column=c.name) for c in schema.columns if not c.nullable]
    key = list(contract.key) or ([contract.derive_key["name"]] if contract.derive_key else [])
    if len(key) == 1:
        out.append(E.ExpectColumnValuesToBeUnique(column=key[0]))
    elif key:
        out.append(E.ExpectCompoundColumnsToBeUnique(column_list=key))
    if contract.position:
        box = force_area_bng
        out.append(E.ExpectColumnValuesToBeBetween(column="easting", min_value=box["min_easting"], max_value=box["max_easting"]))
        out.append(E.ExpectColumnValuesToBeBetween(column="northing", min_value=box["min_northing"], max_value=box["max_northing"]))
    for rule in contract.rules:
        out.append(_expectation_class(E, rule.expectation)(**rule.kwargs))
    return out


def validate_accepted(df: DataFrame, contract: SourceContract, force_area_bng: dict[str, float]) -> ValidationResult:
    """Run the expectations over `df` (a Spark DataFrame; GX computes aggregates, nothing is collected)."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_spark(name=f"ingest_{contract.name}")
    asset = datasource.add_dataframe_asset(name=contract.name)
    batch = asset.add_batch_definition_whole_dataframe("run").get_batch(batch_parameters={"dataframe": df})
    suite = context.suites.add(gx.ExpectationSuite(name=f"{contract.name}_accepted"))
    for expectation in expectations_for(contract, force_area_bng):
        suite.add_expectation(expectation)
    outcome = batch.validate(suite)
    results = []
    for r in outcome.results:
        cfg = r.expectation_config
        results.append({
            "expectation": cfg.type,
            "kwargs": {k: v for k, v in cfg.kwargs.items() if k not in {"batch_id"}},
            "success": bool(r.success),
            "unexpected_count": (r.result or {}).get("unexpected_count"),
            "exception": (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None,
        })
    return ValidationResult(success=bool(outcome.success), results=tuple(results))
