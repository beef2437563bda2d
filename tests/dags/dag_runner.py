"""Run xmargin_nightly once through `dag.test()` and print the outcome as one JSON line.

Used by the DAG tests in a fresh process so each run gets its own Airflow settings; the argument
is a JSON object with `logical_date` (ISO, optional) and `conf` (the run's Params).
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    args = json.loads(sys.argv[1])
    import pendulum
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models import TaskInstance
    from sqlalchemy import select

    if settings.Session is None:
        settings.configure_orm()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.dags["xmargin_nightly"]
    logical = pendulum.parse(args["logical_date"]) if args.get("logical_date") else None
    run = dag.test(logical_date=logical, run_conf=args.get("conf"))
    session = settings.Session()
    tis = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == "xmargin_nightly", TaskInstance.run_id == run.run_id
        )
    ).all()
    states = {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
        for ti in tis
    }
    print("RESULT " + json.dumps({"state": str(run.state), "run_id": run.run_id, "tis": states}))


if __name__ == "__main__":
    main()
