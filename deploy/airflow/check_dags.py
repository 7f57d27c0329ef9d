"""Import a DAG folder the way the Airflow scheduler does (DagBag) and print, as JSON, the import errors
and each DAG's tasks in topological order with its schedule settings. Run with the Airflow venv's Python:
`.cache/airflow-venv/bin/python deploy/airflow/check_dags.py deploy/airflow`."""
import json
import sys

from airflow.models import DagBag


def main(folder: str) -> int:
    bag = DagBag(dag_folder=folder, include_examples=False, safe_mode=True)
    out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        out["dags"][dag_id] = {
            "order": [t.task_id for t in dag.topological_sort()],
            "edges": sorted([u.task_id, d] for u in dag.tasks for d in u.downstream_task_ids),
            "operators": sorted({type(t).__module__ + "." + type(t).__name__ for t in dag.tasks}),
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "schedule": str(dag.timetable.summary),
            "retries": sorted({t.retries for t in dag.tasks}),
            "application_args": {t.task_id: list(getattr(t, "application_args", None) or getattr(t, "_application_args", None) or []) for t in dag.tasks},
            "application": {t.task_id: getattr(t, "application", None) or getattr(t, "_application", None) for t in dag.tasks},
            "conf": {t.task_id: dict(getattr(t, "conf", None) or getattr(t, "_conf", None) or {}) for t in dag.tasks},
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
