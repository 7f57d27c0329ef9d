"""spark-submit entry point: visits + events -> presence facts and the dashboard marts. See `--help` and docs/presence.md."""
import sys

from impact.presence.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
