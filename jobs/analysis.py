"""spark-submit entry point: marts -> strategic analysis tables and the HTML report. See `--help` and docs/analysis.md."""
import sys

from impact.determinism import pin_hash_seed

if __name__ == "__main__":
    pin_hash_seed()                      # the figures repeat to the bit from run to run (D30)
    from impact.analysis.pipeline import main

    sys.exit(main())
