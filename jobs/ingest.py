"""spark-submit entry point: raw extracts -> conformed Delta tables. See `--help` and README."""
import sys

from impact.ingest.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
