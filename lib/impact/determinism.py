"""A fixed string-hash seed for the processes that run the analysis, so its figures repeat to the bit (D30).

Python salts `hash()` of strings per process unless PYTHONHASHSEED is set, and the model library
(pyfixest; where inside it was not traced) lets that salt decide an order somewhere inside a fit: the same
panel fitted in two processes gave estimates that differ in the last bits, and a model on the edge of
separation was reported once as "Demeaning failed" and once as separated. The seed can only be set
before the interpreter starts, so the entry points (`jobs/analysis.py`, the `impact` console script and
`deploy/impact_main.py`) start themselves again with PYTHONHASHSEED=0 when none is fixed. A seed the caller fixed is kept.
Spark's Python workers inherit it, as PySpark recommends for them anyway.
"""
from __future__ import annotations

import os
import sys

SEED = "0"


def hash_seed_fixed() -> bool:
    """True when PYTHONHASHSEED names a fixed seed (unset, empty and "random" do not)."""
    return os.environ.get("PYTHONHASHSEED", "") not in ("", "random")


def pin_hash_seed() -> None:
    """Return if this process has a fixed hash seed; otherwise start the same command again, in place of
    this process (same pid, arguments and environment plus PYTHONHASHSEED=0). Call it first thing in an
    entry point, before any output or Spark session."""
    if hash_seed_fixed():
        return
    os.environ["PYTHONHASHSEED"] = SEED
    sys.stdout.flush()
    sys.stderr.flush()
    # sys.orig_argv keeps `-m module` / the script path exactly as this process was started
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
