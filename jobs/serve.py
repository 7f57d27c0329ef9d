"""Entry point: register the warehouse's Delta tables and serve them over HiveServer2. See `--help` and docs/serving.md."""
import sys

from impact.serve import main

if __name__ == "__main__":
    sys.exit(main())
