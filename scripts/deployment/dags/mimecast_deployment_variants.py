"""The deployment lane's other ways of waiting: one DAG per variant that ``scripts/deployment/variants.py``
describes, passed here in ``MIMECAST_DEPLOYMENT_VARIANTS`` (JSON).

Trigger each with ``{"import_ids": [...]}``. A mapped variant expands one sensor over the IDs, as
``mimecast_deployment_waits`` does; an unmapped one has one task per ID, its ``import_id`` templated from the
run's conf (``{{ params.import_ids[i] }}``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor

POKE_SECONDS = float(os.environ.get("MIMECAST_DEPLOYMENT_POKE_SECONDS", "5"))
WAIT_TASK = "wait_for_import"

for spec in json.loads(os.environ.get("MIMECAST_DEPLOYMENT_VARIANTS", "[]")):
    with DAG(
        dag_id=spec["dag_id"],
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_tasks=1024,
        params={"import_ids": Param([], type="array", description="IDs of the imports to wait for")},
        tags=["mimecast", "deployment"],
    ) as dag:
        common: dict[str, Any] = {
            "mimecast_conn_id": spec["conn_id"],
            "deferrable": True,
            "poke_interval": POKE_SECONDS,
            "timeout": 30 * 60,
            **spec["sensor_kwargs"],
        }
        if spec["mapped"]:

            @task
            def import_ids(params: Any = None) -> list[str]:
                return [str(import_id) for import_id in params["import_ids"]]

            MimecastImportStatusSensor.partial(task_id=WAIT_TASK, **common).expand(import_id=import_ids())
        else:
            for i in range(spec["waits"]):
                MimecastImportStatusSensor(
                    task_id=f"{WAIT_TASK}_{i:03d}", import_id=f"{{{{ params.import_ids[{i}] }}}}", **common
                )
    globals()[spec["dag_id"]] = dag
