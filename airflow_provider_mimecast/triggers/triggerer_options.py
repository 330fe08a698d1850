"""What each Airflow line lets a wait do in the triggerer: ``start_from_trigger`` and ``end_from_trigger``.

Read in the Airflow source of each supported line (2.11.2, 3.0.6, 3.1.8, 3.2.2, 3.3.2):

- ``start_from_trigger`` (an operator attribute with ``start_trigger_args``, since 2.10): the scheduler
  defers the task straight to its trigger with ``start_trigger_args.trigger_kwargs`` as they were when the
  DAG was parsed. Only 3.3 renders templated fields first, in the triggerer (the task's ``template_fields``
  that are also trigger kwargs and trigger attributes, with a plain, not native, Jinja environment); 2.11
  to 3.2 pass the template text itself. No line resolves an ``XComArg``. Mapped tasks never start in the
  triggerer (3.x: "currently unsupported", the task runs on a worker; 2.11 reads only the class's
  ``start_trigger_args``, which this provider leaves unset).
- ``end_from_trigger``: every line's DAG parsing refuses a task whose ``end_from_trigger`` is true when
  listeners (OpenLineage, plugins) are registered: ``AirflowException("Listeners are not supported with
  end_from_trigger=True ...")``, an import error of the DAG file (``bag_dag`` in ``airflow/models/dagbag.py``
  on 2.11 to 3.1, ``airflow/dag_processing/dagbag.py`` on 3.2 and 3.3).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from airflow.triggers.base import StartTriggerArgs

from airflow_provider_mimecast.errors import MimecastConfigurationError

__all__ = ["StartTriggerArgs", "refuse_end_from_trigger_with_listeners", "why_not_start_in_triggerer"]


def airflow_version() -> tuple[int, int]:
    major, minor, *_ = version("apache-airflow").split(".")
    return int(major), int(minor)


def renders_templates_in_triggerer() -> bool:
    """Whether a task started in the triggerer has its templated fields rendered there (3.3 and later)."""
    return airflow_version() >= (3, 3)


def _is_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list | tuple):
        return any(_is_template(item) for item in value)
    return False


def why_not_start_in_triggerer(fields: dict[str, Any], *, native_rendering: bool) -> str | None:
    """Why a sensor with these templated field values cannot start in the triggerer on this Airflow, or
    None when it can.

    :param fields: the task's templated fields that the trigger needs (``import_id``, ``mimecast_conn_id``).
    :param native_rendering: whether the DAG renders templates as native objects.
    """
    for name, value in fields.items():
        if not (
            isinstance(value, str)
            or (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value))
        ):
            return (
                f"{name} is {type(value).__name__} (e.g. an upstream task's XComArg), which Airflow does not "
                "resolve before a task starts in the triggerer"
            )
        if not _is_template(value):
            continue
        if not renders_templates_in_triggerer():
            return (
                f"{name} is templated, and Airflow {'.'.join(map(str, airflow_version()))} does not render "
                "templates before a task starts in the triggerer (3.3 and later do)"
            )
        if native_rendering:
            return (
                f"{name} is templated and the DAG renders templates as native objects, which the triggerer "
                "does not (it renders text)"
            )
    return None


def _listener_manager() -> Any:
    try:
        from airflow.listeners.listener import get_listener_manager
    except ImportError:  # a 3.x worker with the task SDK alone
        from airflow.sdk.listener import get_listener_manager  # type: ignore[no-redef,assignment]
    return get_listener_manager()


def listeners_registered() -> bool:
    """Whether Airflow listeners (OpenLineage, plugins) are registered in this process, as Airflow's own
    ``end_from_trigger`` check at DAG parsing reads them (the core manager; the task SDK's on a worker
    without Airflow core).
    """
    return bool(_listener_manager().has_listeners)


def listener_names() -> list[str]:
    """The dotted names of the registered listeners (a class's, or a module's registered as one)."""
    names = []
    for listener in _listener_manager().pm.get_plugins():
        name = getattr(listener, "__name__", None)  # a module
        names.append(
            name if isinstance(name, str) else f"{type(listener).__module__}.{type(listener).__qualname__}"
        )
    return sorted(names)


def refuse_end_from_trigger_with_listeners(task_id: str) -> None:
    """Raise what to do when ``end_from_trigger=True`` meets registered listeners, before Airflow's own
    check refuses the DAG with a message that names neither the task nor the DAG (its ``%s`` are never
    filled in). The OpenLineage provider's listener is named as such, with its own switch.
    """
    if not listeners_registered():
        return
    names = listener_names()
    openlineage = [name for name in names if name.startswith("airflow.providers.openlineage.")]
    if openlineage:
        which = f"the OpenLineage provider's listener ({', '.join(openlineage)})"
        others = [name for name in names if name not in openlineage]
        which += f" and {', '.join(others)}" if others else ""
        remedy = (
            "or turn OpenLineage off ([openlineage] disabled = True, or AIRFLOW__OPENLINEAGE__DISABLED=true) if "
            "you do not use its lineage"
        )
    else:
        which = ", ".join(names) or "a plugin's"
        remedy = "or remove the listeners"
    raise MimecastConfigurationError(
        f"Task {task_id!r} has end_from_trigger=True, but Airflow listeners are registered ({which}): Airflow "
        "refuses to end a task in the triggerer then, since the listeners would never hear of its end. Set "
        f"end_from_trigger=False on this task (the task then resumes on a worker to end), {remedy} "
        "(docs/waiting.rst, end_from_trigger)"
    )
