"""The process-wide token cache, through the hook against the simulator: one fetch in flight per key,
and a wrong secret never reuses a right one's token.

Counts are taken at the simulator (what the server saw), never inferred from timing.
"""

from __future__ import annotations

import asyncio
import threading

from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.testing.simulator import TOKEN_PATH, Fault
from tests.conftest import oauth_connection, with_secret


async def test_concurrent_async_callers_share_one_token_fetch(connections):
    import_id = connections.create_import()
    hooks = [MimecastHook() for _ in range(50)]
    await asyncio.gather(*(h.aget_import_status(import_id) for h in hooks))
    assert len(connections.requests_to(TOKEN_PATH)) == 1


def test_concurrent_threads_share_one_token_fetch(connections):
    import_id = connections.create_import()
    connections.inject(Fault("latency", path=TOKEN_PATH, delay=0.3))
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        hook = MimecastHook()
        try:
            hook.get_import_status(import_id)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            hook.close()  # its pooled socket, not left for a later test's descriptor count

    threads = [threading.Thread(target=call) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(connections.requests_to(TOKEN_PATH)) == 1


def test_a_wrong_secret_after_a_right_one_fails_test_connection(simulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(simulator.url))
    right = MimecastHook()
    assert right.test_connection()[0] is True
    right.close()  # its pooled socket, not left for a later test's descriptor count
    # Same base URL and client ID, another secret: as when a user edits the form in a running api-server.
    monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", with_secret(simulator.url, "not-the-secret"))
    wrong = MimecastHook()
    ok, message = wrong.test_connection()
    wrong.close()
    assert ok is False and "authentication failed" in message
    assert "not-the-secret" not in message
