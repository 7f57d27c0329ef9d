"""spark-submit entry point: marts -> strategic analysis tables and the HTML report. See `--help` and docs/analysis.md."""
import sys

from impact.analysis.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
