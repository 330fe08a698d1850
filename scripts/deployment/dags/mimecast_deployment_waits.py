"""The deployment lane's DAG: one mapped deferrable sensor over imports that the simulator created.

Trigger it with ``{"import_ids": [...]}``; each ID becomes one mapped ``wait_for_import`` task, which checks
once on its worker, defers to the triggerer, and resumes on a worker when its trigger fires.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor

POKE_SECONDS = float(os.environ.get("MIMECAST_DEPLOYMENT_POKE_SECONDS", "5"))

with DAG(
    dag_id="mimecast_deployment_waits",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=1024,
    params={"import_ids": Param([], type="array", description="IDs of the imports to wait for")},
    tags=["mimecast", "deployment"],
) as dag:

    @task
    def import_ids(params: Any = None) -> list[str]:
        return [str(import_id) for import_id in params["import_ids"]]

    MimecastImportStatusSensor.partial(
        task_id="wait_for_import",
        deferrable=True,
        poke_interval=POKE_SECONDS,
        timeout=30 * 60,
    ).expand(import_id=import_ids())
