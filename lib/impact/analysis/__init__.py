"""Strategic analysis statistics: displacement (WDQ/WDD), count panel models, staggered DiD,
correlations, and a seeded panel simulator for back-tests. Pure pandas/numpy; no Spark, no files."""
