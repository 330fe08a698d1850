"""Directory sync end to end (issue 23): dag.test() runs of the import operator against the simulator, with
the group's members in it. The DAGs are in tests/dags/mimecast_sync_test_dags.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mimecast.testing.simulator import (
    GET_GROUP_MEMBERS_PATH,
    GET_IMPORT_STATUS_PATH,
    IMPORT_USERS_PATH,
    REMOVE_GROUP_MEMBER_PATH,
    Fault,
    MimecastSimulator,
)
from tests.conftest import oauth_connection
from tests.test_dags import retry_record, run, states, try_number, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

Users = list[tuple[str, str]]


@pytest.fixture(autouse=True)
def whole_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3.0-3.2 print a task's exception through rich at the console's width, wrapping the long
    messages these tests look for; a wide console keeps each whole."""
    monkeypatch.setenv("COLUMNS", "1000")


def people(prefix: str, count: int) -> Users:
    return [(f"{prefix}{n}@example.com", f"{prefix.title()} {n}") for n in range(count)]


def write(tmp_path: Path, users: Users, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_text("email,name\n" + "".join(f"{email},{name}\n" for email, name in users))
    return path


def sync_group(sim: MimecastSimulator, members: Users) -> str:
    group_id = next(g.id for g in sim.groups() if g.name == "Directory Sync")
    sim.add_group_members(group_id, members)
    return group_id


def addresses(sim: MimecastSimulator, group_id: str) -> list[str]:
    return sorted(m["emailAddress"].lower() for m in sim.group_members(group_id))


def sync(dag_id: str, path: Path, group_id: str, **conf: Any) -> Any:
    return run(f"mimecast_test_sync_{dag_id}", path=str(path), group_id=group_id, **conf)


@pytest.fixture
def deferring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MimecastSimulator]:
    """A simulator whose imports answer their first status check ``pending`` (so a deferrable wait defers)
    and which rejects the rows whose address starts with ``rejected``."""
    with MimecastSimulator(
        pending_seconds=0,
        processing_seconds=0,
        pending_checks=1,
        accept_row=lambda row: not row["email"].startswith("rejected"),
    ) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        yield sim


# -- the deletion guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "rows", "refused"),
    [
        (50, 3, True),  # an HR export cut off mid-way: 47 of 50 would go
        (1000, 880, True),  # 120 removals: more than 10 and more than 10% (100)
        (1000, 905, False),  # 95: within 10%
        (50, 40, False),  # 10: not more than 10 members
    ],
)
def test_the_guard_refuses_a_truncated_export_before_anything_is_sent(
    connections, tmp_path, capfd, members, rows, refused
):
    staff = people("staff", members)
    group_id = sync_group(connections, staff)
    dag_run = sync("clear_group", write(tmp_path, staff[:rows]), group_id)
    plan = xcom(dag_run, "sync", key="import_plan")
    assert (plan["group_members"], plan["remove"], plan["unchanged"], plan["add"]) == (
        members,
        members - rows,
        rows,
        0,
    )
    if refused:
        assert states(dag_run) == {"sync": "failed"}
        assert try_number(dag_run, "sync") == 1  # MimecastSyncGuardError is not retried
        assert IMPORT_USERS_PATH not in connections.request_counts()
        assert addresses(connections, group_id) == sorted(e for e, _ in staff)
        out = capfd.readouterr().out
        assert (
            f"MimecastSyncGuardError: This import would remove {members - rows} of the {members} members"
            in out
        )
        assert f"max_removals={members - rows} or more" in out
    else:
        assert states(dag_run) == {"sync": "success"}
        assert addresses(connections, group_id) == sorted(e for e, _ in staff[:rows])


@pytest.mark.parametrize("content", ["email,name\n", ""])
@pytest.mark.parametrize("max_removals", ["default", "1000", "1.0"])
def test_an_empty_export_never_clears_a_group(connections, tmp_path, content, max_removals):
    group_id = sync_group(connections, people("staff", 20))
    path = tmp_path / "users.csv"
    path.write_text(content)
    dag_run = sync("clear_group", path, group_id, max_removals=max_removals)
    assert states(dag_run) == {"sync": "failed"}
    assert IMPORT_USERS_PATH not in connections.request_counts()
    assert len(addresses(connections, group_id)) == 20


