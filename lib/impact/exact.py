"""Sums of doubles that do not depend on row order (D26, D29).

Spark adds doubles in the order rows arrive, which follows the plan: a change of plan (a broadcast
instead of a shuffle, another partition count) moves a plain sum of minutes in its last bits, and the
models fitted on it. `exact_sum` rounds each value to 1e-9 and adds decimals, which is exact."""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def exact_sum(column: str | Column) -> Column:
    """Sum of a double column that does not depend on the order rows arrive in: each value rounded to
    1e-9 and added as a decimal (exact), then back to double."""
    c = F.col(column) if isinstance(column, str) else column
    return F.sum(c.cast("decimal(38,9)")).cast("double")
