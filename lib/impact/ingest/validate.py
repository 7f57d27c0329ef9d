"""Great Expectations gate over the accepted rows of one source (ephemeral context, fully offline).

The contract's rules were already applied row by row in `conform` (failing rows are quarantined). GX
then checks the accepted rows independently, together with expectations that follow from the contract
(schema, required columns, unique key, positions inside the force area). A failure here means the row
checks and the expectations disagree: the job stops before writing anything.

Large sources (more than `full_gate_max_rows` accepted rows: the pings) can skip GX row
by row (87 s of a 10M-ping ingest): one Spark aggregate over every accepted row checks the row count,
the nulls of every required column and the minimum / maximum of every bounded column (positions inside
the force area, rule bounds), and GX runs the whole suite over a deterministic sample of about
:data:`SAMPLE_ROWS` rows picked by a hash of the key (so rows sharing a key are sampled together and the
uniqueness expectation still means something). Small sources keep the full GX gate. On: the threshold
:data:`FULL_GATE_MAX_ROWS` is 250,000 accepted rows (docs/decisions.md D16); pass
``full_gate_max_rows=None`` for the full gate on every source.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from impact.ingest.contract import SourceContract
from impact.schemas import table_schema

log = logging.getLogger(__name__)

# Above this many accepted rows: full-data aggregates + GX on a sample (docs/decisions.md D16; None: every
# source gets the full gate).
FULL_GATE_MAX_ROWS: int | None = 250_000
SAMPLE_ROWS = 50_000              # about this many rows in the GX sample of a large source
# GX checks at most this many rows in the driver with its pandas engine (one Arrow collect); more run on
# GX's Spark engine (D22). Ingest's gate sees at most FULL_GATE_MAX_ROWS rows or the sample, so the Spark
# engine is used only when FULL_GATE_MAX_ROWS is None; the presence gate's large facts use it.
LOCAL_GX_MAX_ROWS = 1_000_000
# ... and at most this many values (rows x columns), so a wide frame comes to the driver only when small (D28)
LOCAL_GX_MAX_CELLS = 10_000_000


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


def _new_context():
    """An ephemeral GX context, one per validation (creating one takes about 0.01 s once GX is imported, so
    sharing ``_context`` across sources would save nothing measurable; docs/decisions.md D16)."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@lru_cache(maxsize=1)
def _context():
    """The one ephemeral GX context of this process (the presence publication gate, impact.quality)."""
    return _new_context()


def _frame_batch(context, source: str, asset: str, frame, pandas: bool):
    """A GX batch over a whole frame: a Spark DataFrame, or a pandas one (GX's pandas engine), through the
    datasource `source` and its asset `asset`, each added on first use."""
    try:
        datasource = context.data_sources.get(source)
    except (KeyError, ValueError, LookupError):
        add = context.data_sources.add_pandas if pandas else context.data_sources.add_spark
        datasource = add(name=source)
    if asset in datasource.get_asset_names():
        definition = datasource.get_asset(asset).get_batch_definition("run")
    else:
        definition = datasource.add_dataframe_asset(name=asset).add_batch_definition_whole_dataframe("run")
    return definition.get_batch(batch_parameters={"dataframe": frame})


def _batch(context, contract: SourceContract, df: DataFrame):
    return _frame_batch(context, f"ingest_{contract.name}", contract.name, df, pandas=False)


def _pandas_batch(context, name: str, frame):
    """A GX batch over a pandas frame, checked by GX's pandas engine."""
    return _frame_batch(context, f"{name}_local", name, frame, pandas=True)