def test_an_approved_run_goes_through(connections, tmp_path):
    staff = people("staff", 50)
    group_id = sync_group(connections, staff)
    # The one-off approval comes from the run's conf, rendered into the template as text ("47").
    dag_run = sync("clear_group", write(tmp_path, staff[:3]), group_id, max_removals=47)
    assert states(dag_run) == {"sync": "success"}
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert addresses(connections, group_id) == sorted(e for e, _ in staff[:3])
    assert xcom(dag_run, "sync", key="import_plan")["remove"] == 47
    assert xcom(dag_run, "sync", key="not_in_group") == {"count": 0, "addresses": []}
    assert retry_record(dag_run, "sync") is None


@pytest.mark.parametrize("max_removals", ["lots", "None", "-3"])
def test_a_max_removals_that_is_no_limit_fails_naming_the_argument(
    connections, tmp_path, capfd, max_removals
):
    group_id = sync_group(connections, people("staff", 5))
    dag_run = sync("clear_group", write(tmp_path, people("staff", 5)), group_id, max_removals=max_removals)
    assert states(dag_run) == {"sync": "failed"}
    assert f"max_removals is {max_removals!r}" in capfd.readouterr().out
    assert connections.request_counts().get(IMPORT_USERS_PATH) is None


def test_the_guard_fails_naming_the_permission_when_it_cannot_read_the_group(connections, tmp_path, capfd):
    group_id = sync_group(connections, people("staff", 5))
    connections.revoke("Directories | Groups | Read")
    dag_run = sync("clear_group", write(tmp_path, people("staff", 5)), group_id)
    assert states(dag_run) == {"sync": "failed"} and try_number(dag_run, "sync") == 1
    assert IMPORT_USERS_PATH not in connections.request_counts()
    out = capfd.readouterr().out
    assert "the deletion guard (clear_group or remove_missing) must read the members of group" in out
    assert "lacks the role permission Directories | Groups | Read" in out


