"""A local Mimecast API simulator: a real HTTP server on loopback.

It speaks just enough of Mimecast's API for the provider: the API 2.0 token endpoint, bearer and API 1.0
HMAC authentication, ``import-users``, ``get-import-status``, ``find-groups``, ``get-group-members``,
``add-group-member``, ``remove-group-member`` and ``get-account``, with
Mimecast's response envelope, rate-limit headers and injectable faults. It serves HTTP/1.1 keep-alive and
counts what it saw, so tests can assert on requests and connections.

Use it in tests as a context manager::

    with MimecastSimulator(pending_seconds=0.05, processing_seconds=0.05) as sim:
        import_id = sim.create_import(total_users=3)
        ...  # point a client at sim.url
        assert sim.request_counts()["/api/user/get-import-status"] == 1

or from a shell: ``python -m airflow_provider_mimecast.testing.simulator --port 8025``.

It deliberately imports nothing from Airflow, so that it starts fast and runs standalone. The modules:
``credentials`` (what it accepts, and the Airflow connection carrying it), ``responses`` (Mimecast's
envelope and errors), ``imports`` (each import's timeline and the store), ``directory`` (profile groups
and find-groups' pages), ``members`` (the groups' members, what a completed import does to its group),
``auth`` (tokens, bearer and HMAC checks), ``rate_limits`` (one refilling bucket per API user), ``faults``,
``endpoints`` (the API's routes), ``recording`` (what the server saw), ``http_server`` (HTTP/1.1 and
connections), ``mimecast_simulator`` (the object tests drive), ``controls`` (its test controls: the
knobs) and ``cli`` (the ``mimecast-simulator`` command).
"""

from __future__ import annotations

from .cli import main
from .credentials import DEFAULT_CREDENTIALS, SimulatorCredentials, airflow_connection
from .directory import SimulatorGroup
from .endpoints import (
    ADD_GROUP_MEMBER_PATH,
    FIND_GROUPS_PATH,
    GET_ACCOUNT_PATH,
    GET_GROUP_MEMBERS_PATH,
    GET_IMPORT_STATUS_PATH,
    IMPORT_USERS_PATH,
    PERMISSIONS,
    REMOVE_GROUP_MEMBER_PATH,
    TOKEN_PATH,
)
from .faults import FAULT_KINDS, Fault
from .files import valid_email_row
from .mimecast_simulator import MimecastSimulator
from .rate_limits import FAST_BUCKET, RECORDED_BUCKET, Bucket
from .recording import RecordedRequest

__all__ = [
    "ADD_GROUP_MEMBER_PATH",
    "DEFAULT_CREDENTIALS",
    "FAST_BUCKET",
    "FAULT_KINDS",
    "FIND_GROUPS_PATH",
    "GET_ACCOUNT_PATH",
    "GET_GROUP_MEMBERS_PATH",
    "GET_IMPORT_STATUS_PATH",
    "IMPORT_USERS_PATH",
    "PERMISSIONS",
    "RECORDED_BUCKET",
    "REMOVE_GROUP_MEMBER_PATH",
    "TOKEN_PATH",
    "Bucket",
    "Fault",
    "MimecastSimulator",
    "RecordedRequest",
    "SimulatorCredentials",
    "SimulatorGroup",
    "airflow_connection",
    "main",
    "valid_email_row",
]
