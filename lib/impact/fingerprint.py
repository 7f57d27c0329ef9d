"""Output fingerprints: did a change leave every table the same?

    python -m impact.fingerprint --warehouse /tmp/fp/wh --out before.json
    python -m impact.fingerprint --compare before.json after.json           (exit 1 when they differ)
    make fingerprint WAREHOUSE=/tmp/fp/wh FP_OUT=before.json

For every Delta table under a warehouse folder (a folder holding `_delta_log`; `_staging` and the
metastore are skipped) one aggregate query gives the row count and, per column, the sum of
``xxhash64(column)`` over all rows as a decimal (no overflow), plus the same sum over all compared columns
hashed together (``xxhash64(c1, c2, ...)``), so a value moved between rows is caught too. Sums do not
depend on row order, partitioning or file layout, so two runs that write the same rows in any order
give the same fingerprint.

Columns that legitimately differ from run to run are left out, by name, and listed in the output:
run ids (`run_id`, `*_run_id`), `quarantined_at_utc`, and the run log's timings, user, host, arguments
and input file paths (paths differ when the same world is generated into another folder).

``--round-digits N`` hashes doubles rounded to N decimals and WKT columns (`*wkt*`) with coordinates
reduced to N decimals (Sedona ``ST_ReducePrecision``): for changes that are expected to move floating
point results in the last bits (e.g. a different but equivalent map projection), so the rest of the
comparison still means something. The default (no rounding) compares exact values.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from fnmatch import fnmatch
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType, MapType, StringType

log = logging.getLogger(__name__)

# (table glob, column glob): excluded because they differ per run by design
EXCLUDED: tuple[tuple[str, str], ...] = (
    ("*", "run_id"),
    ("*", "*_run_id"),
    ("quarantine", "quarantined_at_utc"),
    ("run_log", "started_at_utc"),
    ("run_log", "finished_at_utc"),
    ("run_log", "user"),
    ("run_log", "principal"),
    ("run_log", "code_version"),
    ("run_log", "host"),
    ("run_log", "args"),
    ("run_log", "input_files"),
)
SKIPPED_FOLDERS = ("_staging", "_metastore")


def excluded(table: str, column: str, extra: tuple[tuple[str, str], ...] = ()) -> bool:
    """True if `table.column` is one of the per-run columns left out of the fingerprint."""
    return any(fnmatch(table, t) and fnmatch(column, c) for t, c in EXCLUDED + extra)


def delta_tables(warehouse: Path) -> dict[str, Path]:
    """{table name: folder} of every Delta table under `warehouse` (name = path relative to it)."""
    out: dict[str, Path] = {}
    for log_dir in sorted(warehouse.rglob("_delta_log")):
        folder = log_dir.parent
        rel = folder.relative_to(warehouse)
        if any(part in SKIPPED_FOLDERS or part.startswith(".") for part in rel.parts):
            continue
        out[rel.as_posix()] = folder
    return out


def _hashable(df: DataFrame, name: str, round_digits: int | None) -> Column:
    col = F.col(f"`{name}`")
    dtype = df.schema[name].dataType
    if isinstance(dtype, MapType):                  # xxhash64 takes no maps: its entries, sorted by key
        return F.array_sort(F.map_entries(col))
    if round_digits is None:
        return col
    if isinstance(dtype, (DoubleType, FloatType)):
        return F.round(col, round_digits)
    if isinstance(dtype, StringType) and "wkt" in name.lower():
        return F.expr(f"ST_AsText(ST_ReducePrecision(ST_GeomFromWKT(`{name}`), {int(round_digits)}))")
    return col


def fingerprint_frame(df: DataFrame, table: str = "table", round_digits: int | None = None,
                      extra_excluded: tuple[tuple[str, str], ...] = (), every_column: bool = False) -> dict:
    """{rows, columns: {name: hash sum}, all: hash sum of all columns together, excluded: [...]} of one
    DataFrame, from one aggregate query; hash sums are decimal strings (order-independent).
    `every_column` hashes the per-run columns too (to tell whether a table would change at all)."""
    names = [f.name for f in df.schema.fields]
    kept = names if every_column else [n for n in names if not excluded(table, n, extra_excluded)]
    values = {n: _hashable(df, n, round_digits) for n in kept}

    def hsum(*cols: Column) -> Column:
        return F.coalesce(F.sum(F.xxhash64(*cols).cast("decimal(38,0)")), F.lit(0).cast("decimal(38,0)"))

    aggs = [F.count(F.lit(1)).alias("__rows")]
    aggs += [hsum(values[n]).alias(f"c{i}") for i, n in enumerate(kept)]
    if kept:
        # the row position of each value matters here: xxhash64(c1, c2, ...) per row, summed
        aggs.append(hsum(*(values[n] for n in kept)).alias("__all"))
    row = df.agg(*aggs).first()
    return {
        "rows": int(row["__rows"]),
        "columns": {n: str(row[f"c{i}"]) for i, n in enumerate(kept)},
        "all": str(row["__all"]) if kept else "0",
        "excluded": [n for n in names if n not in kept],
    }


def fingerprint_warehouse(spark: SparkSession, warehouse: Path, round_digits: int | None = None) -> dict:
    """Fingerprint of every Delta table under `warehouse` (see module docstring)."""
    tables = delta_tables(warehouse)
    if not tables:
        raise FileNotFoundError(f"no Delta tables under {warehouse}")
    out = {}
    for name, folder in tables.items():
        out[name] = fingerprint_frame(spark.read.format("delta").load(str(folder)), name.split("/")[-1], round_digits)
        log.info("%s: %d rows", name, out[name]["rows"])
    return {"warehouse": str(warehouse), "round_digits": round_digits, "tables": out}


def compare(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two fingerprints ([] when identical)."""
    diffs = []
    ta, tb = a["tables"], b["tables"]
    for name in sorted(set(ta) | set(tb)):
        if name not in tb or name not in ta:
            diffs.append(f"{name}: only in {'the first' if name in ta else 'the second'}")
            continue
        x, y = ta[name], tb[name]
        if x["rows"] != y["rows"]:
            diffs.append(f"{name}: rows {x['rows']} != {y['rows']}")
        cols = sorted(set(x["columns"]) | set(y["columns"]))
        changed = [c for c in cols if x["columns"].get(c) != y["columns"].get(c)]
        if changed:
            diffs.append(f"{name}: columns differ: {', '.join(changed)}")
        elif x["all"] != y["all"]:
            diffs.append(f"{name}: same column values, but combined differently across rows")
    if a.get("round_digits") != b.get("round_digits"):
        diffs.append(f"round_digits differ: {a.get('round_digits')} vs {b.get('round_digits')}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="impact.fingerprint", description="Fingerprint every Delta table of a warehouse.")
    parser.add_argument("--warehouse", type=Path, help="warehouse folder to fingerprint")
    parser.add_argument("--out", type=Path, help="JSON file to write (default: stdout)")
    parser.add_argument("--round-digits", type=int, help="hash doubles and WKT coordinates rounded to N decimals")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), help="compare two fingerprints")
    parser.add_argument("--conf", default=str(Path(__file__).resolve().parents[2] / "conf" / "local.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        diffs = compare(a, b)
        for d in diffs:
            log.warning("%s", d)
        n = len(a["tables"])
        log.info("%s: %d tables, %s", "DIFFERENT" if diffs else "identical", n, f"{len(diffs)} difference(s)" if diffs else
                 f"{sum(t['rows'] for t in a['tables'].values()):,} rows")
        return 1 if diffs else 0
    if args.warehouse is None:
        parser.error("--warehouse or --compare is required")
    from impact.config import load_settings
    from impact.session import build_session

    settings = load_settings(args.conf).with_overrides(warehouse=str(args.warehouse.resolve()))
    spark = build_session(settings, "impact-fingerprint", overrides={"spark.sql.catalogImplementation": "in-memory"})
    try:
        result = fingerprint_warehouse(spark, args.warehouse.resolve(), args.round_digits)
    finally:
        spark.stop()
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
        log.info("wrote %s (%d tables)", args.out, len(result["tables"]))
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
