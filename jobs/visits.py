"""spark-submit entry point: pings -> officer visits to areas and rings. See `--help` and docs/visits.md."""
import sys

from impact.visits.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
