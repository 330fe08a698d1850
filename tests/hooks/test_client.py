"""MimecastClient against the simulator: the call path built from settings alone, and its async clients."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from airflow_provider_mimecast.endpoints import GET_IMPORT_STATUS, TOKEN
from airflow_provider_mimecast.hooks.calls import api_call
from airflow_provider_mimecast.hooks.client import MimecastClient
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.settings import MimecastSettings
from airflow_provider_mimecast.testing.simulator import GET_IMPORT_STATUS_PATH
from tests.conftest import CREDENTIALS

LOG = logging.getLogger(__name__)


def client_for(url: str, **options) -> MimecastClient:
    settings = MimecastSettings.from_connection_fields(
        host=url, login=CREDENTIALS.client_id, password=CREDENTIALS.client_secret, extra={}
    )
    return MimecastClient(settings, log=LOG, **options)


def status_call(*ids: str):
    return api_call(GET_IMPORT_STATUS.path, [{"id": i} for i in ids], idempotent=True)


def test_a_client_needs_only_settings_and_shares_one_token_between_sync_and_async_calls(simulator):
    import_id = simulator.create_import()
    client = client_for(simulator.url)
    try:
        assert client.call(status_call(import_id))["data"][0]["id"] == import_id
        answer = asyncio.run(client.acall(status_call(import_id)))
    finally:
        client.close()
    assert answer["data"][0]["id"] == import_id
    assert simulator.request_counts()[TOKEN.path] == 1


async def test_calls_outside_a_session_each_have_a_client_of_their_own(simulator):
    # Concurrent calls must not share a client that the first one to finish closes under the others.
    ids = [simulator.create_import() for _ in range(5)]
    client = client_for(simulator.url)
    answers = await asyncio.gather(*(client.acall(status_call(i)) for i in ids))
    assert [a["data"][0]["id"] for a in answers] == ids


async def test_a_session_keeps_one_client_for_every_call_inside_it(simulator):
    ids = [simulator.create_import() for _ in range(5)]
    client = client_for(simulator.url)
    async with client.session():
        await client.acall(status_call(ids[0]))  # the token and a warm connection
        simulator.reset_counts()
        for import_id in ids:
            await client.acall(status_call(import_id))
    assert simulator.request_counts() == {GET_IMPORT_STATUS.path: 5}
    assert simulator.connections_accepted == 0  # all five went over the session's kept-alive connection


def test_a_hook_reuses_its_connection_across_calls(connections):
    import_id = connections.create_import()
    hook = MimecastHook()
    for _ in range(5):
        hook.get_import_status(import_id)
    assert connections.request_counts()[GET_IMPORT_STATUS_PATH] == 5
    assert connections.connections_accepted == 1  # the token and five polls over one keep-alive socket
    hook.close()


async def test_the_ca_bundle_is_loaded_off_the_event_loop(connections, monkeypatch):
    from airflow_provider_mimecast.hooks import transport

    loaded_in: list[str] = []
    original = transport._ssl_context

    def recording(ca_bundle: str | None = None) -> Any:
        loaded_in.append(threading.current_thread().name)
        return original(ca_bundle)

    monkeypatch.setattr(transport, "_ssl_context", recording)
    await MimecastHook().aget_import_status(connections.create_import())
    assert loaded_in and loaded_in[0] != threading.main_thread().name  # read in a worker thread first


async def test_concurrent_checks_of_one_hook_share_one_client_closed_after_the_last(connections):
    hook = MimecastHook()
    ids = [connections.create_import() for _ in range(4)]
    answers = await asyncio.gather(*(hook.aget_import_status(i) for i in ids))
    assert [statuses[0].id for statuses in answers] == ids
    assert (await hook._async_client())._session is None
