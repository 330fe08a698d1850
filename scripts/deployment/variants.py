"""The ways of waiting the lane measures side by side: today's defaults and the options that spare workers.

Each variant other than today's is a DAG of its own (``dags/mimecast_deployment_variants.py`` builds them
from :func:`dag_specs`, passed to the components in an environment variable), with a connection to a
simulator of its own: its token and status requests are counted apart from every other variant's, and it
runs while today's waits ride out the disruptions (which touch only today's simulator and connection).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The environment variable that carries :func:`dag_specs` to the DAG file.
ENV_VAR = "MIMECAST_DEPLOYMENT_VARIANTS"
WAIT_TASK = "wait_for_import"


@dataclass(frozen=True)
class Variant:
    """One way of waiting.

    :param name: its name on the command line (``--variants``).
    :param label: its column's heading.
    :param dag_id: the DAG that waits this way.
    :param sensor_kwargs: what the DAG passes to ``MimecastImportStatusSensor`` besides the defaults.
    :param mapped: one mapped sensor over the imports (as users write it); else one task per import, its
        ``import_id`` templated from the run's conf.
    :param worker_runs: worker task runs per wait the goal allows (None: today's, not asserted); a tuple
        when Airflow decides (a mapped task may not start in the triggerer): any of them passes, and the
        table says which one it was.
    """

    name: str
    label: str
    dag_id: str
    sensor_kwargs: Mapping[str, Any] = field(default_factory=dict)
    mapped: bool = True
    worker_runs: tuple[int, ...] | None = None

    @property
    def conn_id(self) -> str:
        return "mimecast_default" if self.name == TODAY else f"mimecast_{self.name.replace('-', '_')}"

    def wait_task(self, task_id: str) -> bool:
        """Whether ``task_id`` is one of this variant's waits (not its upstream ``import_ids`` task)."""
        return task_id == WAIT_TASK if self.mapped else task_id.startswith(WAIT_TASK + "_")


TODAY = "today"
VARIANTS: tuple[Variant, ...] = (
    # The fault phases run on this one: the DAG of issue 16, unchanged.
    Variant(TODAY, "today (defaults)", "mimecast_deployment_waits"),
    Variant(
        "end-in-triggerer",
        "no worker check, end in triggerer",
        "mimecast_deployment_waits_end_in_triggerer",
        {"check_before_deferring": False, "end_from_trigger": True},
        worker_runs=(1,),
    ),
    Variant(
        "start-in-triggerer",
        "start in triggerer (mapped)",
        "mimecast_deployment_waits_start_in_triggerer",
        {"start_from_trigger": True, "end_from_trigger": True, "check_before_deferring": False},
        # Airflow 3.3 does not start a mapped task in the triggerer ("currently unsupported"): it then runs
        # once on a worker, which defers at once (no check) and never resumes.
        worker_runs=(0, 1),
    ),
    Variant(
        "start-in-triggerer-unmapped",
        "start in triggerer (unmapped)",
        "mimecast_deployment_waits_start_in_triggerer_unmapped",
        {"start_from_trigger": True, "end_from_trigger": True, "check_before_deferring": False},
        mapped=False,
        worker_runs=(0,),
    ),
)
BY_NAME = {variant.name: variant for variant in VARIANTS}


def dag_specs(variants: Iterable[Variant], waits: int) -> str:
    """What the DAG file needs to build the DAGs of ``variants`` (today's has a file of its own), as JSON."""
    return json.dumps(
        [
            {
                "dag_id": v.dag_id,
                "conn_id": v.conn_id,
                "sensor_kwargs": dict(v.sensor_kwargs),
                "mapped": v.mapped,
                "waits": waits,
            }
            for v in variants
            if v.name != TODAY
        ]
    )
