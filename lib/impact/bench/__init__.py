"""Benchmark of the whole pipeline on local Spark (`make bench N=...`, `python -m impact.bench.run`). See docs/performance.md."""
