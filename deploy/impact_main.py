"""spark-submit application for the `impact` command (the console script's code, as a file spark-submit
can ship): `spark-submit ... impact_main.py run --date 2026-03-20 --conf cluster.yaml`. See README
"Operations"; the Airflow DAG and the Oozie workflow submit this file."""
import sys

from impact.runner import console_main

if __name__ == "__main__":
    sys.exit(console_main())             # with a fixed string-hash seed, as the console script (D30)