def collect_at_most(df: DataFrame, max_rows: int, max_cells: int = LOCAL_GX_MAX_CELLS, count_first: bool = True):
    """df as a pandas frame (through Arrow) when it has at most max_rows rows and max_cells values, else None.
    The rows are counted first (a scan that stops one row past the limit), so a larger frame never travels
    to the driver: collecting a million wide rows only to find there were more filled the 4g heap of a
    200M-ping backfill and hung it (docs/decisions.md D28). `count_first=False` skips that scan where the
    caller has already bounded the rows (ingest's gate: at most FULL_GATE_MAX_ROWS, or its sample)."""
    max_rows = min(max_rows, max_cells // max(1, len(df.columns)))
    if max_rows <= 0 or (count_first and df.limit(max_rows + 1).count() > max_rows):
        return None
    spark = df.sparkSession
    arrow = spark.conf.get("spark.sql.execution.arrow.pyspark.enabled", "false")
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    try:
        frame = df.limit(max_rows + 1).toPandas()
    finally:
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", arrow)
    return frame if len(frame) <= max_rows else None


def _key_columns(contract: SourceContract) -> list[str]:
    return list(contract.key) or ([contract.derive_key["name"]] if contract.derive_key else [])


def _bounds(contract: SourceContract, force_area_bng: dict[str, float]) -> list[tuple[str, float | None, float | None]]:
    """(column, min, max) of every bounded column: positions and `expect_column_values_to_be_between` rules."""
    out = []
    if contract.position:
        box = force_area_bng
        out += [("easting", box["min_easting"], box["max_easting"]), ("northing", box["min_northing"], box["max_northing"])]
    for rule in contract.rules:
        if rule.expectation == "expect_column_values_to_be_between":
            out.append((rule.kwargs["column"], rule.kwargs.get("min_value"), rule.kwargs.get("max_value")))
    return out


def full_aggregates(df: DataFrame, contract: SourceContract, force_area_bng: dict[str, float]) -> tuple[int, list[dict]]:
    """(rows, results) of one aggregate query over every row: nulls of required columns, min / max of
    bounded columns. Results have the shape of the GX results (expectation, kwargs, success, count)."""
    schema = table_schema(contract.table)
    required = [c.name for c in schema.columns if not c.nullable]
    bounds = _bounds(contract, force_area_bng)
    aggs = [F.count(F.lit(1)).alias("rows")]
    aggs += [F.count(F.when(F.col(c).isNull(), 1)).alias(f"null_{i}") for i, c in enumerate(required)]
    aggs += [F.min(c).alias(f"min_{i}") for i, (c, _, _) in enumerate(bounds)]
    aggs += [F.max(c).alias(f"max_{i}") for i, (c, _, _) in enumerate(bounds)]
    row = df.agg(*aggs).first()
    results = [{"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": c, "scope": "all_rows"},
                "success": row[f"null_{i}"] == 0, "unexpected_count": int(row[f"null_{i}"]), "exception": None}
               for i, c in enumerate(required)]
    for i, (c, lo, hi) in enumerate(bounds):
        low, high = row[f"min_{i}"], row[f"max_{i}"]
        ok = (low is None or lo is None or low >= lo) and (high is None or hi is None or high <= hi)
        results.append({"expectation": "expect_column_min_max_to_be_between",
                        "kwargs": {"column": c, "min_value": lo, "max_value": hi, "scope": "all_rows",
                                   "observed_min": low, "observed_max": high},
                        "success": bool(ok), "unexpected_count": None, "exception": None})
    return int(row["rows"]), results


def deterministic_sample(df: DataFrame, contract: SourceContract, rows: int, target: int = SAMPLE_ROWS) -> DataFrame:
    """About `target` of `rows` rows, picked by a hash of the key (all columns if there is none): the same
    rows every run, and rows sharing a key land in the sample together."""
    buckets = max(1, -(-rows // target))
    cols = _key_columns(contract) or df.columns
    return df.where(F.pmod(F.xxhash64(*[F.col(c) for c in cols]), F.lit(buckets)) == 0)


def validate_accepted(df: DataFrame, contract: SourceContract, force_area_bng: dict[str, float],
                      full_gate_max_rows: int | None = FULL_GATE_MAX_ROWS, sample_rows: int = SAMPLE_ROWS,
                      local_max_rows: int = LOCAL_GX_MAX_ROWS) -> ValidationResult:
    """Run the expectations over `df`, or over a deterministic sample plus full-data aggregates when `df`
    has more than `full_gate_max_rows`. The rows GX checks (all, or the sample) are collected to the driver
    and checked with GX's pandas engine when there are at most `local_max_rows` of them, else GX runs on
    Spark (D22: its Spark engine costs a Spark job per metric, seconds for a few hundred rows)."""
    gx = _gx()
    results: list[dict] = []
    target = df
    # a cheap first look: more rows than the full gate takes? (stops scanning at full_gate_max_rows + 1)
    if full_gate_max_rows is not None and df.limit(full_gate_max_rows + 1).count() > full_gate_max_rows:
        rows, results = full_aggregates(df, contract, force_area_bng)
        target = deterministic_sample(df, contract, rows, sample_rows)
        log.info("%s: %d accepted rows: aggregates over all, GX over a sample of about %d", contract.name, rows, sample_rows)
    context = _new_context()
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"{contract.name}_accepted"))
    for expectation in expectations_for(contract, force_area_bng):
        suite.add_expectation(expectation)
    # the rows are already bounded when the gate takes at most full_gate_max_rows or a sample: no count needed
    local = collect_at_most(target, local_max_rows, count_first=full_gate_max_rows is None)
    batch = _pandas_batch(context, contract.name, local) if local is not None else _batch(context, contract, target)
    outcome = batch.validate(suite)
    for r in outcome.results:
        cfg = r.expectation_config
        results.append({
            "expectation": cfg.type,
            "kwargs": {k: v for k, v in cfg.kwargs.items() if k not in {"batch_id"}},
            "success": bool(r.success),
            "unexpected_count": (r.result or {}).get("unexpected_count"),
            "exception": (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None,
        })
    success = bool(outcome.success) and all(r["success"] for r in results)
    return ValidationResult(success=success, results=tuple(results))