def test_an_import_that_needs_no_plan_goes_on_when_the_group_cannot_be_read(connections, tmp_path, capfd):
    group_id = sync_group(connections, [])
    connections.revoke("Directories | Groups | Read")
    dag_run = sync("import_only", write(tmp_path, people("staff", 2)), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert xcom(dag_run, "sync", key="import_plan") is None
    assert "Could not plan the import" in capfd.readouterr().out


# -- the plan, dry runs and skips ---------------------------------------------------------------------

GROUP = [("ada@example.com", "Ada"), ("grace@example.com", "Grace"), ("leaver@example.com", "Leaver")]
FILE = [("ADA@example.com", "Ada"), ("grace@example.com", "Grace Hopper"), ("new@example.com", "New")]


def test_a_dry_run_pushes_the_plan_and_uploads_nothing(connections, tmp_path):
    group_id = sync_group(connections, GROUP)
    dag_run = sync("dry_run", write(tmp_path, FILE), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert IMPORT_USERS_PATH not in connections.request_counts()
    plan = xcom(dag_run, "sync", key="import_plan")
    assert plan == {
        "group_id": group_id,
        "group_members": 3,
        "file_users": 3,
        "add": 1,
        "remove": 1,
        "rename": 1,
        "unchanged": 1,
        "addresses": {
            "add": ["new@example.com"],
            "remove": ["leaver@example.com"],
            "rename": ["grace@example.com"],
            "unchanged": ["ADA@example.com"],
        },
    }
    assert xcom(dag_run, "sync") == {**plan, "refused": None}
    assert addresses(connections, group_id) == sorted(e for e, _ in GROUP)


def test_a_dry_run_says_when_a_real_run_would_be_refused(connections, tmp_path):
    staff = people("staff", 50)
    group_id = sync_group(connections, staff)
    dag_run = sync("dry_run", write(tmp_path, staff[:3]), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert "would remove 47 of the 50 members" in xcom(dag_run, "sync")["refused"]
    assert IMPORT_USERS_PATH not in connections.request_counts()


def test_skip_if_unchanged_uploads_nothing_until_something_changes(connections, tmp_path, capfd):
    group_id = sync_group(connections, GROUP)
    same = [(email.upper(), name) for email, name in GROUP]  # addresses compare case-insensitively
    dag_run = sync("skip", write(tmp_path, same), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert IMPORT_USERS_PATH not in connections.request_counts()
    assert xcom(dag_run, "sync", key="import_plan")["unchanged"] == 3
    assert (
        "skip_if_unchanged=True and the import would add, remove and rename no one" in capfd.readouterr().out
    )
    changed = sync("skip", write(tmp_path, [*same, ("new@example.com", "New")]), group_id)
    assert states(changed) == {"sync": "success"}
    assert len(connections.requests_to(IMPORT_USERS_PATH)) == 1
    assert "new@example.com" in addresses(connections, group_id)


# -- not_in_group -------------------------------------------------------------------------------------

ROWS = [
    ("ada@example.com", "Ada"),
    ("rejected.one@example.com", "One"),
    ("grace@example.com", "Grace"),
    ("rejected.two@example.com", "Two"),
]


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_not_in_group_names_exactly_the_rejected_rows(deferring, tmp_path, mode):
    group_id = sync_group(deferring, [])
    dag_run = sync(f"wait_{mode}", write(tmp_path, ROWS), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert xcom(dag_run, "sync")["successfulImportedUsers"] == 2
    assert xcom(dag_run, "sync", key="not_in_group") == {
        "count": 2,
        "addresses": ["rejected.one@example.com", "rejected.two@example.com"],
    }
    statuses = deferring.requests_to(GET_IMPORT_STATUS_PATH)
    assert len(statuses) >= 2  # it saw the import unfinished first (and deferred, in deferrable mode)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_fail_on_partial_import_names_the_users_not_in_the_group(deferring, tmp_path, capfd, mode):
    group_id = sync_group(deferring, [])
    dag_run = sync(f"partial_{mode}", write(tmp_path, ROWS), group_id)
    assert states(dag_run) == {"sync": "failed"}
    assert xcom(dag_run, "sync", key="not_in_group")["count"] == 2
    assert (
        "completed with 2 of 4 users imported; failing because fail_on_partial_import=True (the import's report "
        "in the Mimecast console lists the rejected rows); not in group "
        f"'{group_id}': rejected.one@example.com, rejected.two@example.com"
    ) in capfd.readouterr().out


# -- remove_missing -----------------------------------------------------------------------------------

STAYERS = people("stays", 5)
LEAVERS = people("leaves", 4)
JOINERS = people("joins", 2)


def cut_faults(cut: str) -> list[Fault]:
    """Faults that end the first try at one step; ``removal`` loses the answer to a removal Mimecast made."""
    return {
        "none": [],
        "plan": [Fault("server_error", path=GET_GROUP_MEMBERS_PATH)],
        "upload": [Fault("rate_limit", path=IMPORT_USERS_PATH, reset_ms=10)],
        "wait": [Fault("server_error", path=GET_IMPORT_STATUS_PATH)],
        "read_after": [
            Fault("latency", path=GET_GROUP_MEMBERS_PATH),
            Fault("server_error", path=GET_GROUP_MEMBERS_PATH),
        ],
        "removal": [
            Fault("latency", path=REMOVE_GROUP_MEMBER_PATH),
            Fault("server_error", path=REMOVE_GROUP_MEMBER_PATH),
        ],
        "last_removal": [
            Fault("latency", path=REMOVE_GROUP_MEMBER_PATH, times=3),
            Fault("server_error", path=REMOVE_GROUP_MEMBER_PATH),
        ],
    }[cut]


@pytest.mark.parametrize("cut", ["none", "plan", "upload", "wait", "read_after", "removal", "last_removal"])
def test_remove_missing_converges_after_a_retry_cut_at_each_step(connections, tmp_path, cut):
    group_id = sync_group(connections, STAYERS + LEAVERS)
    connections.inject(*cut_faults(cut))
    dag_run = sync("remove_missing", write(tmp_path, STAYERS + JOINERS), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert try_number(dag_run, "sync") == (1 if cut == "none" else 2)
    # One import, never emptying the group; every leaver removed exactly once, nobody else.
    [upload] = [r for r in connections.requests_to(IMPORT_USERS_PATH) if r.response_status == 200]
    assert json.loads(upload.headers["x-mc-arg"])["data"][0]["clearGroup"] is False
    assert len(connections.import_ids()) == 1
    assert addresses(connections, group_id) == sorted(e for e, _ in STAYERS + JOINERS)
    removed = [
        json.loads(r.body)["data"][0]["emailAddress"]
        for r in connections.requests_to(REMOVE_GROUP_MEMBER_PATH)
    ]
    assert sorted(removed) == sorted(e for e, _ in LEAVERS)
    assert retry_record(dag_run, "sync") is None


def test_remove_missing_after_a_deferred_wait(deferring, tmp_path):
    group_id = sync_group(deferring, STAYERS + LEAVERS)
    dag_run = sync("remove_missing_deferrable", write(tmp_path, STAYERS + JOINERS), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert addresses(deferring, group_id) == sorted(e for e, _ in STAYERS + JOINERS)
    assert len(deferring.requests_to(REMOVE_GROUP_MEMBER_PATH)) == len(LEAVERS)
    assert xcom(dag_run, "sync", key="removed")["count"] == len(LEAVERS)


def test_remove_missing_is_guarded_too(connections, tmp_path, capfd):
    staff = people("staff", 50)
    group_id = sync_group(connections, staff)
    dag_run = sync("remove_missing", write(tmp_path, staff[:3]), group_id)
    assert states(dag_run) == {"sync": "failed"}
    assert IMPORT_USERS_PATH not in connections.request_counts()
    assert REMOVE_GROUP_MEMBER_PATH not in connections.request_counts()
    assert "would remove 47 of the 50 members" in capfd.readouterr().out


@pytest.mark.parametrize("dag_id", ["wait_deferrable", "remove_missing_deferrable"])
def test_a_file_changed_during_a_deferred_wait_is_not_trusted(monkeypatch, tmp_path, capfd, dag_id):
    # The file a resumed task reads again is no longer the one uploaded: no not_in_group from it, and
    # remove_missing removes no one.
    with MimecastSimulator(pending_seconds=0, processing_seconds=0, pending_checks=3) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(sim.url))
        group_id = sync_group(sim, STAYERS + LEAVERS)
        path = write(tmp_path, STAYERS)

        def change_the_file_once_uploaded() -> None:
            deadline = time.monotonic() + 30
            while not sim.requests_to(IMPORT_USERS_PATH) and time.monotonic() < deadline:
                time.sleep(0.01)
            write(tmp_path, STAYERS + JOINERS)

        changer = threading.Thread(target=change_the_file_once_uploaded)
        changer.start()
        dag_run = sync(dag_id, path, group_id)
        changer.join()
        assert xcom(dag_run, "sync", key="not_in_group") is None
        assert REMOVE_GROUP_MEMBER_PATH not in sim.request_counts()
        out = capfd.readouterr().out
        assert "it changed since the upload (then sha256" in out
        if dag_id == "wait_deferrable":
            assert states(dag_run) == {"sync": "success"}
        else:
            assert states(dag_run) == {"sync": "failed"}
            assert "MimecastSyncGuardError: The import completed, but remove_missing removed no one" in out


def test_remove_missing_leaves_a_whole_domain_in_the_group(connections, tmp_path):
    group_id = sync_group(connections, STAYERS + LEAVERS)
    connections.add_group_members(group_id, [{"domain": "partner.example"}])
    dag_run = sync("remove_missing", write(tmp_path, STAYERS), group_id)
    assert states(dag_run) == {"sync": "success"}
    assert xcom(dag_run, "sync", key="import_plan")["group_members"] == len(STAYERS + LEAVERS)
    assert {
        "domain": "partner.example",
        "internal": True,
        "type": "created_manually",
    } in connections.group_members(group_id)
    assert len(connections.requests_to(REMOVE_GROUP_MEMBER_PATH)) == len(LEAVERS)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_not_in_group_of_each_mapped_import_names_its_own_rejected_rows(deferring, mode):
    from tests.dags.mimecast_sync_test_dags import MAPPED_SYNC_ROWS

    dag_run = run(f"mimecast_test_sync_mapped_{mode}")
    tis = sorted(dag_run.get_task_instances(), key=lambda ti: ti.map_index)
    assert [(ti.map_index, str(getattr(ti.state, "value", ti.state))) for ti in tis] == [
        (0, "success"),
        (1, "success"),
    ]
    for ti, (group_name, rows) in zip(tis, MAPPED_SYNC_ROWS.items(), strict=True):
        rejected = [row["email"] for row in rows if row["email"].startswith("rejected")]
        assert ti.xcom_pull(task_ids="sync", key="not_in_group", map_indexes=ti.map_index) == {
            "count": len(rejected),
            "addresses": rejected,
        }
        group = next(g for g in deferring.groups() if g.name == group_name)
        landed = sorted(row["email"] for row in rows if not row["email"].startswith("rejected"))
        assert addresses(deferring, group.id) == landed
