"""Operations: the run plan, stage execution with run-id tagged Delta commits, backfill checkpoints and
table maintenance behind the `impact` command (impact.runner)."""
